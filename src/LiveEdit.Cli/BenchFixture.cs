using System.CommandLine;
using System.Globalization;
using LiveEdit.Bench;
using LiveEdit.Bench.Fixtures;
using LiveEdit.Hosting.Serving;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Storage;
using Spectre.Console;

namespace LiveEdit.Cli;

/// <summary>
/// <c>liveedit bench fixture --experts N --schema S</c>: a ledger with N active experts, built fast and kept for
/// measurements at scale (<see cref="LedgerFixture"/>); served afterwards with <c>Ledger__Schema=S</c>.
/// </summary>
internal static class BenchFixture
{
    public static Command Create()
    {
        var experts = new Option<int>("--experts") { Description = "Active experts to append.", DefaultValueFactory = _ => 10_000 };
        var schema = new Option<string?>("--schema") { Description = BenchRun.SchemaDescription };
        var seed = new Option<int>("--seed") { Description = "Seed of the edits (same seed, same edits, ids and expert bytes).", DefaultValueFactory = _ => 1 };
        var batch = new Option<int>("--batch") { Description = "Edits per forward pass.", DefaultValueFactory = _ => 64 };
        var writers = new Option<int>("--writers") { Description = "Concurrent bulk appenders (1: the appends' order is deterministic too).", DefaultValueFactory = _ => 1 };
        var threads = new Option<int>("--threads") { Description = "Intra-op threads for generation.", DefaultValueFactory = _ => Math.Max(1, Environment.ProcessorCount) };
        var command = new Command("fixture", "Build a ledger with N active experts fast (batched one-shot experts without refinement, real chained lifecycles appended in bulk), kept for `serve` and measurements.")
        {
            experts, schema, seed, batch, writers, threads,
        };
        command.SetAction(async (parse, ct) =>
        {
            try
            {
                await RunAsync(Math.Clamp(parse.GetValue(experts), 1, 1_000_000), parse.GetValue(schema), parse.GetValue(seed), Math.Clamp(parse.GetValue(batch), 1, 512),
                    Math.Clamp(parse.GetValue(writers), 1, 64), Math.Clamp(parse.GetValue(threads), 1, 256), ct);
                return 0;
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or IOException or Npgsql.NpgsqlException)
            {
                Console.Error.WriteLine($"liveedit bench fixture: {e.Message}");
                return 2;
            }
        });
        return command;
    }

    private static async Task RunAsync(int experts, string? schema, int seed, int batch, int writers, int threads, CancellationToken ct)
    {
        var (name, origin) = BenchSchema.Choose(schema, "bench_fixture");
        EmbeddedSystem.ServicesUp();
        var app = Environment.GetEnvironmentVariable(MigrateCommand.AppVariable)!;
        var owner = Environment.GetEnvironmentVariable(MigrateCommand.OwnerVariable)
                    ?? throw new InvalidOperationException($"infra/services up printed no {MigrateCommand.OwnerVariable}");
        await BenchSchema.PrepareAsync(owner, name, origin, "liveedit bench fixture", Console.Out, ct);
        await MigrateCommand.MigrateAsync(owner, name, LedgerSchema.UserOf(app), ct);

        using var runtime = ModelRuntime.Load(new ModelSettings { Threads = threads }.ResolvedAgainst(ContentRoot.Find()));
        // Appended as a host would: the application role, the configured chain key, edits approved by the policy.
        await using var store = LedgerStore.Create(app, name);
        var ledger = new EditLedger(store, new LedgerOptions { Policy = ApprovalPolicy.AutoApprove, ChainKey = LedgerCommands.ChainKeyFromEnvironment() });
        AnsiConsole.WriteLine($"bench fixture: {experts} experts into schema {name} ({BenchSchema.Describe(origin)}), seed {seed}, batch {batch}, {writers} writers, {threads} threads");
        var result = await LedgerFixture.BuildAsync(ledger, runtime.Model, runtime.Editor, experts, seed, batch, writers, Console.Out, ct);
        AnsiConsole.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{result.ActiveAtHead} experts active at v{result.HeadVersion} in {result.TotalSeconds:F1} s ({result.ExpertsPerSecond:F0}/s; generation {result.GenerateSeconds:F1} s); serve it with Ledger__Schema={name}"));
    }
}
