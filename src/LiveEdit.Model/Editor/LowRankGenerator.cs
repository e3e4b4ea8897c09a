using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LiveEdit.Model.Editor;

/// <summary>
/// One of the two expert generators: U_e (or V_e) = s·CA(Φ, LN(h_v⊕h_p⊕h_o)) ∈ R^{r×d},
/// s = 1/(lora_scale·√r) (docs/method.md; official <c>LowRankGenerator</c>).
/// </summary>
public sealed class LowRankGenerator : nn.Module
{
    private readonly Parameter phi;          // Φ [1, r, d_m], the learnable query seeds
    private readonly CrossAttention ca_lora;
    private readonly LayerNorm layer_norm;
    private readonly double scale;

    public LowRankGenerator(EditorConfig config) : base(nameof(LowRankGenerator))
    {
        phi = new Parameter(empty(1, config.Rank, config.ModuleDim));
        nn.init.kaiming_normal_(phi);
        ca_lora = new CrossAttention(config.ModuleDim, config.HiddenSize, config.ModuleDim, config.HiddenSize, config.Heads);
        layer_norm = nn.LayerNorm(config.HiddenSize);
        scale = config.GeneratorScale;
        RegisterComponents();
    }

    /// <summary>Edit signal [B, l, d] with mask [B, l] (null: no padding) → low-rank factor [B, r, d].</summary>
    public Tensor Generate(Tensor editSignal, Tensor? mask)
    {
        using var scope = NewDisposeScope();
        // Eq. generator: U_e = s·CA_U(Φ_U, LN(h_v⊕h_p⊕h_o))
        var lora = ca_lora.Attend(phi, layer_norm.forward(editSignal), mask) * scale;
        return lora.MoveToOuterDisposeScope();
    }
}
