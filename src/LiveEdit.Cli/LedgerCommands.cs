using System.CommandLine;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Errors;
using Microsoft.Extensions.Configuration;
using Spectre.Console;

namespace LiveEdit.Cli;

/// <summary>
/// <c>liveedit ledger …</c>: commands for the database owner that work on the ledger directly (not through a host),
/// with <c>ConnectionStrings__Ledger</c>, <c>Ledger__Schema</c> and the chain key (<c>Ledger__ChainKeyFile</c> or
/// <c>Ledger__ChainKey</c>) from the environment. Add a subcommand with <c>group.Subcommands.Add(…)</c>.
/// </summary>
internal static class LedgerCommands
{
    /// <summary>The <c>ledger</c> command group.</summary>
    public static Command Create()
    {
        var group = new Command("ledger", "The ledger database: migrate, acknowledge an incident, sign checkpoints.");
        group.Subcommands.Add(CreateAcknowledge());
        group.Subcommands.Add(CreateUpgradeChain());
        return group;
    }

    private static Command CreateUpgradeChain()
    {
        var schema = SchemaOption();
        var command = new Command("upgrade-chain",
            "Once, after upgrading a ledger chained by an earlier release: check its unsigned chain, then re-chain it with MACs under the chain key (as the table owner).")
        {
            schema,
        };
        command.SetAction(async (parse, ct) =>
        {
            try
            {
                await using var store = OpenStore(parse.GetValue(schema));
                var ledger = new EditLedger(store, new LedgerOptions { ChainKey = ChainKeyFromEnvironment() });
                await ledger.EnsureSchemaAsync(ct);
                var count = await ledger.UpgradeUnsignedChainAsync(ct);
                Console.WriteLine(count == 0 ? "the chain is already signed; nothing to upgrade" : $"re-chained {count} events with MACs; the unsigned chain verified first");
                return 0;
            }
            catch (Exception e) when (e is LedgerException or InvalidOperationException or Npgsql.PostgresException)
            {
                Console.Error.WriteLine($"liveedit ledger upgrade-chain: {e.Message}");
                return 1;
            }
        });
        return command;
    }

    private static Command CreateAcknowledge()
    {
        var sequence = new Argument<long>("sequence") { Description = "The global sequence of the foreign, changed or deleted row (as named by the refusal or by verify)." };
        var reason = new Option<string>("--reason") { Description = "Why the row is there: recorded in the chain for ever.", Required = true };
        var by = new Option<string>("--by") { Description = "Who acknowledges (default: the OS user).", DefaultValueFactory = _ => Environment.UserName };
        var schema = SchemaOption();
        var command = new Command("acknowledge",
            "Record a row the ledger did not write (or one changed or deleted behind its back) as a chained incident, so appends resume. The row stays, marked, for ever.")
        {
            sequence, reason, by, schema,
        };
        command.SetAction(async (parse, ct) =>
        {
            try
            {
                await using var store = OpenStore(parse.GetValue(schema));
                var ledger = new EditLedger(store, new LedgerOptions { ChainKey = ChainKeyFromEnvironment() });
                var ack = await ledger.AcknowledgeIncidentAsync(parse.GetValue(sequence), parse.GetValue(reason)!, parse.GetValue(by)!, ct);
                AnsiConsole.MarkupLineInterpolated(
                    $"acknowledged the {ack.Event.Kind} row at {ack.Event.Sequence} as ledger version {ack.Version} (by {ack.Event.AcknowledgedBy}); appends are accepted again");
                return 0;
            }
            catch (Exception e) when (e is LedgerException or InvalidOperationException)
            {
                Console.Error.WriteLine($"liveedit ledger acknowledge: {e.Message}");
                return 1;
            }
        });
        return command;
    }

    /// <summary>The <c>--schema</c> option every ledger command takes (default: <c>Ledger__Schema</c>, else <c>ledger</c>).</summary>
    public static Option<string> SchemaOption() => new("--schema")
    {
        Description = "Ledger schema (default: Ledger__Schema, else 'ledger').",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("Ledger__Schema") is { Length: > 0 } s ? s : LedgerStore.DefaultSchema,
    };

    /// <summary>A Marten store on <c>ConnectionStrings__Ledger</c>.</summary>
    /// <exception cref="InvalidOperationException">The connection string is not set.</exception>
    public static Marten.DocumentStore OpenStore(string? schema)
    {
        var connection = Environment.GetEnvironmentVariable("ConnectionStrings__Ledger");
        if (string.IsNullOrWhiteSpace(connection))
            throw new InvalidOperationException("ConnectionStrings__Ledger is not set; run: eval \"$(infra/services env)\"");
        return LedgerStore.Create(connection, string.IsNullOrWhiteSpace(schema) ? LedgerStore.DefaultSchema : schema);
    }

    /// <summary>
    /// The chain key from <c>Ledger__ChainKey</c> or <c>Ledger__ChainKeyFile</c>; without either, the public development
    /// key with a warning when <c>DOTNET_ENVIRONMENT=Development</c>, else <see cref="InvalidOperationException"/>.
    /// </summary>
    public static byte[] ChainKeyFromEnvironment()
    {
        var configuration = new ConfigurationBuilder().AddEnvironmentVariables().Build();
        var development = string.Equals(Environment.GetEnvironmentVariable("DOTNET_ENVIRONMENT"), "Development", StringComparison.OrdinalIgnoreCase);
        return LedgerChainKey.FromConfiguration(configuration, development, warning => Console.Error.WriteLine("warning: " + warning));
    }
}
