using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LiveEdit.Model.Editor;

/// <summary>
/// Key extractor (official <c>QVExtractor</c>): the prompt-conditioned visual key
/// φ = CA_2(CA_1(Θ_1, LN_1(h_p)), LN_1(h_v)) and the text key ψ = CA_3(Θ_2, LN_2(h_p)), both [k, d_m].
/// The input-side extractor also owns the vision sentinel Ξ ∈ R^{N_v×d}. With
/// <see cref="EditorConfig.VisualKeyBlocks"/> &gt; 0 (our extension) the vision tokens, or Ξ in their place, first pass
/// that many <see cref="VisionTokenBlock"/>s: φ = CA_2(CA_1(Θ_1, LN_1(h_p)), LN_1(B(h_v))).
/// </summary>
public sealed class KeyExtractor : nn.Module
{
    private readonly LayerNorm layer_norm1;
    private readonly Parameter eqe1;                 // Θ_1 [1, k, d_m]
    private readonly CrossAttention ca_query_info_ext1;
    private readonly CrossAttention ca_vision_info_ext;
    private readonly LayerNorm layer_norm2;
    private readonly Parameter eqe2;                 // Θ_2 [1, k, d_m]
    private readonly CrossAttention ca_query_info_ext2;
    private readonly Parameter? vis_rep_prot;        // Ξ [1, N_v, d]
    private readonly ModuleList<VisionTokenBlock>? vision_blocks; // our extension; null (no parameters) for the paper's extractor

    public KeyExtractor(EditorConfig config, bool withSentinel) : base(nameof(KeyExtractor))
    {
        int d = config.HiddenSize, dm = config.ModuleDim, h = config.Heads;
        layer_norm1 = nn.LayerNorm(d);
        eqe1 = new Parameter(empty(1, config.KeyRows, dm));
        ca_query_info_ext1 = new CrossAttention(dm, d, dm, dm, h);
        ca_vision_info_ext = new CrossAttention(dm, d, dm, dm, h);
        layer_norm2 = nn.LayerNorm(d);
        eqe2 = new Parameter(empty(1, config.KeyRows, dm));
        ca_query_info_ext2 = new CrossAttention(dm, d, dm, dm, h);
        nn.init.kaiming_normal_(eqe1);
        nn.init.kaiming_normal_(eqe2);
        if (withSentinel)
        {
            vis_rep_prot = new Parameter(empty(1, config.VisionTokens, d));
            nn.init.kaiming_normal_(vis_rep_prot);
        }
        if (config.VisualKeyBlocks > 0)
            vision_blocks = new ModuleList<VisionTokenBlock>(Enumerable.Range(0, config.VisualKeyBlocks).Select(_ => new VisionTokenBlock(d, h)).ToArray());
        RegisterComponents();
    }

    /// <summary>φ: prompt [B, lp, d] (mask [B, lp] or null for none) and vision [B, N_v, d] → [B, k, d_m].</summary>
    public Tensor VisualKey(Tensor prompt, Tensor? promptMask, Tensor vision)
    {
        using var scope = NewDisposeScope();
        return KeyOf(Conditioned(prompt, promptMask), vision).MoveToOuterDisposeScope();
    }

