using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using LiveEdit.Bench.Streams;
using LiveEdit.Hosting.Serving;
using LiveEdit.Ledger;
using LiveEdit.Model.Editor;
using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;

namespace LiveEdit.Cli;

/// <summary>
/// <c>liveedit bench run</c>: replays a stream through the real system — every edit proposed over the HTTP API,
/// its expert made by a worker over the configured transport, activation recorded in the ledger — one edit at a
/// time so activation order is stream order; then evaluates the lifelong protocol at checkpoints from the
/// ledger's active set as of each checkpoint's version (experts read back from the blob store). The result files
/// hold no times or random ids: the same stream on a fresh ledger gives the same bytes.
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
        var command = new Command("run", "Replay a stream through the ledger and workers; evaluate as of each checkpoint's version.") { stream, output, checkpoints, transport, maxEval };
        command.SetAction(async (parse, ct) =>
        {
            try
            {
                var points = parse.GetValue(checkpoints)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                    .Select(p => int.Parse(p, CultureInfo.InvariantCulture)).Where(p => p > 0).Distinct().Order().ToList();
                await RunAsync(BenchStream.Read(parse.GetValue(stream)!), parse.GetValue(output)!, points, parse.GetValue(transport)!, parse.GetValue(maxEval), ct);
                return 0;
            }
            catch (Exception e) when (e is StreamFormatException or IOException or FormatException or HostCallException)
            {
                Console.Error.WriteLine($"liveedit bench run: {e.Message}");
                return 2;
            }
        });
        return command;
    }

    private static async Task RunAsync(BenchStream stream, string outputFolder, IReadOnlyList<int> checkpoints, string transport, int maxEval, CancellationToken ct)
    {
        if (Directory.Exists(outputFolder) && Directory.EnumerateFileSystemEntries(outputFolder).Any())
            throw new IOException($"{outputFolder} is not empty; choose a new folder for the results");
        var extra = new Dictionary<string, string> { ["Transport:Kind"] = transport };
        if (transport.Equals("RabbitMq", StringComparison.OrdinalIgnoreCase))
        {
            EmbeddedSystem.ServicesUp();
            extra["ConnectionStrings:RabbitMq"] = Environment.GetEnvironmentVariable("ConnectionStrings__RabbitMq")!;
            extra["Transport:QueuePrefix"] = "bench-run-";
        }
        await using var system = await EmbeddedSystem.StartAsync("bench_run", "AutoApprove", ct, extra);
        using var proposer = system.Client("dev-proposer-key");
        using var auditor = system.Client("dev-auditor-key");

        // Replay: one edit at a time; an edit of a fact already edited supersedes the earlier one.
        var versions = new long[stream.Cases.Count];
        var caseOf = new Dictionary<Guid, int>();
        var latest = new Dictionary<(string?, string?), Guid>();
        var latencies = new List<double>();
        var clock = Stopwatch.StartNew();
        await AnsiConsole.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .StartAsync(async progress =>
            {
                var task = progress.AddTask($"replaying {stream.Manifest.Name}", maxValue: stream.Cases.Count);
                for (var i = 0; i < stream.Cases.Count; i++)
                {
                    var c = stream.Cases[i];
                    var fact = (StreamSamples.TagValue(c, "entity"), StreamSamples.TagValue(c, "attribute"));
                    Guid? supersedes = fact.Item1 is not null && latest.TryGetValue(fact, out var older) ? older : null;
                    var watch = Stopwatch.StartNew();
                    var proposed = await proposer.ProposeAsync(stream.ImagePath(c.Edit.Image), c.Edit.Prompt, c.Edit.Target, $"bench {stream.Manifest.Name} {c.Id}", c.Tags, supersedes, ct);
                    var id = proposed["editId"]!.GetValue<Guid>();
                    var active = await auditor.WaitForStatusAsync(id, TimeSpan.FromMinutes(2), ct, "active");
                    latencies.Add(watch.Elapsed.TotalMilliseconds);
                    versions[i] = active["edit"]!["activatedAtVersion"]!.GetValue<long>();
                    caseOf[id] = i;
                    if (fact.Item1 is not null) latest[fact] = id;
                    task.Increment(1);
                }
            });
        var replaySeconds = clock.Elapsed.TotalSeconds;

        // Evaluation as of each checkpoint's version.
        var runtime = system.App.Services.GetRequiredService<ModelRuntime>();
        var ledger = system.App.Services.GetRequiredService<EditLedger>();
        var samples = StreamSamples.From(stream);
        var evaluation = new EditorEvaluation(runtime.Model, runtime.Editor, samples);
        var rows = new List<EditMetrics>();
        var experts = new Dictionary<string, Expert>(StringComparer.Ordinal);
        foreach (var k in checkpoints.Where(k => k <= stream.Cases.Count))
        {
            var set = await ledger.GetActiveExpertsAsync(versions[k - 1], ct);
            foreach (var a in set.Experts)
            {
                if (!experts.ContainsKey(a.ExpertSha256)) experts[a.ExpertSha256] = Expert.FromBytes(await ledger.Blobs.GetAsync(a.ExpertSha256, ct));
            }
            var metrics = await runtime.RunAsync(() =>
            {
                using var edited = new EditedModel(runtime.Model, runtime.Editor);
                var active = new List<int>();
                foreach (var a in set.Experts)
                {
                    var i = caseOf[a.EditId];
                    edited.Add(EditorEvaluation.ExpertId(samples[i]), experts[a.ExpertSha256], i);
                    active.Add(i);
                }
                active.Sort();
                var measured = active.Count <= maxEval ? active : Enumerable.Range(0, maxEval).Select(j => active[(int)((long)j * active.Count / maxEval)]).ToList();
                return evaluation.Measure(edited, measured, $"lifelong@{k} (ledger v{versions[k - 1]})") with { Edits = k };
            }, ct);
            AnsiConsole.WriteLine(EditorEvaluation.Describe(metrics));
            rows.Add(metrics);
        }

        Directory.CreateDirectory(outputFolder);
        var utf8 = new UTF8Encoding(false);
        File.WriteAllText(Path.Combine(outputFolder, "metrics.md"), EditorEvaluation.Markdown(rows), utf8);
        File.WriteAllText(Path.Combine(outputFolder, "metrics.json"), EditorEvaluation.Json(rows, null), utf8);
        var hashes = new StringBuilder("case\texpert_sha256\tactivated_at_version\n");
        var summaries = await ledger.ListEditsAsync(null, 0, 10_000, ct);
        var shaOf = summaries.ToDictionary(s => s.Id, s => s.ExpertSha256);
        foreach (var (id, i) in caseOf.OrderBy(p => p.Value))
            hashes.Append(stream.Cases[i].Id).Append('\t').Append(shaOf.GetValueOrDefault(id)).Append('\t').Append(versions[i]).Append('\n');
        File.WriteAllText(Path.Combine(outputFolder, "experts.tsv"), hashes.ToString(), utf8);
        File.WriteAllText(Path.Combine(outputFolder, "run.json"), JsonSerializer.Serialize(new
        {
            stream = stream.Manifest.Name,
            cases = stream.Cases.Count,
            checkpoints,
            transport,
            baseModelSha256 = runtime.Model.WeightsSha256,
            generatorSha256 = runtime.Editor.GeneratorSha256,
            threads = runtime.Threads,
        }, new JsonSerializerOptions { WriteIndented = true }) + "\n", utf8);

        latencies.Sort();
        AnsiConsole.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"replayed {stream.Cases.Count} edits in {replaySeconds:F1} s over {transport}; propose→active p50 {latencies[latencies.Count / 2]:F0} ms, p99 {latencies[Math.Min(latencies.Count - 1, (int)(latencies.Count * 0.99))]:F0} ms; results in {Path.GetFullPath(outputFolder)}"));
    }
}
