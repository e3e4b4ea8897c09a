using LiveEdit.Model.Editor;
using LiveEdit.Model.Vlm;
using LiveEdit.Research.World;
using static TorchSharp.torch;

namespace LiveEdit.Research.Baselines;

/// <summary>
/// A GRACE-style codebook at layer l_e. Key = the hidden state of the last prompt token at l_e; each entry holds a
/// key, a value vector, a deferral radius and the target it was made for. An edit whose key is farther than
/// ε_init + r from the nearest entry adds a new entry (radius ε_init) whose value is optimised so that adding it to
/// the l_e output, from the last prompt token on, makes the target come out; near an entry with the same target the
/// entry's radius grows to cover it; near one with another target both radii shrink to half the distance (GRACE's
/// expand and split) — unless the key is the same (the same input edited again), whose entry then takes the new value
/// and target. At inference an input with an image takes the value of its nearest key when that key's radius
/// covers it (ties go to the later entry), and nothing
/// otherwise. Text-only inputs are never touched. The value is added rather than substituted: one vector in place of
/// every answer position would make a multi-token answer impossible.
/// </summary>
public sealed class GraceCodebook : ISequentialEditor
{
    private readonly IVisionLanguageModel model;
    private readonly List<float[]> keys = [];
    private readonly List<float[]> values = [];
    private readonly List<double> radii = [];
    private readonly List<string> targets = [];
    private Tensor? stackedKeys, stackedValues;

    /// <summary>Keys closer than this are the same input (hidden-state norms are in the tens; float noise is far below).</summary>
    private const double SameKey = 1e-3;

    public GraceCodebook(IVisionLanguageModel model, GraceConfig? config = null)
    {
        this.model = model;
        Config = config ?? new GraceConfig();
        if (Config.Epsilon < 0) throw new ArgumentOutOfRangeException(nameof(config), Config.Epsilon, "the deferral radius cannot be negative");
        EditObjective.Freeze(model);
    }

    /// <summary>Settings.</summary>
    public GraceConfig Config { get; }

    /// <inheritdoc />
    public string Method => "grace";

    /// <inheritdoc />
    public int Edits { get; private set; }

    /// <inheritdoc />
    public int Entries => keys.Count;

    /// <summary>The deferral radius of each entry, in order.</summary>
    public IReadOnlyList<double> Radii => radii;

    /// <inheritdoc />
    public void Apply(VlmExample edit)
    {
        using var scope = NewDisposeScope();
        var inputs = EditObjective.PrepareEdit(model, edit);
        var target = edit.Answer!;
        var keyAt = EditObjective.LastPromptPosition(inputs, 0);
        Tensor h;
        using (no_grad()) h = model.HiddenAtEditLayer(inputs);                                   // [1, L, d]
        var key = h[0, keyAt].data<float>().ToArray();
        var (nearest, distance) = Nearest(key);
        Edits++;
        if (nearest >= 0 && distance <= Config.Epsilon + radii[nearest])
        {
            if (string.Equals(targets[nearest], target, StringComparison.Ordinal))
            {
                radii[nearest] = Math.Max(radii[nearest], distance + Config.Epsilon);                  // expand
                return;
            }
            if (distance < SameKey)
            {
                // The same input edited again: the later target wins (a split would leave two radius-0 entries that
                // float noise in later forwards would miss).
                values[nearest] = TrainValue(inputs, h, keyAt);
                targets[nearest] = target;
                Invalidate();
                return;
            }
            radii[nearest] = distance / 2;                                                              // split
            Add(key, TrainValue(inputs, h, keyAt), distance / 2, target);
            return;
        }
        Add(key, TrainValue(inputs, h, keyAt), Config.Epsilon, target);
    }

    /// <summary>A value v with CE(target | h + v from the last prompt token on) small. [d]</summary>
    private float[] TrainValue(VlmInputs inputs, Tensor h, int keyAt)
    {
        using var scope = NewDisposeScope();
        var l = (int)h.shape[1];
        var from = tensor(Enumerable.Range(0, l).Select(t => t >= keyAt ? 1f : 0f).ToArray()).reshape(1, l, 1); // [1, L, 1]
        var value = zeros(model.Shape.HiddenSize).requires_grad_(true);
        using var adam = new EditAdam([value], Config.LearningRate);
        for (var step = 0; step < Config.Steps; step++)
        {
            using var stepScope = NewDisposeScope();
            adam.ZeroGrad();
            var loss = EditObjective.AnswerCrossEntropy(model.LogitsFromEditLayer(inputs, h + from * value), inputs);
            if (loss.item<float>() < Config.StopLoss) break;
            loss.backward();
            adam.Step();
        }
        return value.detach().data<float>().ToArray();
    }