    /// <summary>φ̄_Ξ: the visual key with the sentinel Ξ in place of the vision tokens → [B, k, d_m].</summary>
    public Tensor SentinelKey(Tensor prompt, Tensor? promptMask)
    {
        using var scope = NewDisposeScope();
        return KeyOf(Conditioned(prompt, promptMask), Sentinel(prompt.shape[0])).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// φ̄ and φ̄_Ξ together: the same values as <see cref="VisualKey"/> and <see cref="SentinelKey"/>, with
    /// CA_1(Θ_1, LN(h_p)) and its projection by CA_2's W_q computed once for both, and, once <see cref="Freeze"/> has
    /// run, the projections of Θ_1 and of the sentinel kept. For inference: under autograd the shared branch would sum
    /// the two gradients before CA_1 instead of after, which changes training's floats in the last bits.
    /// </summary>
    public (Tensor Visual, Tensor Sentinel) VisualAndSentinelKeys(Tensor prompt, Tensor? promptMask, Tensor vision)
    {
        using var scope = NewDisposeScope();
        // Eq. visual key: φ = CA_2(CA_1(Θ_1, LN(h_p)), LN(h_v)), and φ̄_Ξ with Ξ in place of h_v.
        var queries = ca_vision_info_ext.Queries(Conditioned(prompt, promptMask));     // CA_1(Θ_1, LN(h_p)) W_q [B, k, d_m]
        var key = ca_vision_info_ext.Combine(queries, ca_vision_info_ext.Inputs(VisionInput(vision)));
        var sentinelKey = Frozen is { Sentinel: { } kept }
            ? ca_vision_info_ext.Combine(queries, kept)
            : ca_vision_info_ext.Combine(queries, ca_vision_info_ext.Inputs(VisionInput(Sentinel(prompt.shape[0]))));
        return (key.MoveToOuterDisposeScope(), sentinelKey.MoveToOuterDisposeScope());
    }

    /// <summary>ψ: prompt [B, lp, d] (mask [B, lp] or null for none) → [B, k, d_m].</summary>
    public Tensor TextKey(Tensor prompt, Tensor? promptMask)
    {
        using var scope = NewDisposeScope();
        // Eq. text key: ψ = CA_3(Θ_2, LN(h_p))
        var seeds = Frozen?.TextSeeds ?? ca_query_info_ext2.Queries(eqe2);
        var key = ca_query_info_ext2.Combine(seeds, ca_query_info_ext2.Inputs(layer_norm2.forward(prompt)), promptMask);
        return key.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Keeps the projections that depend on the weights alone (Θ_1 W_q, Θ_2 W_q, and the sentinel's per-head keys and
    /// values at batch 1, after the vision-token blocks when there are any), for inference with frozen weights: they are used only while no gradient is recorded and
    /// the parameters do not require one (any training switches them back on, which sets the kept values aside).
    /// </summary>
    public void Freeze()
    {
        Thaw();
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var sentinel = vis_rep_prot is null ? null : ca_vision_info_ext.Inputs(VisionInput(vis_rep_prot)).Detached();
        frozen = new FrozenProjections(
            ca_query_info_ext1.Queries(eqe1).DetachFromDisposeScope(),
            ca_query_info_ext2.Queries(eqe2).DetachFromDisposeScope(),
            sentinel);
        managed = vis_rep_prot is null || vision_blocks is not null
            ? null
            : new ManagedKeyExtractor(layer_norm1, eqe1, ca_query_info_ext1, ca_vision_info_ext, layer_norm2, eqe2, ca_query_info_ext2, vis_rep_prot);
    }

    /// <summary>
    /// The input-side keys in managed code (<see cref="ManagedKeyExtractor"/>), while the kept projections are valid;
    /// null otherwise, and for the edit side or an extractor with vision-token blocks.
    /// </summary>
    internal ManagedKeyExtractor? Managed => Frozen is null ? null : managed;

    private ManagedKeyExtractor? managed;

    /// <summary>Drops what <see cref="Freeze"/> kept (the weights are about to change).</summary>
    public void Thaw()
    {
        frozen?.Dispose();
        frozen = null;
        managed = null;
    }

    private FrozenProjections? frozen;

    /// <inheritdoc/>
    protected override void Dispose(bool disposing)
    {
        if (disposing) Thaw();
        base.Dispose(disposing);
    }

    // The kept projections, when they are valid: no gradient recorded now, and the weights still frozen.
    private FrozenProjections? Frozen => frozen is not null && !is_grad_enabled() && !eqe1.requires_grad ? frozen : null;

    // CA_1(Θ_1, LN(h_p)) [B, k, d_m]: the prompt-conditioned queries of the visual key.
    private Tensor Conditioned(Tensor prompt, Tensor? promptMask) =>
        ca_query_info_ext1.Combine(Frozen?.VisualSeeds ?? ca_query_info_ext1.Queries(eqe1), ca_query_info_ext1.Inputs(layer_norm1.forward(prompt)), promptMask);

    // Eq. visual key: φ = CA_2(CA_1(Θ_1, LN(h_p)), LN(h_v)); the sentinel key puts Ξ in place of h_v. With our
    // extension, h_v (or Ξ) first passes the vision-token blocks.
    private Tensor KeyOf(Tensor conditioned, Tensor vision) => ca_vision_info_ext.Attend(conditioned, VisionInput(vision));

    // What CA_2 reads of the vision tokens (or Ξ): LN_1 of them, after the vision-token blocks of our extension. [B, N_v, d]
    private Tensor VisionInput(Tensor vision)
    {
        if (vision_blocks is not null)
            foreach (var block in vision_blocks) vision = block.Forward(vision);
        return layer_norm1.forward(vision);
    }

    /// <summary>
    /// The parameters of the visual key and the sentinel (Θ_1, CA_1, CA_2, LN_1, the vision-token blocks, Ξ), with
    /// their names inside this module: what keys-only fine-tuning trains. The text key's Θ_2, CA_3, LN_2 are not.
    /// </summary>
    public IEnumerable<(string Name, Parameter Parameter)> VisualKeyParameters() =>
        named_parameters().Where(p => !p.name.StartsWith("eqe2", StringComparison.Ordinal)
                                      && !p.name.StartsWith("ca_query_info_ext2.", StringComparison.Ordinal)
                                      && !p.name.StartsWith("layer_norm2.", StringComparison.Ordinal));

    // Ξ expanded to the batch [B, N_v, d].
    private Tensor Sentinel(long batch) => vis_rep_prot is null
        ? throw new InvalidOperationException("the edit-side extractor has no sentinel")
        : vis_rep_prot.expand(batch, vis_rep_prot.shape[1], vis_rep_prot.shape[2]);

    // Θ_1 W_q and Θ_2 W_q [1, k, d_m]; the sentinel's per-head keys and values [1, H, N_v, ·] (input side only).
    private sealed record FrozenProjections(Tensor VisualSeeds, Tensor TextSeeds, HeadInputs? Sentinel) : IDisposable
    {
        public void Dispose()
        {
            VisualSeeds.Dispose();
            TextSeeds.Dispose();
            Sentinel?.Dispose();
        }
    }
}
