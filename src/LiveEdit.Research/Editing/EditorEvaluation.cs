using System.Diagnostics;
using LiveEdit.Model.Editor;
using LiveEdit.Model.Vlm;
using static TorchSharp.torch;

namespace LiveEdit.Research.Editing;

/// <summary>
/// Evaluation on edit cases (docs/method.md): experts are generated once per case (a pure function of the edit), then
/// activated per protocol — lifelong (one stream, no reset, metrics at checkpoints over all edits so far) or the
/// paper's chunks (T edits, test the chunk, reset).
/// </summary>
public sealed partial class EditorEvaluation
{
    private readonly IVisionLanguageModel model;
    private readonly EditorModules editor;
    private readonly IReadOnlyList<EditSample> cases;
    private readonly int batchSize;
    private readonly Expert?[] experts;
    private readonly PreEditLocality pre;
    private double generationMs;
    private int generated;

    public EditorEvaluation(IVisionLanguageModel model, EditorModules editor, IReadOnlyList<EditSample> cases, int batchSize = 32)
    {
        this.model = model;
        this.editor = editor;
        this.cases = cases;
        this.batchSize = batchSize;
        experts = new Expert?[cases.Count];
        pre = new PreEditLocality(model, cases);
    }

    /// <summary>Routing ablations applied by the protocols.</summary>
    public RoutingOptions Options { get; init; } = RoutingOptions.Paper;

    /// <summary>Also decode greedy answers for exact match (slower).</summary>
    public bool ExactMatch { get; init; } = true;

    /// <summary>Progress lines.</summary>
    public Action<string>? Log { get; init; }
    /// <summary>
    /// Diagnostic: per visible look attribute (shape, body colour, markings colour, pattern, eyes), whether two entities
    /// differ in it (null: not reported).
    /// </summary>
    public Func<int, int, bool[]>? LookDistance { get; init; }
    /// <summary>Diagnostic: whether the editor was trained on an entity (null: not reported).</summary>
    public Func<int, bool>? TrainedEntity { get; init; }

    /// <summary>
    /// When a later edit changes the same fact (entity and attribute) as an earlier one, remove the earlier expert, as
    /// the ledger does when an edit is replaced (default). Either way only the latest edit of each fact is measured:
    /// a superseded target is no longer the right answer.
    /// </summary>
    public bool RemoveSuperseded { get; init; } = true;

    /// <summary>The expert id of case i.</summary>
    public static string ExpertId(EditSample sample) => $"edit-{sample.Id}";

    /// <summary>Mean expert generation time so far (ms per edit).</summary>
    public double GenerationMsPerEdit => generated == 0 ? double.NaN : generationMs / generated;

    /// <summary>
    /// Where the expert of case i comes from instead of generating it here (for example the expert a ledger recorded
    /// for that edit); null: generate.
    /// </summary>
    public Func<int, Expert>? ExpertSource { get; init; }

    /// <summary>The expert of case i (generated, or taken from <see cref="ExpertSource"/>, on first use).</summary>
    public Expert ExpertOf(int i)
    {
        if (experts[i] is { } e) return e;
        if (ExpertSource is { } source) return experts[i] = source(i);
        using var scope = NewDisposeScope();
        var clock = Stopwatch.StartNew();
        e = new ExpertGenerator(model, editor).Generate(cases[i].Edit.ToExample());
        generationMs += clock.Elapsed.TotalMilliseconds;
        generated++;
        return experts[i] = e;
    }

    private void Activate(EditedModel edited, Dictionary<(int?, string), int> latest, int i)
    {
        var fact = (cases[i].Edit.EntityId, cases[i].Attribute);
        if (latest.TryGetValue(fact, out var previous) && RemoveSuperseded) edited.Remove(ExpertId(cases[previous]));
        latest[fact] = i;
        edited.Add(ExpertId(cases[i]), ExpertOf(i), i);
    }

    /// <summary>Argmax token at each answer position (teacher forcing: the logits one position earlier).</summary>
    internal static long[][] Predictions(Tensor logits, VlmInputs inputs)
    {
        var argmax = logits.argmax(-1).cpu().data<long>().ToArray();
        var l = logits.shape[1];
        return Enumerable.Range(0, inputs.Count).Select(i =>
            Enumerable.Range(0, inputs.AnswerLength[i]).Select(t => argmax[i * l + inputs.AnswerStart[i] + t - 1]).ToArray()).ToArray();
    }

    internal static long[] Targets(VlmInputs inputs, int row)
    {
        var l = inputs.TokenIds.shape[1];
        var ids = inputs.TokenIds[row].data<long>().ToArray();
        return Enumerable.Range(0, inputs.AnswerLength[row]).Select(t => ids[inputs.AnswerStart[row] + t]).ToArray();
    }

    internal static double Accuracy(long[] predicted, long[] expected) =>
        expected.Length == 0 ? 1 : predicted.Zip(expected).Count(p => p.First == p.Second) / (double)expected.Length;

    internal static double Same(string a, string b) =>
        string.Equals(Normalise(a), Normalise(b), StringComparison.Ordinal) ? 1 : 0;

    private static string Normalise(string s) => string.Join(' ', s.ToLowerInvariant().Split(' ', StringSplitOptions.RemoveEmptyEntries));

    internal static IReadOnlyList<int> Spaced(int t, int max) =>
        t <= max ? Enumerable.Range(0, t).ToList() : Enumerable.Range(0, max).Select(j => (int)((long)j * t / max)).ToList();
}
