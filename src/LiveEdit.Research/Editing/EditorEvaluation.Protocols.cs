using LiveEdit.Model.Editor;

namespace LiveEdit.Research.Editing;

/// <summary>The two protocols: lifelong (one stream, checkpoints) and the paper's chunks.</summary>
public sealed partial class EditorEvaluation
{
    /// <summary>Lifelong protocol: one stream of edits 0..N−1, no reset; metrics at each checkpoint over all edits so far (at most <paramref name="maxEvalCases"/> of them, evenly spaced).</summary>
    public IReadOnlyList<EditMetrics> Lifelong(IReadOnlyList<int> checkpoints, int maxEvalCases = 1000)
    {
        var result = new List<EditMetrics>();
        using var edited = new EditedModel(model, editor, Options);
        var latest = new Dictionary<(int?, string), int>();
        var added = 0;
        foreach (var t in checkpoints.Where(t => t <= cases.Count).Order())
        {
            for (; added < t; added++) Activate(edited, latest, added);
            var current = latest.Values.Order().ToList();
            var evalCases = Spaced(current.Count, maxEvalCases).Select(j => current[j]).ToList();
            if (editor.Bank is not null) Log?.Invoke(DescribeHubness(edited, current.Select(ExpertOf).ToList(), t));
            var m = Measure(edited, evalCases, $"lifelong@{t}") with { Edits = t };
            Log?.Invoke(Describe(m));
            result.Add(m);
        }
        return result;
    }

    /// <summary>The paper's protocol: chunks of T edits applied, the chunk tested, reset; at most <paramref name="maxCases"/> cases in all.</summary>
    public EditMetrics Chunks(int chunkSize, int maxCases = 1000)
    {
        var chunks = Math.Max(1, Math.Min(cases.Count, maxCases) / chunkSize);
        var parts = new List<EditMetrics>();
        using var edited = new EditedModel(model, editor, Options);
        for (var c = 0; c < chunks; c++)
        {
            edited.Clear();
            var latest = new Dictionary<(int?, string), int>();
            foreach (var i in Enumerable.Range(c * chunkSize, chunkSize).Where(i => i < cases.Count)) Activate(edited, latest, i);
            parts.Add(Measure(edited, latest.Values.Order().ToList(), $"chunks T={chunkSize}"));
        }
        var merged = Merge($"chunks T={chunkSize}", chunkSize, parts);
        Log?.Invoke(Describe(merged));
        return merged;
    }

    // Where the active experts' hubness o_e lie (before λ): sets the margin that keeps the median expert's threshold.
    // The values are the ones the filter uses (EditedModel keeps them per expert), so this costs no second pass.
    private string DescribeHubness(EditedModel edited, IReadOnlyList<Expert> active, int edits)
    {
        var k = Math.Max(1, edited.Policy.HubnessTopK);
        var o = active.Select(edited.Hubness).Order().ToArray();
        double At(double q) => o[(int)Math.Round(q * (o.Length - 1))];
        return FormattableString.Invariant($"lifelong@{edits}: hubness o_e (top {k}) of the {o.Length} active experts: p10 {At(0.1):F3}, median {At(0.5):F3}, p90 {At(0.9):F3}");
    }
}
