using System.Diagnostics;
using System.Globalization;
using LiveEdit.Bench.Replay;
using LiveEdit.Bench.Streams;
using LiveEdit.Hosting.Serving;
using LiveEdit.Ledger;
using LiveEdit.Model.Editor;
using LiveEdit.Model.Images;
using LiveEdit.Model.Vlm;
using LiveEdit.Research.Editing;
using LiveEdit.Research.World;
using Microsoft.Extensions.DependencyInjection;

namespace LiveEdit.Bench.Perf;

/// <summary>
/// <c>liveedit bench perf</c>: the performance figures, each with machine and date. Expert generation per
/// edit; propose→active latency through the whole system (HTTP, worker, ledger) on each transport, by replaying a
/// SynthWorld stream with <see cref="StreamReplay"/>; greedy query latency with 0…100,000 active experts, best of two
/// passes, with routing and fusion apart (<see cref="LatencyAtScale"/>: experts made in batches without refinement); and the time to rebuild a past version from the ledger, cold (a new
/// <see cref="EditedModelServer"/>: active set read, experts read from the blob store, model built) against warm.
/// The caller starts the systems (<see cref="StartPerfSystem"/>), one per transport, each on an empty ledger; the
/// model-side figures are measured once, on the first system.
/// </summary>
public sealed class PerfBench(PerfSettings settings, StartPerfSystem startSystem)
{
    /// <summary>The settings measured with.</summary>
    public PerfSettings Settings => settings;

    /// <summary>Progress lines (machine, each figure as it is measured).</summary>
    public Action<string>? Log { get; init; }

    /// <summary>How long an edit may take to become active before the replay gives up.</summary>
    public TimeSpan Patience { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>Measures everything and returns the report; writes nothing (see <see cref="PerfReport.WriteTo"/>).</summary>
    /// <exception cref="ReplayException">A system refused an edit, could not be reached, or an edit did not become active in time.</exception>
    public async Task<PerfReport> RunAsync(CancellationToken ct = default)
    {
        var started = DateTimeOffset.UtcNow;
        var machine = MachineInfo.Current();
        Log?.Invoke(Invariant($"machine: {machine.Describe()}; date {started:yyyy-MM-dd HH:mm} UTC"));
        var world = new SynthWorld(WorldConfig.Default);
        var edits = settings.Edits;
        var seed = settings.Seed;
        var streamFolder = Path.Combine(Path.GetTempPath(), $"liveedit-perf-{Guid.NewGuid():N}");
        var editLatency = new List<TransportLatency>();
        RebuildTimes? rebuild = null;
        GenerationTimes? generation = null;
        (List<QueryLatency> Latency, List<RoutingLatency> Routing)? latencyPoints = null;
        DecodingTimes? decoding = null;
        var threads = 0;
        try
        {
            var stream = SynthWorldStreams.Make(world, edits, seed, Path.Combine(streamFolder, "edits"), EditSplit.EditorEval, $"liveedit bench perf --edits {edits} --seed {seed}");
            var replay = new StreamReplay(stream);
            var warmUp = new StreamReplay(SynthWorldStreams.Make(world, 1, seed + 2_000, Path.Combine(streamFolder, "warm-up")));
            foreach (var transport in settings.Transports)
            {
                await using var system = await startSystem(transport, ct);
                // One untimed edit first: the first request of a process JIT-compiles the path and opens the connections.
                await warmUp.ProposeAsync(system.Address, system.ProposerKey, system.AuditorKey, patience: Patience, ct: ct);
                var run = await replay.ProposeAsync(system.Address, system.ProposerKey, system.AuditorKey, patience: Patience, ct: ct);
                var latency = new TransportLatency(transport, edits, run.LatencyMs(0.50), run.LatencyMs(0.99), run.LatenciesMs.Max());
                Log?.Invoke(Invariant($"propose→active over {latency.Transport}, {edits} edits: p50 {latency.P50Ms:F1} ms, p99 {latency.P99Ms:F1} ms, max {latency.MaxMs:F1} ms"));
                editLatency.Add(latency);
                if (rebuild is not null) continue;

                // The model-side figures once, on the first system (its worker is idle by now).
                var runtime = system.Services.GetRequiredService<ModelRuntime>();
                var ledger = system.Services.GetRequiredService<EditLedger>();
                threads = runtime.Threads;
                rebuild = await RebuildAsync(runtime, ledger, stream, run, ct);
                generation = await GenerationAsync(runtime, world, ct);
                Log?.Invoke(Invariant($"expert generation over {generation.Edits} edits: mean {generation.MeanMs:F2} ms, p50 {generation.P50Ms:F2} ms"));
                if (settings.LatencyCounts.Count > 0)
                    latencyPoints = await runtime.RunAsync(() => LatencyAtScale.Measure(runtime.Model, runtime.Editor, world, settings.LatencyCounts, settings.Queries, seed, Log, ct), ct);
                decoding = await DecodingAsync(runtime, world, ct);
            }
        }
        finally
        {
            if (Directory.Exists(streamFolder)) Directory.Delete(streamFolder, recursive: true);
        }

        return new PerfReport(settings.Command, started.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture), machine, threads, generation, editLatency,
            latencyPoints?.Latency ?? [], rebuild)
        {
            Decoding = decoding,
            Routing = latencyPoints?.Routing,
            LatencyExperts = latencyPoints is null ? null : LatencyAtScale.Describe(seed),
        };
    }

