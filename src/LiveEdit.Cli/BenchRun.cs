using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using LiveEdit.Bench;
using LiveEdit.Bench.Replay;
using LiveEdit.Hosting.Experts;
using LiveEdit.Bench.Streams;
using LiveEdit.Hosting.Serving;
using LiveEdit.Ledger;
using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;

namespace LiveEdit.Cli;

/// <summary>
/// <c>liveedit bench run</c>: replays a stream through the real system — every edit proposed over the HTTP API,
/// its expert made by a worker over the configured transport, activation recorded in the ledger — one edit at a
/// time so activation order is stream order; then evaluates the lifelong protocol at checkpoints from the
/// ledger's active set as of each checkpoint's version (experts read back from the blob store). The result files
/// hold no times or random ids: the same stream on a fresh ledger gives the same bytes. The work is
/// <see cref="StreamReplay"/>'s (tested end to end); this is the wiring: services, embedded system, progress bar.
/// </summary>
internal static class BenchRun
{
    public static Command Create()
    {
        var stream = new Option<string>("--stream") { Description = "Stream folder (bench make / bench import).", Required = true };
        var output = new Option<string>("--out") { Description = "Folder for the result files.", Required = true };
        var checkpoints = new Option<string>("--checkpoints") { Description = "Edit counts to evaluate at.", DefaultValueFactory = _ => "1,10,100,1000,10000" };
        var transport = new Option<string>("--transport") { Description = "InMemory or RabbitMq.", DefaultValueFactory = _ => "InMemory" };
        var maxEval = new Option<int>("--max-eval") { Description = "At most this many cases measured per checkpoint (evenly spaced).", DefaultValueFactory = _ => 1000 };
        var chunks = new Option<string>("--chunks") { Description = "Paper protocol chunk sizes T, with the ledger's experts (empty: skip).", DefaultValueFactory = _ => "" };
        var schema = new Option<string?>("--schema") { Description = SchemaDescription };
        var generators = new Option<int>("--generators")
        {
            Description = "Model copies generating experts ahead of the proposals, in parallel (0: the worker generates each when its edit arrives). Same bytes either way.",
            DefaultValueFactory = _ => 1,
        };
        var early = new Option<bool>("--evaluate-early")
        {
            Description = "Evaluate each checkpoint on a model copy of its own as soon as its edits are active, while the rest is proposed. Same bytes either way.",
            DefaultValueFactory = _ => true,
        };
        var command = new Command("run", "Replay a stream through the ledger and workers; evaluate as of each checkpoint's version.")
        {
            stream, output, checkpoints, transport, maxEval, chunks, schema, generators, early,
        };
        command.SetAction(async (parse, ct) =>
        {
            try
            {
                var points = parse.GetValue(checkpoints)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                    .Select(p => int.Parse(p, CultureInfo.InvariantCulture)).Where(p => p > 0).Distinct().Order().ToList();
                var sizes = parse.GetValue(chunks)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                    .Select(p => int.Parse(p, CultureInfo.InvariantCulture)).Where(p => p > 0).Distinct().Order().ToList();
                await RunAsync(BenchStream.Read(parse.GetValue(stream)!), parse.GetValue(output)!, points, sizes, parse.GetValue(transport)!, parse.GetValue(maxEval),
                    parse.GetValue(schema), Math.Clamp(parse.GetValue(generators), 0, 16), parse.GetValue(early), ct);
                return 0;
            }
            catch (Exception e) when (e is StreamFormatException or IOException or FormatException or HostCallException or ReplayException or ArgumentException or InvalidOperationException or Npgsql.NpgsqlException)
            {
                Console.Error.WriteLine($"liveedit bench run: {e.Message}");
                return 2;
            }
        });
        return command;
    }

    /// <summary>The file beside the results that holds where the run's time went (not one of the byte-identical result files).</summary>
    public const string TimingsFile = "timings.txt";

    /// <summary>What <c>--schema</c> does, for every command on the embedded system.</summary>
    public const string SchemaDescription =
        "Ledger schema (default: Ledger__Schema, else a fresh one): a new or empty one, or one a benchmark made (re-created); never anything else.";

