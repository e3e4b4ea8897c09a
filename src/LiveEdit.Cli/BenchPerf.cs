using System.CommandLine;
using LiveEdit.Bench.Perf;
using LiveEdit.Bench.Replay;
using Spectre.Console;

namespace LiveEdit.Cli;

/// <summary>
/// <c>liveedit bench perf</c>: the performance figures (expert generation, propose→active, query latency, past-version rebuild), each with machine and date. The work is
/// <see cref="PerfBench"/>'s (tested end to end); this is the wiring: options, the embedded system per transport
/// (services up, a fresh ledger schema), perf.json and perf.md, the console.
/// </summary>
internal static class BenchPerf
{
    public static Command Create()
    {
        var edits = new Option<int>("--edits") { Description = "Edits replayed per transport (propose→active) and timed for generation.", DefaultValueFactory = _ => 50 };
        var transports = new Option<string>("--transports") { Description = "Transports to measure: InMemory, RabbitMq.", DefaultValueFactory = _ => "InMemory,RabbitMq" };
        var latency = new Option<string>("--latency") { Description = "Active-expert counts for query latency (experts made in batches without refinement: 100000 takes a few minutes).", DefaultValueFactory = _ => "0,1000,10000" };
        var queries = new Option<int>("--queries") { Description = "Timed queries per latency point and per rebuild.", DefaultValueFactory = _ => 100 };
        var seed = new Option<int>("--seed") { Description = "SynthWorld seed of the edits.", DefaultValueFactory = _ => 1 };
        var output = new Option<string>("--out") { Description = "Folder for perf.json and perf.md.", DefaultValueFactory = _ => "runs/bench-perf" };
        var schema = new Option<string?>("--schema") { Description = BenchRun.SchemaDescription + " RabbitMq runs in <schema>_rabbitmq; fresh ones are dropped at the end." };
        var command = new Command("perf", "Expert generation, propose→active latency per transport, query latency by active experts, past-version rebuild; with machine and date.")
        {
            edits, transports, latency, queries, seed, output, schema,
        };
        command.SetAction(async (parse, ct) =>
        {
            try
            {
                var settings = PerfSettings.Parse(parse.GetValue(edits), parse.GetValue(transports)!, parse.GetValue(latency)!, parse.GetValue(queries), parse.GetValue(seed));
                await RunAsync(settings, parse.GetValue(output)!, parse.GetValue(schema), ct);
                return 0;
            }
            catch (Exception e) when (e is ArgumentException or IOException or FormatException or ReplayException or InvalidOperationException or Npgsql.NpgsqlException)
            {
                Console.Error.WriteLine($"liveedit bench perf: {e.Message}");
                return 2;
            }
        });
        return command;
    }

    private static async Task RunAsync(PerfSettings settings, string outputFolder, string? schema, CancellationToken ct)
    {
        var bench = new PerfBench(settings, (transport, token) => StartAsync(transport, schema, token)) { Log = line => AnsiConsole.WriteLine(line) };
        var report = await bench.RunAsync(ct);
        report.WriteTo(outputFolder);
        Console.WriteLine();
        Console.Write(PerfMarkdown.Render(report));
        AnsiConsole.WriteLine($"written to {Path.GetFullPath(outputFolder)}");
    }

    /// <summary>The embedded system on a schema of its own per transport (the named one, or a fresh one dropped at the end).</summary>
    private static async Task<PerfSystem> StartAsync(string transport, string? schema, CancellationToken ct)
    {
        var rabbit = transport == "RabbitMq";
        var extra = new Dictionary<string, string> { ["Transport:Kind"] = transport };
        if (rabbit)
        {
            EmbeddedSystem.ServicesUp();
            extra["ConnectionStrings:RabbitMq"] = Environment.GetEnvironmentVariable("ConnectionStrings__RabbitMq")!;
            extra["Transport:QueuePrefix"] = "bench-perf-";
        }
        var named = schema is { Length: > 0 } ? schema : Environment.GetEnvironmentVariable(LiveEdit.Bench.BenchSchema.ConfigurationVariable);
        if (rabbit && named is { Length: > 0 }) named += "_rabbitmq";
        var system = await EmbeddedSystem.StartAsync(rabbit ? "bench_perf_rabbitmq" : "bench_perf", "AutoApprove", ct, extra, named, dropWhenDone: true, log: Console.Out);
        return new PerfSystem(system.Address, system.App.Services, system);
    }
}