    /// <summary>Times each expert generation on its own (the edit signal forward and the generator), one edit at a time.</summary>
    private Task<GenerationTimes> GenerationAsync(ModelRuntime runtime, SynthWorld world, CancellationToken ct)
    {
        var cases = world.EditCases(EditSplit.EditorEval, settings.Edits, settings.Seed + 1_000);
        return runtime.RunAsync(() =>
        {
            var times = new List<double>();
            foreach (var c in cases)
            {
                using var scope = TorchSharp.torch.NewDisposeScope();
                var example = EditSample.From(c, runtime.Model.ImageInput).Edit.ToExample();
                var clock = Stopwatch.StartNew();
                runtime.Generator.Generate(example);
                times.Add(clock.Elapsed.TotalMilliseconds);
            }
            return new GenerationTimes(times.Count, times.Average(), Quantile(times, 0.50));
        }, ct);
    }

    /// <summary>
    /// The base model's greedy decoding: each image query answered with a full recompute and with the KV cache, back to
    /// back in alternating order; and batches of 8 queries against the same 8 one at a time.
    /// </summary>
    private Task<DecodingTimes> DecodingAsync(ModelRuntime runtime, SynthWorld world, CancellationToken ct)
    {
        const int warmUp = 5, batchSize = 8;
        var cases = world.EditCases(EditSplit.EditorEval, Math.Max(batchSize, settings.Queries), settings.Seed + 3_000);
        return runtime.RunAsync(() =>
        {
            var model = runtime.Model;
            var (recompute, cached, batched, singles) = (new List<double>(), new List<double>(), new List<double>(), new List<double>());
            var disagreements = 0;
            var clock = new Stopwatch();
            for (var q = 0; q < settings.Queries + warmUp; q++)
            {
                using var scope = TorchSharp.torch.NewDisposeScope();
                VlmExample[] one = [cases[q % cases.Count].ImageGenerality.ToExample(withAnswer: false)];
                var times = new double[2];
                var answers = new string[2];
                foreach (var turn in q % 2 == 0 ? new[] { 0, 1 } : [1, 0])
                {
                    clock.Restart();
                    answers[turn] = model.GreedyAnswers(one, maxNewTokens: 8, decoding: turn == 0 ? Decoding.Recompute : Decoding.Cached)[0];
                    times[turn] = clock.Elapsed.TotalMilliseconds;
                }
                if (q < warmUp) continue;
                recompute.Add(times[0]);
                cached.Add(times[1]);
                if (answers[0] != answers[1]) disagreements++;
            }
            for (var b = 0; b < Math.Max(PerfSettings.MinQueries, settings.Queries / batchSize) + 1; b++)
            {
                using var scope = TorchSharp.torch.NewDisposeScope();
                var batch = Enumerable.Range(b * batchSize, batchSize).Select(i => cases[i % cases.Count].ImageGenerality.ToExample(withAnswer: false)).ToList();
                clock.Restart();
                var together = model.GreedyAnswers(batch, maxNewTokens: 8);
                var batchMs = clock.Elapsed.TotalMilliseconds;
                clock.Restart();
                var alone = batch.Select(e => model.GreedyAnswers([e], maxNewTokens: 8)[0]).ToList();
                var singlesMs = clock.Elapsed.TotalMilliseconds;
                if (b == 0) continue;   // warm-up
                batched.Add(batchMs);
                singles.Add(singlesMs);
                disagreements += together.Zip(alone).Count(p => p.First != p.Second);
            }
            var result = new DecodingTimes(recompute.Count, Quantile(recompute, 0.50), Quantile(cached, 0.50), batchSize, Quantile(batched, 0.50), Quantile(singles, 0.50), disagreements);
            Log?.Invoke(Invariant($"base greedy answer: full recompute {result.RecomputeMedianMs:F2} ms, KV cache {result.CachedMedianMs:F2} ms; batch of {batchSize} {result.BatchMedianMs:F2} ms vs {result.SinglesMedianMs:F2} ms one at a time; {disagreements} answers differed"));
            return result;
        }, ct);
    }

