using System.Diagnostics;
using System.Runtime.InteropServices;
using LiveEdit.Model.Runtime;
using LiveEdit.Model.Vlm;
using static TorchSharp.torch;

namespace LiveEdit.Model.Editor;

/// <summary>
/// The frozen base model plus a set of experts (docs/method.md): at layer l_e, each input with an image keeps the
/// experts that pass the visual hard filter, weighs them by soft routing and adds their fused residual; inputs with
/// no image run the base model untouched. Experts are keyed by an id and fused in a fixed order (their
/// <c>order</c>, then id), so results do not depend on the history of adds and removes. The visual keys live in an
/// <see cref="ExpertKeyStore"/>, which models built on the same store share (docs/routing-at-scale.md); adding or removing
/// an expert changes the model's view of it and rebuilds nothing. Not thread-safe, nor are the models sharing a store
/// with it.
/// </summary>
public sealed class EditedModel : IDisposable
{
    private readonly ExpertSet experts;
    // Each expert's hubness o_e before λ (a function of its key, the bank and K alone).
    private readonly Dictionary<Expert, double> hubness = new(ReferenceEqualityComparer.Instance);
    private string? hubnessFor;
    private RoutingPolicy policy;
    private RoutingPolicy? offsetsFor;

    /// <param name="policy">The routing policy (margin, band, hubness); null: the editor's <see cref="EditorModules.DefaultPolicy"/>.</param>
    /// <param name="keys">The key store to share with other models of the same editor (past versions); null: one of its own.</param>
    public EditedModel(IVisionLanguageModel model, EditorModules editor, RoutingOptions? options = null, RoutingPolicy? policy = null, ExpertKeyStore? keys = null)
    {
        var c = editor.Config;
        if (c.HiddenSize != model.Shape.HiddenSize || c.VisionTokens != model.Shape.VisionTokens)
            throw new ArgumentException($"editor (d={c.HiddenSize}, N_v={c.VisionTokens}) does not fit the model (d={model.Shape.HiddenSize}, N_v={model.Shape.VisionTokens})");
        Model = model;
        Editor = editor;
        Options = options ?? RoutingOptions.Paper;
        if (keys is not null && (keys.KeyRows != c.KeyRows || keys.ModuleDim != c.ModuleDim))
            throw new ArgumentException($"the key store holds {keys.KeyRows}×{keys.ModuleDim} keys, the editor makes {c.KeyRows}×{c.ModuleDim}");
        experts = new ExpertSet(keys ?? new ExpertKeyStore(c.KeyRows, c.ModuleDim));
        this.policy = (policy ?? editor.DefaultPolicy).RequireFits(editor);
    }

    /// <summary>
    /// The routing policy in use (docs/routing-policy.md). Setting another one keeps the experts and takes effect at the
    /// next query. Throws <see cref="InvalidRoutingPolicyException"/> when the editor cannot route with it.
    /// </summary>
    public RoutingPolicy Policy
    {
        get => policy;
        set
        {
            if (value == policy) return;
            policy = value.RequireFits(Editor);
        }
    }

    /// <summary>The frozen base model.</summary>
    public IVisionLanguageModel Model { get; }
    /// <summary>The frozen editor (key extractors and fusion norm are used at query time).</summary>
    public EditorModules Editor { get; }
    /// <summary>Routing switches (the paper's method, or an ablation).</summary>
    public RoutingOptions Options { get; }
    /// <summary>Active experts.</summary>
    public int Count => experts.Count;
    /// <summary>Skip experts whose low-rank bound rules them out of the hard filter (same result; off only in tests).</summary>
    internal bool PruneWithBound { get; init; } = true;
    /// <summary>
    /// Compute a frozen editor's input-side keys in managed code where it can (<see cref="EditorModules.InputSideManaged"/>);
    /// off: always the tensor road (tests compare the two).
    /// </summary>
    internal bool ManagedKeys { get; init; } = true;
    /// <summary>The key store this model is a view of (pass it to another model to share it).</summary>
    public ExpertKeyStore Keys => experts.Store;
    /// <summary>Bytes of managed memory this model's view takes besides the shared store.</summary>
    public long ViewBytes => experts.Bytes;
    /// <summary>What the routing of the last query cost (null before one).</summary>
    public RoutingCost? LastRouting { get; private set; }
    /// <summary>Experts scored exactly by the last image row's hard filter, for tests.</summary>
    internal int LastScored => experts.LastScored;
    /// <summary>Whether the last image row's hard filter used the bound, for tests.</summary>
    internal bool LastBounded => experts.LastBounded;
    /// <summary>The active experts in fusion order.</summary>
    public IReadOnlyList<ExpertSlot> Slots => experts.Slots;
    /// <summary>Experts whose hubness is kept (for tests).</summary>
    internal int HubnessKept => hubness.Count;

