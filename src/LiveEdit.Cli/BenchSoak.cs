using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Runtime;
using System.Text;
using System.Text.Json;
using LiveEdit.Hosting.Serving;
using LiveEdit.Ledger;
using LiveEdit.Research.World;
using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;
using TorchTensor = TorchSharp.torch.Tensor;

namespace LiveEdit.Cli;

/// <summary>
/// <c>liveedit bench soak</c>: a long run of query load against the embedded system while edits keep arriving and the
/// oldest active edits are retracted, so the active set keeps its size; the process's memory is sampled all along.
/// A host that does not leak ends as it was after warming up: the report gives each figure's slope over the second half.
/// </summary>
/// <remarks>
/// The host runs in this process (the clients are a few HTTP connections), so the process's resident memory is the
/// host's. Each edit is proposed when the previous one is active and at least <c>--edit-every-ms</c> after it, so
/// edits never queue up faster than the workers make experts.
/// </remarks>
internal static class BenchSoak
{
    public static Command Create()
    {
        var minutes = new Option<double>("--minutes") { Description = "Length of the load after seeding.", DefaultValueFactory = _ => 10 };
        var clients = new Option<int>("--clients") { Description = "Concurrent query clients.", DefaultValueFactory = _ => 8 };
        var active = new Option<int>("--active") { Description = "Active experts kept during the run (seeded first).", DefaultValueFactory = _ => 300 };
        var editEvery = new Option<int>("--edit-every-ms") { Description = "Least time between two edits.", DefaultValueFactory = _ => 250 };
        var pastEvery = new Option<int>("--past-every") { Description = "Every Nth query is as of a recent past version (0: none).", DefaultValueFactory = _ => 10 };
        var sampleEvery = new Option<double>("--sample-every-s") { Description = "Seconds between two memory samples.", DefaultValueFactory = _ => 5 };
        var output = new Option<string>("--out") { Description = "Folder for soak.csv and soak.json.", DefaultValueFactory = _ => "runs/bench-soak" };
        var command = new Command("soak", "Memory under steady load: queries, edits arriving and old ones retracted (embedded system, schema bench_soak).")
        {
            minutes, clients, active, editEvery, pastEvery, sampleEvery, output,
        };
        command.SetAction(async (parse, ct) =>
        {
            var settings = new SoakSettings(
                TimeSpan.FromMinutes(Math.Clamp(parse.GetValue(minutes), 0.1, 24 * 60)),
                Math.Clamp(parse.GetValue(clients), 1, 64),
                Math.Clamp(parse.GetValue(active), 1, 100_000),
                TimeSpan.FromMilliseconds(Math.Max(10, parse.GetValue(editEvery))),
                Math.Max(0, parse.GetValue(pastEvery)),
                TimeSpan.FromSeconds(Math.Clamp(parse.GetValue(sampleEvery), 0.5, 600)));
            await RunAsync(settings, parse.GetValue(output)!, ct);
            return 0;
        });
        return command;
    }

    private sealed record SoakSettings(TimeSpan Length, int Clients, int Active, TimeSpan EditEvery, int PastEvery, TimeSpan SampleEvery);

    /// <summary>One memory sample.</summary>
    internal sealed record SoakSample(
        double Seconds, double ResidentMb, double ManagedHeapMb, double GcHeapMb, double Gen2LiveMb, double GcCommittedMb, long LiveTensors,
        int CachedExperts, int CachedPastVersions, long HeadVersion, long Queries, long Errors, int Edits, int Retractions);

