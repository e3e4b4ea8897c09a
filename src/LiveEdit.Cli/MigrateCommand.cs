using System.CommandLine;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Storage;
using Npgsql;

namespace LiveEdit.Cli;

/// <summary>
/// <c>liveedit ledger migrate [--schema NAME] [--app-role NAME]</c>: creates or updates the ledger's schema as the
/// owner role (<c>ConnectionStrings__LedgerOwner</c>), adds the insert-only guards and grants the application role
/// what serving needs. The hosts never change the schema outside development; this is how it gets made.
/// </summary>
internal static class MigrateCommand
{
    public const string OwnerVariable = "ConnectionStrings__LedgerOwner";
    public const string AppVariable = "ConnectionStrings__Ledger";

    /// <summary>Adds <c>migrate</c> to the root's <c>ledger</c> group, creating the group when there is none yet.</summary>
    public static void AttachTo(RootCommand root)
    {
        var ledger = root.Subcommands.FirstOrDefault(c => c.Name == "ledger");
        if (ledger is null)
        {
            ledger = new Command("ledger", "Administer the ledger database (run as its owner role).");
            root.Subcommands.Add(ledger);
        }
        ledger.Subcommands.Add(Create());
    }

    /// <summary>The <c>migrate</c> command.</summary>
    public static Command Create()
    {
        var schema = new Option<string?>("--schema") { Description = "The ledger's schema (default: Ledger__Schema, else 'ledger')." };
        var appRole = new Option<string?>("--app-role") { Description = $"The role the hosts connect as (default: the user of {AppVariable})." };
        var command = new Command("migrate", $"Create or update the ledger's schema as the owner role ({OwnerVariable}) and grant the application role append and read only.")
        {
            schema, appRole,
        };
        command.SetAction(async (parse, ct) =>
        {
            try
            {
                var owner = Environment.GetEnvironmentVariable(OwnerVariable);
                if (string.IsNullOrWhiteSpace(owner))
                    return Fail($"{OwnerVariable} is not set: give the owner role's connection string (on this machine: eval \"$(infra/services env)\")");
                var name = parse.GetValue(schema)
                           ?? (Environment.GetEnvironmentVariable("Ledger__Schema") is { Length: > 0 } s ? s : LedgerStore.DefaultSchema);
                var role = parse.GetValue(appRole);
                if (role is null)
                {
                    var app = Environment.GetEnvironmentVariable(AppVariable);
                    if (string.IsNullOrWhiteSpace(app)) return Fail($"name the application role with --app-role, or set {AppVariable}");
                    role = LedgerSchema.UserOf(app);
                }
                await MigrateAsync(owner, name, role, ct);
                Console.WriteLine($"ledger schema '{name}' is up to date; role {role} may append and read, not rewrite");
                return 0;
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or NpgsqlException)
            {
                return Fail(e is PostgresException p ? p.MessageText : e.Message);
            }
        });
        return command;
    }

    /// <summary>Migrates <paramref name="schema"/> connected as the owner; refuses an application role that is the owner.</summary>
    public static async Task MigrateAsync(string ownerConnection, string schema, string appRole, CancellationToken ct)
    {
        LedgerSchema.RequireIdentifier(schema, "schema");
        LedgerSchema.RequireIdentifier(appRole, "application role");
        if (appRole == LedgerSchema.UserOf(ownerConnection))
            throw new InvalidOperationException($"the application role must not be the owner ({appRole}): the hosts would be able to change the schema and switch the guards off");
        await using var store = LedgerStore.Create(ownerConnection, schema);
        await new EditLedger(store).MigrateAsync(appRole, ct);
    }

    private static int Fail(string message)
    {
        Console.Error.WriteLine($"liveedit ledger migrate: {message}");
        return 1;
    }
}