    /// <summary>Activates an expert. <paramref name="order"/> fixes its place in the fusion order (e.g. the ledger sequence).</summary>
    public void Add(string id, Expert expert, long order)
    {
        var c = Editor.Config;
        if (expert.HiddenSize != c.HiddenSize || expert.Rank != c.Rank || expert.KeyRows != c.KeyRows || expert.ModuleDim != c.ModuleDim)
            throw new ArgumentException($"expert {id} has dimensions that do not fit the editor");
        if (!Editor.Answers(expert.GeneratorSha256))
            throw new ArgumentException($"expert {id} was generated by editor {expert.GeneratorSha256[..12]}, not {Editor.GeneratorSha256[..12]}");
        if (experts.Contains(id)) throw new ArgumentException($"expert {id} is already active");
        experts.Add(new ExpertSlot(order, id), expert);
    }

    /// <summary>Deactivates an expert; false when it was not active.</summary>
    public bool Remove(string id)
    {
        var row = experts.RowOf(id);
        if (row < 0) return false;
        var expert = experts.Store.ExpertAt(row);
        experts.Remove(id);
        // Only the active experts' hubness is kept: a removed expert is not held here after its removal.
        if (!experts.Holds(row)) hubness.Remove(expert);
        return true;
    }

    /// <summary>Deactivates every expert.</summary>
    public void Clear()
    {
        experts.Clear();
        hubness.Clear();
    }