    private void Add(float[] key, float[] value, double radius, string target)
    {
        keys.Add(key);
        values.Add(value);
        radii.Add(radius);
        targets.Add(target);
        Invalidate();
    }

    /// <summary>Nearest entry (the later one on a tie) and its Euclidean distance; (−1, ∞) when the codebook is empty.</summary>
    private (int Index, double Distance) Nearest(float[] key)
    {
        var best = (-1, double.PositiveInfinity);
        for (var j = 0; j < keys.Count; j++)
        {
            var d = Distance(key, keys[j]);
            if (d <= best.Item2) best = (j, d);
        }
        return best;
    }

    private static double Distance(float[] x, float[] y)
    {
        double s = 0;
        for (var i = 0; i < x.Length; i++)
        {
            var diff = (double)x[i] - y[i];
            s += diff * diff;
        }
        return Math.Sqrt(s);
    }

    /// <summary>
    /// The l_e rewrite for a batch laid out as <paramref name="layout"/>: each row with an image whose nearest key
    /// covers it gets that entry's value added from its last prompt token on. [B, L, d] → [B, L, d]
    /// </summary>
    private Tensor Rewrite(Tensor h, VlmInputs layout)
    {
        if (keys.Count == 0) return h;
        var rows = Enumerable.Range(0, layout.Count).Where(layout.HasImage).ToArray();
        if (rows.Length == 0) return h;
        using var scope = NewDisposeScope();
        var (b, l, d) = ((int)h.shape[0], (int)h.shape[1], (int)h.shape[2]);
        var at = rows.Select(i => (long)EditObjective.LastPromptPosition(layout, i)).ToArray();
        var queries = h.index(tensor(rows.Select(i => (long)i).ToArray()), tensor(at)).to_type(ScalarType.Float32);   // [R, d]
        (stackedKeys, stackedValues) = (stackedKeys ?? Stack(keys), stackedValues ?? Stack(values));
        // Exact differences, not cdist's matrix-product shortcut: a query equal to a key must be at distance 0 (a split
        // entry's radius can be 0).
        var distances = (queries.unsqueeze(1) - stackedKeys.unsqueeze(0)).square().sum(-1).sqrt().data<float>().ToArray(); // [R, N]
        var chosen = new long[b];
        var mask = new float[b * l];
        var any = false;
        for (var r = 0; r < rows.Length; r++)
        {
            var (best, bestD) = (-1, float.PositiveInfinity);
            for (var j = 0; j < keys.Count; j++)
            {
                var dj = distances[r * keys.Count + j];
                if (dj <= bestD) (best, bestD) = (j, dj);
            }
            if (best < 0 || bestD > radii[best]) continue;
            any = true;
            chosen[rows[r]] = best;
            for (var t = (int)at[r]; t < l; t++) mask[rows[r] * l + t] = 1f;
        }
        if (!any) return h;
        var delta = tensor(mask).reshape(b, l, 1) * stackedValues.index(tensor(chosen)).unsqueeze(1);          // [B, L, d]
        return (h + delta).MoveToOuterDisposeScope();
    }

    private static Tensor Stack(List<float[]> rows)
    {
        var flat = new float[rows.Count * rows[0].Length];
        for (var j = 0; j < rows.Count; j++) rows[j].CopyTo(flat, j * rows[0].Length);
        return tensor(flat).reshape(rows.Count, rows[0].Length).DetachFromDisposeScope();
    }

    /// <inheritdoc />
    public Tensor Logits(VlmInputs inputs)
    {
        using var _ = no_grad();
        return model.Logits(inputs, h => Rewrite(h, inputs));
    }

    /// <inheritdoc />
    public IReadOnlyList<string> Answers(IReadOnlyList<VlmExample> examples, int maxNewTokens = 8)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var prompts = examples.Select(e => e with { Answer = null }).ToList();
        var layout = model.Prepare(prompts);
        // The rewrite reads each row's last prompt position: it needs the whole sequence at every step.
        return model.GreedyAnswers(prompts, h => Rewrite(h, layout), maxNewTokens, Decoding.Recompute);
    }

    private void Invalidate()
    {
        stackedKeys?.Dispose();
        stackedValues?.Dispose();
        (stackedKeys, stackedValues) = (null, null);
    }

    /// <inheritdoc />
    public void Reset()
    {
        keys.Clear();
        values.Clear();
        radii.Clear();
        targets.Clear();
        Invalidate();
        Edits = 0;
    }

    /// <inheritdoc />
    public void Dispose() => Invalidate();
}
