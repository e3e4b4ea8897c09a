using System.Diagnostics;
using System.Globalization;
using LiveEdit.Bench.Fixtures;
using LiveEdit.Model.Editor;
using LiveEdit.Model.Vlm;
using LiveEdit.Research.Editing;
using LiveEdit.Research.World;
using static TorchSharp.torch;

namespace LiveEdit.Bench.Perf;

/// <summary>
/// Greedy query latency of the edited model with 0…N active experts against the base model, and where the extra time
/// goes (<see cref="RoutingCost"/> of each timed answer), for <c>liveedit bench perf</c>.
/// </summary>
/// <remarks>
/// The experts are SynthWorld edit cases of the evaluation split, drawn in blocks of <see cref="LedgerFixture.Block"/>
/// with the fixture builder's seeds, made <see cref="Batch"/> to a forward pass without refinement
/// (<see cref="LedgerFixture.Generate"/>: the generator's own U, V, φ̂, ψ̂). Refinement changes U and V only, never the
/// keys, so these experts pass the filter and get the weights the refined ones would, and fuse with the same shapes:
/// the latency is theirs. (Generating 100,000 experts one at a time with refinement takes hours; in batches, minutes.)
/// The queries are the image-generality inputs (another rendering of the entity, the edit's prompt) of the first
/// block's cases, so from 1,000 experts on each query's own edit is active, with every other edit of its entity.
/// </remarks>
internal static class LatencyAtScale
{
    /// <summary>Edits per generation forward.</summary>
    public const int Batch = 64;

    /// <summary>What the experts and queries are, as the report states it.</summary>
    public static string Describe(int seed) => string.Create(CultureInfo.InvariantCulture,
        $"experts: SynthWorld EditorEval edit cases in blocks of {LedgerFixture.Block:N0} (seed {seed}, the fixture builder's block seeds), generated {Batch} to a forward without refinement (refinement changes U and V, never the keys: routing and fusion shapes are the refined experts'); queries: the image-generality inputs of the first block's cases");

    /// <summary>Medians per count, each count in two passes of <paramref name="queries"/> timed queries (the pass with the lower median kept).</summary>
    public static (List<QueryLatency> Latency, List<RoutingLatency> Routing) Measure(IVisionLanguageModel model, EditorModules editor, SynthWorld world,
        IReadOnlyList<int> counts, int queries, int seed, Action<string>? log, CancellationToken ct)
    {
        const int warmUp = 10, maxNewTokens = 8;
        var max = counts.Count == 0 ? 0 : counts.Max();
        var queryCases = world.EditCases(EditSplit.EditorEval, Math.Clamp(max, Math.Min(queries + warmUp, LedgerFixture.Block), LedgerFixture.Block), BlockSeed(seed, 0))
            .Select(c => EditSample.From(c, model.ImageInput)).ToList();
        using var edited = new EditedModel(model, editor);
        var latency = new List<QueryLatency>();
        var routing = new List<RoutingLatency>();
        var made = 0;
        var generating = Stopwatch.StartNew();
        foreach (var n in counts)
        {
            while (made < n)
            {
                ct.ThrowIfCancellationRequested();
                var cases = world.EditCases(EditSplit.EditorEval, Math.Min(LedgerFixture.Block, n - made), BlockSeed(seed, made / LedgerFixture.Block));
                for (var first = 0; first < cases.Count; first += Batch)
                {
                    var experts = LedgerFixture.Generate(model, editor, cases.Skip(first).Take(Batch).ToList());
                    for (var j = 0; j < experts.Count; j++) edited.Add($"perf-{made + first + j}", experts[j], made + first + j);
                }
                made += cases.Count;
                if (made % 10_000 == 0) log?.Invoke(Invariant($"  {made:N0} experts made ({generating.Elapsed.TotalSeconds:F0} s)"));
            }
            Point? best = null;
            for (var pass = 0; pass < 2; pass++)
            {
                var point = Pass(model, edited, queryCases, queries, warmUp, maxNewTokens, ct);
                if (best is null || point.Latency.MedianMs < best.Latency.MedianMs) best = point;
            }
            latency.Add(best!.Latency with { Experts = n });
            routing.Add(best.Routing with { Experts = n });
            var r = best.Routing;
            log?.Invoke(Invariant($"latency with {n:N0} experts: median {best.Latency.MedianMs:F2} ms, base {best.Latency.BaseMedianMs:F2} ms ({best.Latency.MedianMs / best.Latency.BaseMedianMs:F2}×); routing {r.RoutingMs:F3} ms (filter {r.FilterMs:F3}, {r.MeanScored:F0} scored; weights {r.WeightsMs:F3}), keys {r.KeysMs:F3} ms; {r.MeanSurvivors:F1} survivors: operands {r.GatherMs:F3} ms, fusion {r.FusionMs:F3} ms"));
        }
        return (latency, routing);
    }

