using System.CommandLine;
using System.Globalization;
using LiveEdit.Inference.Auth.People;
using Npgsql;
using Spectre.Console;

namespace LiveEdit.Cli;

/// <summary>
/// <c>liveedit users add|list|disable|enable|set-password</c>: people's accounts, managed on the ledger database directly as
/// the owner role (<c>ConnectionStrings__LedgerOwner</c>; the hosts' application role may only read them and count failures).
/// Passwords are read from standard input (<c>--password-stdin</c>), never from the command line.
/// </summary>
internal static class UsersCommands
{
    public static Command Create()
    {
        var users = new Command("users", "People's accounts (sign-in and electronic signatures); API keys stay for machines. Run as the ledger's owner role.");
        users.Subcommands.Add(Add());
        users.Subcommands.Add(List());
        users.Subcommands.Add(SetDisabled("disable", "Disable an account: it can no longer sign in or sign.", true));
        users.Subcommands.Add(SetDisabled("enable", "Enable an account again and clear its lockout.", false));
        users.Subcommands.Add(SetPassword());
        return users;
    }

    private static Option<string> UserOption() => new("--user") { Description = "The user name (unique without regard to case).", Required = true };

    private static Option<bool> PasswordStdinOption() => new("--password-stdin") { Description = "Read the password from standard input (one line)." };

    private static Command Add()
    {
        var user = UserOption();
        var name = new Option<string>("--name") { Description = "The display name, printed with every signature.", Required = true };
        var roles = new Option<string[]>("--role") { Description = "A role: proposer, approver, auditor, admin (repeatable).", Required = true, AllowMultipleArgumentsPerToken = false };
        var stdin = PasswordStdinOption();
        var schema = LedgerCommands.SchemaOption();
        var command = new Command("add", "Add a person (the password from standard input with --password-stdin; at least 12 characters).") { user, name, roles, stdin, schema };
        command.SetAction((parse, ct) => RunAsync("add", async () =>
        {
            var password = ReadPassword(parse.GetValue(stdin));
            var account = await Store(parse.GetValue(schema)).AddAsync(parse.GetValue(user)!, parse.GetValue(name)!, parse.GetValue(roles) ?? [], password, ct);
            AnsiConsole.MarkupLineInterpolated($"added {account.UserName} ({account.DisplayName}) with roles {string.Join(", ", account.Roles)}");
        }));
        return command;
    }

    private static Command List()
    {
        var schema = LedgerCommands.SchemaOption();
        var command = new Command("list", "Every account: roles, whether disabled or locked, failures, when created and changed.") { schema };
        command.SetAction((parse, ct) => RunAsync("list", async () =>
        {
            var accounts = await Store(parse.GetValue(schema)).ListAsync(ct);
            if (accounts.Count == 0)
            {
                Console.WriteLine("no accounts; add one with `liveedit users add --user NAME --name \"Display\" --role approver --password-stdin`");
                return;
            }
            var now = DateTimeOffset.UtcNow;
            var table = new Table().AddColumns("user", "name", "roles", "state", "failures", "created", "changed");
            foreach (var a in accounts)
            {
                var state = a.Disabled ? "disabled" : a.IsLockedAt(now) ? $"locked until {Time(a.LockedUntil!.Value)}" : "enabled";
                table.AddRow(Markup.Escape(a.UserName), Markup.Escape(a.DisplayName), Markup.Escape(string.Join(", ", a.Roles)), state,
                    a.FailedAttempts.ToString(CultureInfo.InvariantCulture), Time(a.CreatedAt), Time(a.ChangedAt));
            }
            AnsiConsole.Write(table);
        }));
        return command;
    }

    private static Command SetDisabled(string verb, string description, bool disabled)
    {
        var user = UserOption();
        var schema = LedgerCommands.SchemaOption();
        var command = new Command(verb, description) { user, schema };
        command.SetAction((parse, ct) => RunAsync(verb, async () =>
        {
            var name = parse.GetValue(user)!;
            if (!await Store(parse.GetValue(schema)).SetDisabledAsync(name, disabled, ct)) throw new PersonInputException("user", $"no account '{name}'.");
            Console.WriteLine($"{(disabled ? "disabled" : "enabled")} {name}");
        }));
        return command;
    }

    private static Command SetPassword()
    {
        var user = UserOption();
        var stdin = PasswordStdinOption();
        var schema = LedgerCommands.SchemaOption();
        var command = new Command("set-password", "Set a person's password (from standard input with --password-stdin) and clear a lockout.") { user, stdin, schema };
        command.SetAction((parse, ct) => RunAsync("set-password", async () =>
        {
            var name = parse.GetValue(user)!;
            var password = ReadPassword(parse.GetValue(stdin));
            if (!await Store(parse.GetValue(schema)).SetPasswordAsync(name, password, ct)) throw new PersonInputException("user", $"no account '{name}'.");
            Console.WriteLine($"set the password of {name}");
        }));
        return command;
    }

    private static string ReadPassword(bool fromStdin)
    {
        if (!fromStdin)
            throw new PersonInputException("password", "give it on standard input with --password-stdin (e.g. `printf '%s' \"$PASSWORD\" | liveedit users add … --password-stdin`); it is never taken from the command line.");
        var line = Console.In.ReadLine() ?? "";
        return PersonRules.Password(line.TrimEnd('\r', '\n'));
    }

    private static PeopleStore Store(string? schema)
    {
        var owner = Environment.GetEnvironmentVariable(MigrateCommand.OwnerVariable);
        if (string.IsNullOrWhiteSpace(owner))
            throw new InvalidOperationException($"{MigrateCommand.OwnerVariable} is not set: accounts are managed as the ledger's owner role (on this machine: eval \"$(infra/services env)\")");
        return PeopleStore.Open(owner, string.IsNullOrWhiteSpace(schema) ? LiveEdit.Ledger.LedgerStore.DefaultSchema : schema);
    }

    private static string Time(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private static async Task<int> RunAsync(string verb, Func<Task> work)
    {
        try
        {
            await work();
            return 0;
        }
        catch (PersonInputException e)
        {
            Console.Error.WriteLine($"liveedit users {verb}: {e.Message}");
            return CliErrors.Expected;
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.UndefinedTable or PostgresErrorCodes.InvalidSchemaName)
        {
            Console.Error.WriteLine($"liveedit users {verb}: the ledger schema has no accounts table yet; create or update it with `liveedit ledger migrate` first");
            return CliErrors.Expected;
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.InsufficientPrivilege)
        {
            Console.Error.WriteLine($"liveedit users {verb}: {e.MessageText}; accounts are managed as the owner role ({MigrateCommand.OwnerVariable})");
            return CliErrors.Expected;
        }
    }
}