    private static async Task RunAsync(SoakSettings settings, string outFolder, CancellationToken ct)
    {
        await using var system = await EmbeddedSystem.StartAsync("bench_soak", "AutoApprove", ct);
        var server = system.App.Services.GetRequiredService<EditedModelServer>();
        var ledger = system.App.Services.GetRequiredService<EditLedger>();
        var world = new SynthWorld(WorldConfig.Default);
        var probes = world.EditCases(EditSplit.EditorEval, 200, seed: 101).Select(c => (Png: c.ImageGenerality.Image!.ToPng(), c.ImageGenerality.Prompt)).ToArray();
        var cases = world.EditCases(EditSplit.EditorEval, 2_000, seed: 102);
        using var proposer = system.Client("dev-proposer-key");
        using var admin = system.Client("dev-admin-key");
        var next = 0;
        (byte[] Png, string Prompt, string Target) Case()
        {
            var c = cases[next++ % cases.Count];
            return (c.Edit.Image!.ToPng(), c.Edit.Prompt, c.NewTarget);
        }
        async Task<Guid?> ProposeAndWaitAsync(CancellationToken token)
        {
            var (png, prompt, target) = Case();
            var accepted = await proposer.ProposeAsync(png, "edit.png", prompt, target, "soak", null, null, token);
            var id = Guid.Parse(accepted["editId"]!.GetValue<string>());
            var edit = await proposer.WaitForStatusAsync(id, TimeSpan.FromMinutes(5), token, "active", "failed");
            return string.Equals(edit["edit"]?["status"]?.GetValue<string>(), "active", StringComparison.OrdinalIgnoreCase) ? id : null;
        }

        // Seed the active set: proposals go out together, the workers make the experts one after another.
        var clock = Stopwatch.StartNew();
        var ids = new List<Guid>();
        for (var i = 0; i < settings.Active; i++)
        {
            var (png, prompt, target) = Case();
            ids.Add(Guid.Parse((await proposer.ProposeAsync(png, "edit.png", prompt, target, "soak seed", null, null, ct))["editId"]!.GetValue<string>()));
        }
        var active = new Queue<Guid>();
        foreach (var id in ids)
        {
            var edit = await proposer.WaitForStatusAsync(id, TimeSpan.FromMinutes(30), ct, "active", "failed");
            if (string.Equals(edit["edit"]?["status"]?.GetValue<string>(), "active", StringComparison.OrdinalIgnoreCase)) active.Enqueue(id);
        }
        var versions = new List<long> { await ledger.GetHeadAsync(ct) };
        using (var warm = system.Client("dev-auditor-key")) await warm.QueryAsync(probes[0].Png, probes[0].Prompt, null, ct);
        AnsiConsole.WriteLine(Invariant($"seeded {active.Count} active experts in {clock.Elapsed.TotalSeconds:F0} s; GC: {(GCSettings.IsServerGC ? "server" : "workstation")}, concurrent {GCSettings.LatencyMode != GCLatencyMode.Batch}; load for {settings.Length.TotalMinutes:F1} min"));

        long queries = 0, errors = 0;
        int edits = 0, retractions = 0;
        var samples = new List<SoakSample>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        stop.CancelAfter(settings.Length);
        clock.Restart();
        SoakSample Sample() => new(clock.Elapsed.TotalSeconds, Mb(Environment.WorkingSet), Mb(GC.GetTotalMemory(false)),
            Mb(GC.GetGCMemoryInfo().HeapSizeBytes), Mb(Gen2Live()), Mb(GC.GetGCMemoryInfo().TotalCommittedBytes), TorchTensor.TotalCount,
            server.CachedExperts, server.CachedPastVersions, server.HeadVersion, Interlocked.Read(ref queries), Interlocked.Read(ref errors),
            Volatile.Read(ref edits), Volatile.Read(ref retractions));

        var sampling = Task.Run(async () =>
        {
            using var timer = new PeriodicTimer(settings.SampleEvery);
            samples.Add(Sample());
            try
            {
                while (await timer.WaitForNextTickAsync(stop.Token))
                {
                    var s = Sample();
                    lock (samples) samples.Add(s);
                    AnsiConsole.WriteLine(Invariant($"{s.Seconds,6:F0} s  rss {s.ResidentMb,7:F1} MB  gc heap {s.GcHeapMb,6:F1} MB  live after gen2 {s.Gen2LiveMb,6:F1} MB  tensors {s.LiveTensors,5}  experts {s.CachedExperts,5}  past {s.CachedPastVersions}  v{s.HeadVersion}  queries {s.Queries}  errors {s.Errors}  edits {s.Edits}"));
                }
            }
            catch (OperationCanceledException) { }
        }, CancellationToken.None);

        var editing = Task.Run(async () =>
        {
            try
            {
                while (!stop.IsCancellationRequested)
                {
                    var started = Stopwatch.StartNew();
                    if (await ProposeAndWaitAsync(stop.Token) is { } id)
                    {
                        active.Enqueue(id);
                        Interlocked.Increment(ref edits);
                    }
                    while (active.Count > settings.Active)
                    {
                        await admin.RetractAsync(active.Dequeue(), "soak: keep the active set's size", stop.Token);
                        Interlocked.Increment(ref retractions);
                    }
                    var head = await ledger.GetHeadAsync(stop.Token);
                    lock (versions) versions.Add(head);
                    var rest = settings.EditEvery - started.Elapsed;
                    if (rest > TimeSpan.Zero) await Task.Delay(rest, stop.Token);
                }
            }
            catch (OperationCanceledException) { }
        }, CancellationToken.None);

        var ticket = -1L;
        await Task.WhenAll(Enumerable.Range(0, settings.Clients).Select(c => Task.Run(async () =>
        {
            using var client = system.Client("dev-auditor-key");
            var random = new Random(c);
            while (!stop.IsCancellationRequested)
            {
                var i = Interlocked.Increment(ref ticket);
                var probe = probes[i % probes.Length];
                string? asOf = null;
                if (settings.PastEvery > 0 && i % settings.PastEvery == 0)
                    lock (versions) asOf = versions[^(1 + random.Next(Math.Min(versions.Count, 16)))].ToString(CultureInfo.InvariantCulture);
                try
                {
                    await client.QueryAsync(probe.Png, probe.Prompt, asOf, stop.Token);
                    Interlocked.Increment(ref queries);
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested) { }
                catch (HostCallException)
                {
                    Interlocked.Increment(ref errors);
                }
            }
        }, CancellationToken.None)));
        await editing;
        await sampling;
        lock (samples) samples.Add(Sample());

        var report = SoakReport.Of(samples);
        Directory.CreateDirectory(outFolder);
        await File.WriteAllTextAsync(Path.Combine(outFolder, "soak.csv"), SoakReport.Csv(samples), ct);
        await File.WriteAllTextAsync(Path.Combine(outFolder, "soak.json"), JsonSerializer.Serialize(new
        {
            settings = new
            {
                minutes = settings.Length.TotalMinutes, settings.Clients, settings.Active, editEveryMs = settings.EditEvery.TotalMilliseconds,
                settings.PastEvery, sampleEverySeconds = settings.SampleEvery.TotalSeconds, serverGc = GCSettings.IsServerGC, processors = Environment.ProcessorCount,
            },
            report,
            samples,
        }, new JsonSerializerOptions { WriteIndented = true }), ct);
        var last = samples[^1];
        AnsiConsole.WriteLine(Invariant($"{last.Queries} queries ({last.Queries / last.Seconds:F1}/s), {last.Errors} errors, {last.Edits} edits, {last.Retractions} retractions in {last.Seconds:F0} s"));
        foreach (var line in report.Lines()) AnsiConsole.WriteLine(line);
        AnsiConsole.WriteLine($"samples: {Path.Combine(outFolder, "soak.csv")}");
    }

