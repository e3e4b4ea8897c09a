using LiveEdit.Model.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LiveEdit.Model.Editor;

/// <summary>
/// Our extension beyond the paper (<see cref="EditorConfig.VisualKeyBlocks"/>): a pre-LN transformer block over the
/// N_v vision tokens, x + SA(LN(x)) then x + MLP(LN(x)), run before the visual key's CA_2 pooling so that the key can
/// mix tokens (pose- and scale-invariant identity features) instead of being a convex combination of per-token
/// projections. The output projections start at zero: a new block is the identity, so fine-tuning starts from the
/// paper's extractor exactly.
/// </summary>
public sealed class VisionTokenBlock : nn.Module
{
    private readonly LayerNorm attn_norm;
    private readonly CrossAttention self_attn;
    private readonly Linear attn_out;
    private readonly LayerNorm mlp_norm;
    private readonly Linear mlp_in;
    private readonly Linear mlp_out;

    /// <summary>A block of width <paramref name="width"/> with <paramref name="heads"/> heads and a 2× MLP.</summary>
    public VisionTokenBlock(int width, int heads) : base(nameof(VisionTokenBlock))
    {
        attn_norm = nn.LayerNorm(width);
        self_attn = new CrossAttention(width, width, width, width, heads);
        attn_out = nn.Linear(width, width);
        mlp_norm = nn.LayerNorm(width);
        mlp_in = nn.Linear(width, 2 * width);
        mlp_out = nn.Linear(2 * width, width);
        using (no_grad())
        {
            attn_out.weight!.zero_();
            attn_out.bias!.zero_();
            mlp_out.weight!.zero_();
            mlp_out.bias!.zero_();
        }
        RegisterComponents();
    }

    /// <summary>Vision tokens [B, N_v, d] → [B, N_v, d].</summary>
    public Tensor Forward(Tensor tokens)
    {
        using var scope = NewDisposeScope();
        var normed = attn_norm.forward(tokens);
        var x = tokens.Plus(attn_out.forward(self_attn.Attend(normed, normed)));                    // x + SA(LN(x))
        x = x.Plus(mlp_out.forward(nn.functional.gelu(mlp_in.forward(mlp_norm.forward(x)))));       // x + MLP(LN(x))
        return x.MoveToOuterDisposeScope();
    }
}
