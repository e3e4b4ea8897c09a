using System.Globalization;
using System.Text;
using LiveEdit.Model.Editor;
using LiveEdit.Research.Editing;

namespace LiveEdit.Bench.Perf;

/// <summary>perf.md: a <see cref="PerfReport"/> as a header (command, date, machine) and one table per figure measured.</summary>
public static class PerfMarkdown
{
    /// <summary>The markdown text; sections whose figures were not measured are left out.</summary>
    public static string Render(PerfReport r)
    {
        var s = new StringBuilder();
        s.Append(Invariant($"**Command:** `{r.Command}`  \n**Date:** {r.Date}  \n**Machine:** nproc {r.Machine.Nproc}, {r.Machine.Cpu}, {r.Machine.MemoryGiB} GiB, {r.Machine.Os}; load average at start {r.Machine.LoadAverage}; {r.Threads} torch thread(s)\n\n"));
        if (r.Generation is { } g)
            s.Append(Invariant($"Expert generation, one edit at a time over {g.Edits} edits: mean **{g.MeanMs:F2} ms**, p50 {g.P50Ms:F2} ms.\n\n"));
        if (r.EditLatency.Count > 0)
        {
            s.Append("| propose → active (HTTP, worker, ledger) | edits | p50 ms | p99 ms | max ms |\n|---|---:|---:|---:|---:|\n");
            foreach (var t in r.EditLatency) s.Append(Invariant($"| {t.Transport} | {t.Edits} | {t.P50Ms:F1} | {t.P99Ms:F1} | {t.MaxMs:F1} |\n"));
            s.Append('\n');
        }
        if (r.QueryLatency.Count > 0 && r.QueryLatency.All(q => q.BaseMedianMs is not null && q.Steps is not null && q.BaseSteps is not null))
        {
            s.Append("Greedy answer to one image query, each timed back to back with the base model's answer to it (`--queries` timed per point; per point the pass with the lower median of two):\n\n");
            s.Append(EditorEvaluation.LatencyMarkdown(
                r.QueryLatency.Select(q => new QueryCost(q.Experts, q.MedianMs, q.P95Ms, q.BaseMedianMs!.Value, q.Steps!.Value, q.BaseSteps!.Value)),
                "query median ms"));
            s.Append('\n');
        }
        else if (r.QueryLatency.Count > 0)
        {
            // Reports from before the paired timing: the ratio is to the 0-expert point.
            var baseMs = r.QueryLatency.FirstOrDefault(q => q.Experts == 0)?.MedianMs;
            s.Append("Greedy answer to one image query (`--queries` timed per point; per point the pass with the lower median of two):\n\n");
            s.Append("| active experts | query median ms | p95 ms | × base |\n|---:|---:|---:|---:|\n");
            foreach (var q in r.QueryLatency)
                s.Append(Invariant($"| {q.Experts:N0} | {q.MedianMs:F2} | {q.P95Ms:F2} | {(baseMs is { } b ? (q.MedianMs / b).ToString("F1", CultureInfo.InvariantCulture) : "–")} |\n"));
            s.Append('\n');
        }
        if (r.Decoding is { } d)
        {
            s.Append(Invariant($"Base model, greedy answer to one image query (median of {d.Queries}): full recompute {d.RecomputeMedianMs:F2} ms, KV cache **{d.CachedMedianMs:F2} ms** ({d.RecomputeMedianMs / d.CachedMedianMs:F2}× faster); "));
            s.Append(Invariant($"{d.BatchSize} queries as one batch {d.BatchMedianMs:F2} ms against {d.SinglesMedianMs:F2} ms one at a time ({d.SinglesMedianMs / d.BatchMedianMs:F2}×); {d.Disagreements} answers differed.\n\n"));
        }
        if (r.Routing is { Count: > 0 } routing)
        {
            if (r.LatencyExperts is { } experts)
            {
                s.Append("Routing apart from fusion, in the timed greedy answers above (medians): routing = hard filter + the survivors' text scores and soft weights; the input-side keys cost the same at any count; operands = the survivors' U and weighted V stacked once per query; fusion = adding the fused residual at the prefill and every step:\n\n");
                s.Append(Invariant($"({experts}.)\n\n"));
                s.Append("| active experts | routing ms | filter ms | scored exactly | weights ms | keys ms | survivors | operands ms | fusion ms | (operands + fusion) per survivor ms | answer ms (base) |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
            }
            else
            {
                s.Append("Routing apart from fusion, one teacher-forced image query (medians): routing = hard filter + the survivors' soft weights; the input-side keys cost the same at any count; fusion = the forward's time over the base's less routing and keys, with the copy of the survivors' U, V, ψ̂:\n\n");
                s.Append("| active experts | routing ms | filter ms | scored exactly | weights ms | keys ms | survivors | copy ms | fusion ms | (copy + fusion) per survivor ms | forward ms (base) |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
            }
            foreach (var x in routing)
                s.Append(Invariant($"| {x.Experts:N0} | {x.RoutingMs:F3} | {x.FilterMs:F3} | {x.MeanScored:F0} | {x.WeightsMs:F3} | {x.KeysMs:F3} | {x.MeanSurvivors:F1} | {x.GatherMs:F3} | {x.FusionMs:F3} | {x.FusionPerSurvivorMs:F4} | {x.ForwardMs:F2} ({x.BaseForwardMs:F2}) |\n"));
            s.Append('\n');
        }
        if (r.Rebuild is { } rb)
        {
            s.Append(Invariant($"Past-version rebuild (ledger head v{rb.Head}); cold = first query as of the version on a new server, warm = the same query again:\n\n"));
            s.Append("| as of version | edits replayed | active experts | cold median ms | cold max ms | warm median ms |\n|---:|---:|---:|---:|---:|---:|\n");
            foreach (var p in rb.Points) s.Append(Invariant($"| {p.Version} | {p.Edits} | {p.ActiveExperts} | {p.ColdMedianMs:F1} | {p.ColdMaxMs:F1} | {p.WarmMedianMs:F2} |\n"));
        }
        return s.ToString();
    }

    private static string Invariant(FormattableString text) => text.ToString(CultureInfo.InvariantCulture);
}
