using System.CommandLine;
using LiveEdit.Inference;
using LiveEdit.Workers;

namespace LiveEdit.Cli;

/// <summary><c>liveedit serve</c> and <c>liveedit worker</c>: the two hosts, run from the command line.</summary>
internal static class HostCommands
{
    public static Command CreateServe()
    {
        var urls = new Option<string>("--urls") { Description = "Where to listen (loopback by default).", DefaultValueFactory = _ => HostClient.DefaultUrl };
        var development = new Option<bool>("--development")
        {
            Description = "A development run on this machine: with no keys configured, the development keys (dev-proposer-key, …) are accepted.",
        };
        var command = new Command("serve", "Run the inference host (HTTP API; workers in-process unless Workers__InProcess=false).") { urls, development };
        command.SetAction(async (parse, ct) => await RunGuardedAsync("serve", async () =>
        {
            await UseLocalServicesUnlessConfiguredAsync("serve", migrate: true, ct);
            string[] args = parse.GetValue(development) ? ["--urls", parse.GetValue(urls)!, "--environment", "Development"] : ["--urls", parse.GetValue(urls)!];
            await InferenceApp.RunAsync(InferenceApp.Build(args), ct);
        }));
        return command;
    }

    public static Command CreateWorker()
    {
        var command = new Command("worker", "Run an expert worker (RabbitMQ transport by default; settings from the environment).");
        command.SetAction(async (parse, ct) => await RunGuardedAsync("worker", async () =>
        {
            await UseLocalServicesUnlessConfiguredAsync("worker", migrate: false, ct);
            var host = WorkerApp.Build([]);
            await WorkerApp.RunAsync(host, ct);
        }));
        return command;
    }

    /// <summary>
    /// With no ledger configured in the environment, takes this machine's services (infra/services env: the
    /// application role, schema 'ledger') and, for <c>serve</c>, migrates that schema as the owner first, so
    /// <c>./liveedit serve</c> runs as a deployment does. A configured environment is used as it is.
    /// </summary>
    private static async Task UseLocalServicesUnlessConfiguredAsync(string name, bool migrate, CancellationToken ct)
    {
        if (!string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable(MigrateCommand.AppVariable))) return;
        EmbeddedSystem.TakeServicesSettings("env");
        var schema = Environment.GetEnvironmentVariable("Ledger__Schema") is { Length: > 0 } s ? s : LiveEdit.Ledger.LedgerStore.DefaultSchema;
        Environment.SetEnvironmentVariable("Ledger__Schema", schema);
        Console.Error.WriteLine($"liveedit {name}: using this machine's services (infra/services env), ledger schema '{schema}'");
        if (migrate)
            await MigrateCommand.MigrateAsync(Environment.GetEnvironmentVariable(MigrateCommand.OwnerVariable)!, schema,
                LiveEdit.Ledger.Storage.LedgerSchema.UserOf(Environment.GetEnvironmentVariable(MigrateCommand.AppVariable)!), ct);
    }

    private static async Task<int> RunGuardedAsync(string name, Func<Task> run)
    {
        try
        {
            await run();
            return 0;
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or Npgsql.NpgsqlException)
        {
            Console.Error.WriteLine($"liveedit {name}: {(e is Npgsql.PostgresException p ? p.MessageText : e.Message)}");
            return 1;
        }
    }
}
