using System.Diagnostics;
using LiveEdit.Model.Vlm;
using LiveEdit.Research.Editing;
using static TorchSharp.torch;

namespace LiveEdit.Research.Baselines;

/// <summary>
/// The paper's metrics for a baseline, with <see cref="EditorEvaluation"/>'s definitions and protocols: Rel, T-Gen,
/// M-Gen = teacher-forced token accuracy on the new target; T-Loc, M-Loc = agreement with the pre-edit model's token
/// predictions (M-Loc leaves out locality questions whose own fact an applied edit changed); exact match of greedy
/// answers. Lifelong: one stream, no reset, metrics at checkpoints over the latest edit of each fact so far (a
/// re-edit of a fact is simply applied; the later edit is the one measured). Chunks: T edits, test, reset. A
/// baseline has no filter, so filter precision, recall and survivors are NaN.
/// </summary>
public sealed class BaselineEvaluation
{
    private readonly IVisionLanguageModel model;
    private readonly ISequentialEditor editor;
    private readonly IReadOnlyList<EditSample> cases;
    private readonly int batchSize;
    private readonly PreEditLocality pre;
    private double editMs;
    private int edits;

    public BaselineEvaluation(IVisionLanguageModel model, ISequentialEditor editor, IReadOnlyList<EditSample> cases, int batchSize = 32)
    {
        this.model = model;
        this.editor = editor;
        this.cases = cases;
        this.batchSize = batchSize;
        pre = new PreEditLocality(model, cases);
    }

    /// <summary>Also decode greedy answers for exact match (slower).</summary>
    public bool ExactMatch { get; init; } = true;

    /// <summary>Progress lines.</summary>
    public Action<string>? Log { get; init; }

    /// <summary>Mean wall time of applying one edit so far (ms).</summary>
    public double EditMsPerEdit => edits == 0 ? double.NaN : editMs / edits;

    /// <summary>Lifelong protocol: edits 0..N−1 applied in order, no reset; metrics at each checkpoint (at most <paramref name="maxEvalCases"/> cases, evenly spaced).</summary>
    public IReadOnlyList<EditMetrics> Lifelong(IReadOnlyList<int> checkpoints, int maxEvalCases = 1000)
    {
        var points = checkpoints.Where(t => t >= 1 && t <= cases.Count).Distinct().Order().ToList();
        var result = new List<EditMetrics>();
        if (points.Count == 0) return result;
        editor.Reset();
        EnsurePre(Enumerable.Range(0, points[^1]).ToList());
        var latest = new Dictionary<(int?, string), int>();
        var facts = new HashSet<(int, string)>();
        var added = 0;
        var clock = Stopwatch.StartNew();
        foreach (var t in points)
        {
            for (; added < t; added++)
            {
                Apply(added, latest, facts);
                if ((added + 1) % 100 == 0) Log?.Invoke($"{editor.Method}: {added + 1} edits applied, {EditMsPerEdit:F1} ms per edit, {clock.Elapsed.TotalSeconds:F0} s");
            }
            var current = latest.Values.Order().ToList();
            var measured = EditorEvaluation.Spaced(current.Count, maxEvalCases).Select(j => current[j]).ToList();
            var m = Measure(measured, $"lifelong@{t}", facts) with { Edits = t };
            Log?.Invoke(EditorEvaluation.Describe(m));
            result.Add(m);
        }
        return result;
    }

    /// <summary>The paper's protocol: chunks of T edits applied, the chunk tested, reset; at most <paramref name="maxCases"/> cases in all.</summary>
    public EditMetrics Chunks(int chunkSize, int maxCases = 1000)
    {
        var chunks = Math.Max(1, Math.Min(cases.Count, maxCases) / chunkSize);
        var parts = new List<EditMetrics>();
        for (var c = 0; c < chunks; c++)
        {
            editor.Reset();
            var range = Enumerable.Range(c * chunkSize, chunkSize).Where(i => i < cases.Count).ToList();
            EnsurePre(range);
            var latest = new Dictionary<(int?, string), int>();
            var facts = new HashSet<(int, string)>();
            foreach (var i in range) Apply(i, latest, facts);
            parts.Add(Measure(latest.Values.Order().ToList(), $"chunks T={chunkSize}", facts));
        }
        editor.Reset();
        var merged = EditorEvaluation.Merge($"chunks T={chunkSize}", chunkSize, parts);
        Log?.Invoke(EditorEvaluation.Describe(merged));
        return merged;
    }

    private void Apply(int i, Dictionary<(int?, string), int> latest, HashSet<(int, string)> facts)
    {
        var sample = cases[i];
        latest[(sample.Edit.EntityId, sample.Attribute)] = i;
        if (sample.Edit.EntityId is { } entity) facts.Add((entity, sample.Attribute));
        using var scope = NewDisposeScope();
        var example = sample.Edit.ToExample();
        var clock = Stopwatch.StartNew();
        editor.Apply(example);
        editMs += clock.Elapsed.TotalMilliseconds;
        edits++;
    }

    /// <summary>
    /// Metrics for <paramref name="indices"/> with the edits the editor holds; <paramref name="editedFacts"/> are the
    /// (entity, attribute) pairs those edits changed (M-Loc leaves their locality questions out).
    /// </summary>
    public EditMetrics Measure(IReadOnlyList<int> indices, string protocol, IReadOnlySet<(int, string)> editedFacts)
    {
        var tally = new PaperMetricTally(cases, pre, editedFacts);
        foreach (var chunk in indices.Chunk(Math.Max(1, batchSize / 5)))
        {
            if (chunk.Any(i => !pre.Has(i)))
                throw new InvalidOperationException("pre-edit predictions are made before the first edit; measure only cases the protocol prepared");
            using var scope = NewDisposeScope();
            var inputs = model.Prepare(chunk.SelectMany(i => PaperMetricTally.Queries(cases[i])).Select(q => q.ToExample()).ToList());
            var predicted = EditorEvaluation.Predictions(editor.Logits(inputs), inputs);
            for (var c = 0; c < chunk.Length; c++) tally.Add(chunk[c], predicted, inputs, 5 * c);
            if (ExactMatch)
            {
                var greedy = chunk.SelectMany(i => PaperMetricTally.GreedyQueries(cases[i])).ToList();
                var answers = editor.Answers(greedy.Select(q => q.ToExample(withAnswer: false)).ToList());
                for (var c = 0; c < chunk.Length; c++) tally.AddAnswers(chunk[c], answers[3 * c], answers[3 * c + 1], answers[3 * c + 2]);
            }
        }
        return tally.Metrics(protocol, editor.Edits, editor.Entries, ExactMatch);
    }

    /// <summary>The base model's predictions on the locality inputs of <paramref name="indices"/> (the editor must hold no edit).</summary>
    private void EnsurePre(IReadOnlyList<int> indices)
    {
        if (editor.Edits != 0) throw new InvalidOperationException("pre-edit predictions need an editor with no edit applied");
        pre.Ensure(indices, batchSize / 2);
    }
}