    private static double Mb(long bytes) => bytes / (1024.0 * 1024.0);

    // What survived the last full collection (blocking or background): the live managed heap, without the garbage the
    // heap size at an arbitrary moment includes.
    private static long Gen2Live()
    {
        GCMemoryInfo blocking = GC.GetGCMemoryInfo(GCKind.FullBlocking), background = GC.GetGCMemoryInfo(GCKind.Background);
        return (blocking.Index >= background.Index ? blocking : background).PromotedBytes;
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}

/// <summary>Each figure's value after warming up (the start of the second half), at the end, and its least-squares slope per minute over the second half.</summary>
internal sealed record SoakReport(IReadOnlyList<SoakTrend> Trends)
{
    public static SoakReport Of(IReadOnlyList<BenchSoak.SoakSample> samples)
    {
        var half = samples.Where(s => s.Seconds >= samples[^1].Seconds / 2).ToList();
        SoakTrend Trend(string name, string unit, Func<BenchSoak.SoakSample, double> value) =>
            new(name, unit, value(half[0]), value(half[^1]), samples.Max(value), Slope(half, value));
        return new SoakReport(
        [
            Trend("resident memory", "MB", s => s.ResidentMb),
            Trend("GC heap", "MB", s => s.GcHeapMb),
            Trend("live after gen2", "MB", s => s.Gen2LiveMb),
            Trend("GC committed", "MB", s => s.GcCommittedMb),
            Trend("live tensors", "", s => s.LiveTensors),
            Trend("cached experts", "", s => s.CachedExperts),
        ]);
    }

    // Least squares, per minute.
    private static double Slope(IReadOnlyList<BenchSoak.SoakSample> points, Func<BenchSoak.SoakSample, double> value)
    {
        if (points.Count < 2) return 0;
        double mx = points.Average(p => p.Seconds), my = points.Average(value);
        double num = points.Sum(p => (p.Seconds - mx) * (value(p) - my)), den = points.Sum(p => (p.Seconds - mx) * (p.Seconds - mx));
        return den == 0 ? 0 : num / den * 60;
    }

    public IEnumerable<string> Lines() => Trends.Select(t => string.Create(CultureInfo.InvariantCulture,
        $"{t.Name,-16} second half {t.AtHalf,9:F1} → {t.AtEnd,9:F1} {t.Unit,-2} (peak {t.Peak:F1}), slope {t.SlopePerMinute:+0.00;-0.00} {t.Unit}/min"));

    public static string Csv(IReadOnlyList<BenchSoak.SoakSample> samples)
    {
        var text = new StringBuilder("seconds,resident_mb,managed_heap_mb,gc_heap_mb,gen2_live_mb,gc_committed_mb,live_tensors,cached_experts,cached_past_versions,head_version,queries,errors,edits,retractions\n");
        foreach (var s in samples)
            text.Append(CultureInfo.InvariantCulture, $"{s.Seconds:F1},{s.ResidentMb:F1},{s.ManagedHeapMb:F1},{s.GcHeapMb:F1},{s.Gen2LiveMb:F1},{s.GcCommittedMb:F1},{s.LiveTensors},{s.CachedExperts},{s.CachedPastVersions},{s.HeadVersion},{s.Queries},{s.Errors},{s.Edits},{s.Retractions}\n");
        return text.ToString();
    }
}

/// <summary>One figure of a soak: at the start of the second half, at the end, its peak and its slope per minute over the second half.</summary>
internal sealed record SoakTrend(string Name, string Unit, double AtHalf, double AtEnd, double Peak, double SlopePerMinute);