    /// <summary>The seed of block <paramref name="block"/>, as <see cref="LedgerFixture"/> draws it.</summary>
    internal static int BlockSeed(int seed, int block) => unchecked(seed * 1_000_003 + block);

    private sealed record Point(QueryLatency Latency, RoutingLatency Routing);

    private static Point Pass(IVisionLanguageModel model, EditedModel edited, IReadOnlyList<EditSample> cases, int queries, int warmUp, int maxNewTokens, CancellationToken ct)
    {
        // Forwards of a greedy answer: one per token and one for <eos> (none after the last allowed token).
        int Steps(string answer) => Math.Min(maxNewTokens, answer.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length + 1);
        var (times, baseTimes) = (new List<double>(), new List<double>());
        var (keys, filter, weights, gather, fusion, routingMs) = (new List<double>(), new List<double>(), new List<double>(), new List<double>(), new List<double>(), new List<double>());
        double steps = 0, baseSteps = 0, survivors = 0, scored = 0;
        for (var q = 0; q < queries + warmUp; q++)
        {
            ct.ThrowIfCancellationRequested();
            using var scope = NewDisposeScope();
            var example = cases[q % cases.Count].ImageGenerality.ToExample(withAnswer: false);
            var (withExperts, withoutExperts, answer, baseAnswer) = EditorEvaluation.BackToBack(edited, model, example, maxNewTokens, q);
            if (q < warmUp) continue;
            times.Add(withExperts);
            baseTimes.Add(withoutExperts);
            steps += Steps(answer);
            baseSteps += Steps(baseAnswer);
            var cost = edited.Count == 0 ? null : edited.LastRouting;
            keys.Add(cost?.KeysMs ?? 0);
            filter.Add(cost?.FilterMs ?? 0);
            weights.Add(cost?.WeightsMs ?? 0);
            routingMs.Add(cost is null ? 0 : cost.FilterMs + cost.WeightsMs);
            gather.Add(cost?.GatherMs ?? 0);
            fusion.Add(cost?.FusionMs ?? 0);
            survivors += cost?.Survivors ?? 0;
            scored += cost?.Scored ?? 0;
        }
        var latency = new QueryLatency(0, Quantile(times, 0.50), Quantile(times, 0.95), Quantile(baseTimes, 0.50), steps / queries, baseSteps / queries);
        var meanSurvivors = survivors / queries;
        double gatherMs = Quantile(gather, 0.50), fusionMs = Quantile(fusion, 0.50);
        var routing = new RoutingLatency(0, Quantile(routingMs, 0.50), Quantile(filter, 0.50), Quantile(weights, 0.50), Quantile(keys, 0.50), scored / queries,
            meanSurvivors, gatherMs, fusionMs, meanSurvivors > 0 ? (gatherMs + fusionMs) / meanSurvivors : 0, latency.MedianMs, latency.BaseMedianMs!.Value);
        return new Point(latency, routing);
    }

    private static double Quantile(List<double> values, double q)
    {
        var sorted = values.Order().ToArray();
        return sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1)];
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