    private static async Task RunAsync(BenchStream stream, string outputFolder, IReadOnlyList<int> checkpoints, IReadOnlyList<int> chunkSizes, string transport,
        int maxEval, string? schema, int generators, bool evaluateEarly, CancellationToken ct)
    {
        if (Directory.Exists(outputFolder) && Directory.EnumerateFileSystemEntries(outputFolder).Any())
            throw new IOException($"{outputFolder} is not empty; choose a new folder for the results");
        var wall = Stopwatch.StartNew();
        var extra = new Dictionary<string, string> { ["Transport:Kind"] = transport };
        if (transport.Equals("RabbitMq", StringComparison.OrdinalIgnoreCase))
        {
            EmbeddedSystem.ServicesUp();
            extra["ConnectionStrings:RabbitMq"] = Environment.GetEnvironmentVariable("ConnectionStrings__RabbitMq")!;
            extra["Transport:QueuePrefix"] = "bench-run-";
        }
        var pregenerated = new PregeneratedExperts();
        await using var system = await EmbeddedSystem.StartAsync("bench_run", "AutoApprove", ct, extra, schema, log: Console.Out,
            configure: b => b.Services.AddSingleton(pregenerated));
        AnsiConsole.WriteLine($"ledger schema {system.Schema.Name} ({BenchSchema.Describe(system.Schema.Origin)}); it is kept: serve it with Ledger__Schema={system.Schema.Name}");
        var replay = new StreamReplay(stream);
        var host = system.App.Services.GetRequiredService<ModelRuntime>();
        var copies = Enumerable.Range(0, generators)
            .Select(_ => ModelRuntime.Load(new ModelSettings { Threads = host.Threads }.ResolvedAgainst(ContentRoot.Find()))).ToList();
        var ledger = system.App.Services.GetRequiredService<EditLedger>();
        using var stopGenerating = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var generating = copies.Count > 0 ? replay.PregenerateAsync(copies, host, pregenerated, stopGenerating.Token, ledger.Blobs) : Task.CompletedTask;
        using var evaluator = evaluateEarly ? ModelRuntime.Load(new ModelSettings { Threads = host.Threads }.ResolvedAgainst(ContentRoot.Find())) : null;
        var early = evaluator is null ? null : new EarlyCheckpoints(replay, ledger, evaluator, host, checkpoints, maxEval, ct);

        ReplayRun run = null!;
        await AnsiConsole.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .StartAsync(async progress =>
            {
                var task = progress.AddTask($"replaying {stream.Manifest.Name}", maxValue: stream.Cases.Count);
                replay.Timings.Add(ReplayPhase.Starting, wall.Elapsed);
                run = await replay.ProposeAsync(system.Address, "dev-proposer-key", "dev-auditor-key", _ => task.Increment(1), ct: ct, early: early, worker: pregenerated);
            });
        await stopGenerating.CancelAsync();
        try { await generating; } catch (OperationCanceledException) { }
        foreach (var copy in copies) copy.Dispose();

        var evaluating = Stopwatch.StartNew();
        var results = await replay.EvaluateAsync(ledger, host, checkpoints, maxEval, transport, line => AnsiConsole.WriteLine(line), ct, chunkSizes, early, run);
        evaluating.Stop();
        results.WriteTo(outputFolder);
        // Beside the result files, never in them: times differ on every run.
        var breakdown = replay.Timings.Describe(TimeSpan.FromSeconds(run.Seconds), wall.Elapsed);
        File.WriteAllText(Path.Combine(outputFolder, TimingsFile), breakdown);
        AnsiConsole.WriteLine("where the time went:");
        AnsiConsole.WriteLine(breakdown.TrimEnd());
        AnsiConsole.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"replayed {stream.Cases.Count} edits in {run.Seconds:F1} s over {transport} ({run.WokenByWorker} seen active on the worker's notice); propose→active p50 {run.LatencyMs(0.50):F0} ms, p99 {run.LatencyMs(0.99):F0} ms; " +
            $"evaluation after the replay {evaluating.Elapsed.TotalSeconds:F1} s ({early?.Evaluated ?? 0} of {checkpoints.Count} checkpoints measured during it); results in {Path.GetFullPath(outputFolder)}"));
    }
}
