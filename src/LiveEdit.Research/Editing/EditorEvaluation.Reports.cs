using System.Globalization;
using System.Text;
using System.Text.Json;

namespace LiveEdit.Research.Editing;

/// <summary>Report writing: log lines, markdown tables and JSON.</summary>
public sealed partial class EditorEvaluation
{
    /// <summary>One line per metrics row, for logs.</summary>
    public static string Describe(EditMetrics m) => string.Create(CultureInfo.InvariantCulture,
        $"{m.Protocol}: edits {m.Edits}, active {m.ActiveExperts}, measured {m.Cases}: Rel {m.Rel:F2} T-Gen {m.TGen:F2} M-Gen {m.MGen:F2} T-Loc {m.TLoc:F2} M-Loc {m.MLoc:F2} (left out {m.MLocExcluded}) | EM {m.RelExact:F1}/{m.TGenExact:F1}/{m.MGenExact:F1} | filter P {m.FilterPrecision:F1} R {m.FilterRecall:F1}, survivors {m.MeanSurvivors:F2}, wrong survivors from look-alikes {m.WrongSurvivorsLookAlike:F1} % | recall by kind {m.RecallRel:F1}/{m.RecallTGen:F1}/{m.RecallMGen:F1}, Rel/M-Gen when fired {m.RelWhenFired:F1}/{m.MGenWhenFired:F1} | M-Loc lost to own-entity / other-entity survivors {m.MLocLostSameEntity:F2}/{m.MLocLostOtherEntity:F2} pts ({m.MLocLostOtherSameFact:F2} where it edits the attribute asked), inputs with an other-entity survivor {m.MLocWithOtherEntity:F1} %")
        + (m.MLocLostByLookDistance is { } byDistance ? string.Create(CultureInfo.InvariantCulture,
            $" | same-attribute loss by look distance 1…5: {string.Join('/', byDistance.Skip(1).Select(x => x.ToString("F2", CultureInfo.InvariantCulture)))} pts (one apart, by shape/body/markings/pattern/eyes: {string.Join('/', (m.MLocLostNearMissAttribute ?? []).Select(x => x.ToString("F2", CultureInfo.InvariantCulture)))}), on trained entities {m.MLocLostOnTrainedEntities:F2} pts") : "");

    /// <summary>A markdown table of metrics rows.</summary>
    public static string Markdown(IEnumerable<EditMetrics> rows)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| protocol | edits | active experts | measured | Rel | T-Gen | M-Gen | T-Loc | M-Loc | EM Rel | EM T-Gen | EM M-Gen | filter P | filter R | survivors/query | M-Loc left out | wrong survivors from look-alikes % | filter R on edit / paraphrase / other image | Rel / M-Gen when own expert fired |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var m in rows)
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {m.Protocol} | {m.Edits} | {m.ActiveExperts} | {m.Cases} | {m.Rel:F2} | {m.TGen:F2} | {m.MGen:F2} | {m.TLoc:F2} | {m.MLoc:F2} | {m.RelExact:F1} | {m.TGenExact:F1} | {m.MGenExact:F1} | {m.FilterPrecision:F1} | {m.FilterRecall:F1} | {m.MeanSurvivors:F2} | {m.MLocExcluded} | {m.WrongSurvivorsLookAlike:F1} | {m.RecallRel:F1} / {m.RecallTGen:F1} / {m.RecallMGen:F1} | {m.RelWhenFired:F1} / {m.MGenWhenFired:F1} |"));
        return sb.ToString();
    }

    /// <summary>
    /// The query latency table: with experts, the base model on the same queries, and both ratios.
    /// <paramref name="medianHeader"/> names the column of medians with experts.
    /// </summary>
    public static string LatencyMarkdown(IEnumerable<QueryCost> rows, string medianHeader = "median ms")
    {
        var sb = new StringBuilder($"| active experts | {medianHeader} | p95 ms | base median ms (same queries) | × base | decoding steps (base) | × base per step |\n|---:|---:|---:|---:|---:|---:|---:|\n");
        foreach (var q in rows)
            sb.Append(FormattableString.Invariant($"| {q.Experts:N0} | {q.MedianMs:F2} | {q.P95Ms:F2} | {q.BaseMedianMs:F2} | {q.TimesBase:F2} | {q.Steps:F2} ({q.BaseSteps:F2}) | {q.TimesBasePerStep:F2} |\n"));
        return sb.ToString();
    }

    /// <summary>JSON of metrics rows and cost.</summary>
    public static string Json(IEnumerable<EditMetrics> rows, EditorCost? cost) => JsonSerializer.Serialize(new
    {
        metrics = rows,
        cost = cost is null ? null : new
        {
            generationMsPerEdit = cost.GenerationMsPerEdit,
            queryLatency = cost.QueryLatency.Select(x => new
            {
                experts = x.Experts, medianMs = x.MedianMs, p95Ms = x.P95Ms, baseMedianMs = x.BaseMedianMs, timesBase = x.TimesBase,
                steps = x.Steps, baseSteps = x.BaseSteps, timesBasePerStep = x.TimesBasePerStep,
            }),
            breakdown = cost.Breakdown,
        },
    }, new JsonSerializerOptions { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals });
}