    /// <summary>
    /// For the versions after half and after all of the replayed edits: a query as of that version on a server that
    /// has never seen it (cold: active set from the ledger, experts from the blob store, model built) and again on the
    /// same server (warm: the version is cached). Medians over several cold servers and several warm queries.
    /// </summary>
    private async Task<RebuildTimes> RebuildAsync(ModelRuntime runtime, EditLedger ledger, BenchStream stream, ReplayRun run, CancellationToken ct)
    {
        var probe = stream.Cases[0];
        var image = RgbImage.Load(stream.ImagePath(probe.ImageGenerality.Image));
        var head = await ledger.GetHeadAsync(ct);
        var points = new List<RebuildPoint>();
        foreach (var k in new[] { run.ActivatedAtVersions.Count / 2, run.ActivatedAtVersions.Count }.Distinct())
        {
            var version = run.ActivatedAtVersions[k - 1];
            var active = (await ledger.GetActiveExpertsAsync(version, ct)).Experts.Count;
            var cold = new List<double>();
            var warm = new List<double>();
            for (var r = 0; r < 5; r++)
            {
                using var server = new EditedModelServer(runtime, ledger);
                var clock = Stopwatch.StartNew();
                await server.QueryAsync(image, probe.ImageGenerality.Prompt, new AsOf.Sequence(version), ct: ct);
                cold.Add(clock.Elapsed.TotalMilliseconds);
                if (r > 0) continue;
                for (var q = 0; q < settings.Queries; q++)
                {
                    clock.Restart();
                    await server.QueryAsync(image, probe.ImageGenerality.Prompt, new AsOf.Sequence(version), ct: ct);
                    warm.Add(clock.Elapsed.TotalMilliseconds);
                }
            }
            var point = new RebuildPoint(version, k, active, Quantile(cold, 0.50), cold.Max(), Quantile(warm, 0.50));
            Log?.Invoke(Invariant($"as of v{version} ({active} active experts, ledger head v{head}): cold {point.ColdMedianMs:F1} ms (max {point.ColdMaxMs:F1}), warm {point.WarmMedianMs:F2} ms"));
            points.Add(point);
        }
        return new RebuildTimes(head, points);
    }

    private static double Quantile(IEnumerable<double> values, double q)
    {
        var sorted = values.Order().ToArray();
        return sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1)];
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
