using System.Diagnostics;
using LiveEdit.Model.Editor;
using LiveEdit.Model.Vlm;
using static TorchSharp.torch;

namespace LiveEdit.Research.Editing;

/// <summary>Cost: expert generation and single-query latency with a given number of active experts.</summary>
public sealed partial class EditorEvaluation
{
    /// <summary>
    /// One query's greedy answer with the experts and the base model's, timed back to back; the order alternates with
    /// <paramref name="turn"/> (even: the edited model first), so neither side always runs on warmer caches.
    /// </summary>
    public static (double EditedMs, double BaseMs, string Answer, string BaseAnswer) BackToBack(EditedModel edited, IVisionLanguageModel model,
        VlmExample example, int maxNewTokens, int turn)
    {
        var clock = new Stopwatch();
        double editedMs = 0, baseMs = 0;
        string answer = "", baseAnswer = "";
        for (var side = 0; side < 2; side++)
        {
            clock.Restart();
            if ((side + turn) % 2 == 0)
            {
                answer = edited.Answer([example], maxNewTokens)[0].Text;
                editedMs = clock.Elapsed.TotalMilliseconds;
            }
            else
            {
                baseAnswer = model.GreedyAnswers([example], maxNewTokens: maxNewTokens)[0];
                baseMs = clock.Elapsed.TotalMilliseconds;
            }
        }
        return (editedMs, baseMs, answer, baseAnswer);
    }

    /// <summary>
    /// Median and p95 latency of one greedy answer with the given numbers of active experts (0 included when asked),
    /// each query timed back to back with the base model's answer to it, in alternating order.
    /// </summary>
    public EditorCost Cost(IReadOnlyList<int> expertCounts, int queries = 100)
    {
        const int warmUp = 10;
        const int maxNewTokens = 8;
        var latencies = new List<QueryCost>();
        var breakdown = new List<LatencyBreakdown>();
        using var edited = new EditedModel(model, editor, Options);
        var added = 0;
        // Forwards of a greedy answer: one per token and one for <eos> (none after the last allowed token).
        static int Steps(string answer) => Math.Min(maxNewTokens, answer.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length + 1);
        foreach (var n in expertCounts.Where(n => n <= cases.Count).Order())
        {
            for (; added < n; added++) edited.Add(ExpertId(cases[added]), ExpertOf(added), added);
            var times = new List<double>();
            var baseTimes = new List<double>();
            double steps = 0, baseSteps = 0;
            for (var q = 0; q < queries + warmUp; q++)
            {
                using var scope = NewDisposeScope();
                var example = cases[q % cases.Count].ImageGenerality.ToExample(withAnswer: false);
                var (withExperts, withoutExperts, answer, baseAnswer) = BackToBack(edited, model, example, maxNewTokens, q);
                if (q < warmUp) continue;   // first calls warm up (and stack the keys)
                times.Add(withExperts);
                baseTimes.Add(withoutExperts);
                steps += Steps(answer);
                baseSteps += Steps(baseAnswer);
            }
            var cost = new QueryCost(n, Quantile(times, 0.5), Quantile(times, 0.95), Quantile(baseTimes, 0.5), steps / queries, baseSteps / queries);
            latencies.Add(cost);
            Log?.Invoke(FormattableString.Invariant($"latency with {n} experts: median {cost.MedianMs:F2} ms, base on the same queries {cost.BaseMedianMs:F2} ms ({cost.TimesBase:F2}×; {cost.Steps:F2} vs {cost.BaseSteps:F2} decoding steps, {cost.TimesBasePerStep:F2}× per step)"));
            breakdown.Add(Breakdown(edited, n, queries));
        }
        return new EditorCost(GenerationMsPerEdit, latencies) { Breakdown = breakdown };
    }

    // Nearest-rank quantile; the median of an even count is the upper middle value, as before.
    private static double Quantile(List<double> values, double q)
    {
        var sorted = values.Order().ToList();
        return q == 0.5 ? sorted[sorted.Count / 2] : sorted[(int)Math.Min(sorted.Count - 1, Math.Ceiling(sorted.Count * q) - 1)];
    }

    private LatencyBreakdown Breakdown(EditedModel edited, int n, int queries)
    {
        var baseForward = new List<double>();
        var forward = new List<double>();
        var routing = new List<double>();
        var keys = new List<double>();
        var filter = new List<double>();
        var weights = new List<double>();
        var gather = new List<double>();
        long survivors = 0, scored = 0;
        using var noGrad = no_grad();
        for (var q = 0; q < queries + 3; q++)
        {
            using var scope = NewDisposeScope();
            var inputs = model.Prepare([cases[q % cases.Count].ImageGenerality.ToExample()]);
            var clock = Stopwatch.StartNew();
            model.Logits(inputs);
            var t0 = clock.Elapsed.TotalMilliseconds;
            clock.Restart();
            edited.Logits(inputs);
            var t1 = clock.Elapsed.TotalMilliseconds;
            var hidden = model.HiddenAtEditLayer(inputs);
            clock.Restart();
            var routes = edited.Route(inputs, hidden);
            var t2 = clock.Elapsed.TotalMilliseconds;
            var cost = edited.LastRouting;
            clock.Restart();
            editor.InputSide(hidden, inputs, [0]);
            var t3 = clock.Elapsed.TotalMilliseconds;
            if (q < 3) continue;   // warm-up
            baseForward.Add(t0);
            forward.Add(t1);
            routing.Add(t2);
            keys.Add(t3);
            survivors += routes[0].Fired.Count;
            filter.Add(n == 0 ? 0 : cost!.FilterMs);
            weights.Add(n == 0 ? 0 : cost!.WeightsMs);
            gather.Add(n == 0 ? 0 : cost!.GatherMs);
            scored += n == 0 ? 0 : cost!.Scored;
        }
        return new LatencyBreakdown(n, Quantile(baseForward, 0.5), Quantile(forward, 0.5), n == 0 ? 0 : Quantile(routing, 0.5), Quantile(keys, 0.5), (double)survivors / queries)
        {
            FilterMs = Quantile(filter, 0.5),
            WeightsMs = Quantile(weights, 0.5),
            GatherMs = Quantile(gather, 0.5),
            MeanScored = (double)scored / queries,
        };
    }
}