    /// <summary>Teacher-forced logits [B, L, V] with the experts applied, and each example's routing.</summary>
    public (Tensor Logits, IReadOnlyList<RoutingDecision> Routes) Logits(VlmInputs inputs)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var hook = new FusionHook(inputs, ComputeRoutes, Editor.FusionNorm);
        var logits = Model.Logits(inputs, hook.Apply);
        Fused(hook);
        return (logits.MoveToOuterDisposeScope(), hook.Routes ?? NoRoutes(inputs));
    }

    /// <summary>
    /// Greedy answers with the experts applied, each with the experts that fired and their weights. Each example is
    /// routed on its own (its image, its prompt) and gets its own fused residual, so an answer does not depend on what
    /// else is in <paramref name="examples"/>; images and text-only inputs and prompts of any lengths mix.
    /// </summary>
    public IReadOnlyList<EditedAnswer> Answer(IReadOnlyList<VlmExample> examples, int maxNewTokens = 8)
    {
        var (decoded, routes) = Decode(examples, maxNewTokens, Decoding.Cached, keepLogits: false);
        return decoded.Answers.Select((t, i) => new EditedAnswer(t, routes[i].Fired)).ToList();
    }

    /// <summary>
    /// Greedy decoding with the experts applied: routing is decided once per example from the prompt (vision and
    /// prompt positions at layer l_e), then the fused residual applies at every position, prompt included.
    /// </summary>
    internal (GreedyDecoding Decoded, IReadOnlyList<RoutingDecision> Routes) Decode(IReadOnlyList<VlmExample> examples, int maxNewTokens, Decoding decoding, bool keepLogits)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var layout = Model.Prepare(examples.Select(e => e with { Answer = null }).ToList());
        using var hook = new FusionHook(layout, ComputeRoutes, Editor.FusionNorm);
        var decoded = Model.GreedyDecode(examples, hook.Apply, maxNewTokens, decoding, keepLogits);
        Fused(hook);
        return (decoded, hook.Routes ?? NoRoutes(layout));
    }

    /// <summary>
    /// Routing alone, from hidden states at layer l_e [B, L, d]: which experts each example keeps and their weights.
    /// </summary>
    public IReadOnlyList<RoutingDecision> Route(VlmInputs inputs, Tensor hidden)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        return ComputeRoutes(inputs, hidden).Select(r => r.Decision).ToList();
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        experts.Clear();
        hubness.Clear();
    }

    // The fusion's share of the query just answered, beside its routing.
    private void Fused(FusionHook hook)
    {
        if (hook.Routes is not null && LastRouting is { } cost) LastRouting = cost with { FusionMs = Ms(hook.FusionTicks), FusionCalls = hook.FusionCalls };
    }

    private static IReadOnlyList<RoutingDecision> NoRoutes(VlmInputs inputs) =>
        Enumerable.Range(0, inputs.Count).Select(i => new RoutingDecision(inputs.HasImage(i), [])).ToList();

    // Our extension (RoutingPolicy.HubnessWeight): λ·o_e of an expert, null when off.
    private Func<Expert, float>? HubnessOffset()
    {
        var c = Policy;
        if (c.HubnessWeight == 0 || Editor.Bank is null) return null;
        return e => (float)(c.HubnessWeight * Hubness(e));
    }

    /// <summary>
    /// o_e of <paramref name="expert"/> against the editor's filter bank (our extension), before λ: the mean of its
    /// top-K excesses over the bank's thresholds (K at least 1). Kept per expert. Throws when the editor has no bank.
    /// </summary>
    public double Hubness(Expert expert)
    {
        var bank = Editor.Bank ?? throw new InvalidOperationException("the editor has no filter bank");
        var k = Math.Max(1, Policy.HubnessTopK);
        var settings = string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{k}/{bank.Sha256}");
        if (hubnessFor != settings)
        {
            hubness.Clear();
            hubnessFor = settings;
        }
        if (!hubness.TryGetValue(expert, out var o)) hubness[expert] = o = bank.Hubness(expert.VisualKey, k);
        return o;
    }

    private List<RowRoute> ComputeRoutes(VlmInputs inputs, Tensor hidden)
    {
        var result = new List<RowRoute>(inputs.Count);
        var imageRows = new List<int>(inputs.Count);
        for (var i = 0; i < inputs.Count; i++) if (inputs.HasImage(i)) imageRows.Add(i);
        if (experts.Count == 0 || imageRows.Count == 0)
        {
            for (var i = 0; i < inputs.Count; i++) result.Add(new RowRoute(new RoutingDecision(inputs.HasImage(i), []), null));
            LastRouting = new RoutingCost(imageRows.Count, experts.Count, 0, 0, 0, 0, 0);
            return result;
        }
        if (offsetsFor != Policy)
        {
            experts.SetOffsets(HubnessOffset());
            offsetsFor = Policy;
        }
        long filterTicks = 0, weightTicks = 0, gatherTicks = 0;
        int survivors = 0, scored = 0;
        var start = Stopwatch.GetTimestamp();
        var dim = experts.Store.Dim;
        float[] visual, threshold;                                                                           // φ̄ [n, k·d_m], sim(φ̄, φ̄_Ξ) [n]
        Tensor? textKeysOfRows = null;                                                                       // ψ̄ [n, k, d_m] on the tensor road
        float[]? managedText = null;                                                                         // ψ̄ [n·k·d_m] on the managed road
        if ((ManagedKeys ? Editor.InputSideManaged(hidden, inputs, imageRows) : null) is { } managed)
        {
            // A frozen editor on the CPU: the keys in managed code, the threshold one exact similarity (docs/routing-at-scale.md).
            visual = managed.Visual;
            threshold = new float[imageRows.Count];
            var scale = KeySimilarity.Scale(experts.Store.KeyRows, experts.Store.ModuleDim);
            for (var j = 0; j < threshold.Length; j++)
                threshold[j] = KeySimilarity.Exact(visual.AsSpan(j * dim, dim), managed.Sentinel.AsSpan(j * dim, dim), scale);
            managedText = managed.Text;
        }
        else
        {
            var keys = Editor.InputSide(hidden, inputs, imageRows);
            // The visual keys and thresholds leave the tensors once, as bytes: the filter works on managed spans.
            visual = Floats(keys.Visual);
            threshold = Floats(Routing.PairSimilarity(keys.Visual, keys.Sentinel));
            textKeysOfRows = keys.Text;
        }
        if (Policy.Margin != 0)
        {
            var margin = (float)Policy.Margin;                                                                // our extension; 0 = the paper
            for (var j = 0; j < threshold.Length; j++) threshold[j] -= margin;
        }
        var keysTicks = Stopwatch.GetTimestamp() - start;
        var row = 0;
        for (var i = 0; i < inputs.Count; i++)
        {
            if (!inputs.HasImage(i))
            {
                result.Add(new RowRoute(new RoutingDecision(false, []), null));
                continue;
            }
            var query = visual.AsSpan(row * dim, dim);
            var t0 = Stopwatch.GetTimestamp();
            // Eq. hard filter: sim(φ̄, φ̂_e) > sim(φ̄, φ̄_Ξ); survivors in fusion order.
            var passing = Options.HardFilter ? experts.Passing(query, threshold[row], PruneWithBound) : experts.Scores(query);
            scored += Options.HardFilter ? experts.LastScored : experts.Count;
            if (Options.HardFilter && Policy.Band > 0 && passing.Count > 1)
            {
                // Our extension (RoutingPolicy.Band): keep survivors within the band of the best one, in order.
                var best = passing.Max(p => p.Similarity);
                var floor = best - (float)Policy.Band;
                passing = passing.Where(p => p.Similarity >= floor).ToList();
            }
            var t1 = Stopwatch.GetTimestamp();
            filterTicks += t1 - t0;
            if (passing.Count == 0)
            {
                result.Add(new RowRoute(new RoutingDecision(true, []), null));
                row++;
                continue;
            }
            survivors += passing.Count;
            var survivorExperts = new Expert[passing.Count];
            float[] w, textScores;
            if (managedText is not null)
            {
                // Eq. soft routing on the survivors' text scores s_e = sim(ψ̄, ψ̂_e): each one exact similarity against the
                // expert's own ψ̂, the weights in float64 (ManagedMath.SoftWeights).
                var text = managedText.AsSpan(row * dim, dim);
                var scale = KeySimilarity.Scale(experts.Store.KeyRows, experts.Store.ModuleDim);
                textScores = new float[passing.Count];
                for (var j = 0; j < passing.Count; j++) survivorExperts[j] = experts.Store.ExpertAt(passing[j].Row);
                TextScores(text, survivorExperts, scale, textScores);
                w = new float[passing.Count];
                if (Options.SoftRouting) ManagedMath.SoftWeights(textScores, w);       // Eq. w_e = σ(s_e)·softmax(s)_e
                else Array.Fill(w, (float)(1.0 / passing.Count));                     // ablation: plain average
            }
            else
            {
                (w, textScores) = TensorWeights(passing, survivorExperts, textKeysOfRows![TensorIndex.Slice(row, row + 1)]);
            }
            var fired = new FiredExpert[passing.Count];
            for (var j = 0; j < fired.Length; j++)
            {
                var (slot, r, visualScore) = passing[j];
                fired[j] = new FiredExpert(slot.Id, slot.Order, w[j], visualScore, threshold[row] + experts.Offset(r), textScores[j]);
            }
            var t2 = Stopwatch.GetTimestamp();
            weightTicks += t2 - t1;
            result.Add(new RowRoute(new RoutingDecision(true, fired), FusionOperands.Of(survivorExperts, w, hidden.device)));
            gatherTicks += Stopwatch.GetTimestamp() - t2;
            row++;
        }
        LastRouting = new RoutingCost(imageRows.Count, experts.Count, survivors, scored, Ms(filterTicks), Ms(weightTicks), Ms(gatherTicks)) { KeysMs = Ms(keysTicks) };
        return result;
    }

    // s_e = KeySimilarity.Exact(ψ̄, ψ̂_e) of every survivor, four at a time (the same bits as one by one).
    private static void TextScores(ReadOnlySpan<float> text, Expert[] survivors, double scale, float[] scores)
    {
        var j = 0;
        for (; j + 4 <= survivors.Length; j += 4)
            KeySimilarity.Exact4(text, survivors[j].TextKey, survivors[j + 1].TextKey, survivors[j + 2].TextKey, survivors[j + 3].TextKey, scale, scores.AsSpan(j, 4));
        for (; j < survivors.Length; j++) scores[j] = KeySimilarity.Exact(text, survivors[j].TextKey, scale);
    }

    // The tensor road of soft routing: the survivors' ψ̂ copied side by side, one product against ψ̄, the weights as tensors.
    private (float[] Weights, float[] TextScores) TensorWeights(List<(ExpertSlot Slot, int Row, float Similarity)> passing, Expert[] survivorExperts, Tensor rowText)
    {
        var dim = experts.Store.Dim;
        // Eq. soft routing on the survivors' text scores s_e = sim(ψ̄, ψ̂_e): one product against their ψ̂ copied side by side.
        var textKeys = empty(passing.Count, experts.Store.KeyRows, experts.Store.ModuleDim);
        var stacked = MemoryMarshal.Cast<byte, float>(textKeys.bytes);
        for (var j = 0; j < passing.Count; j++)
        {
            survivorExperts[j] = experts.Store.ExpertAt(passing[j].Row);
            survivorExperts[j].TextKey.CopyTo(stacked.Slice(j * dim, dim));
        }
        // Written through host spans on the CPU, then moved to the model's device (never host writes into device memory).
        var scores = Routing.Similarity(rowText, DeviceTensors.On(textKeys, rowText.device));                 // [1, S]
        var w = Floats(Options.SoftRouting
            ? Routing.SoftWeights(scores)                                                  // Eq. w_e = σ(s_e)·softmax(s)_e
            : full_like(scores, 1.0 / passing.Count));                                     // ablation: plain average
        return (w, Floats(scores));
    }

    private static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;

    // A float tensor's values, copied as bytes (data<float>().ToArray() goes element by element); off the CPU or in another
    // dtype, copied to the host first.
    private static float[] Floats(Tensor t) => t.device_type == TorchSharp.DeviceType.CPU && t.dtype == ScalarType.Float32
        ? MemoryMarshal.Cast<byte, float>(t.contiguous().bytes).ToArray()
        : DeviceTensors.HostFloats(t);
}
