using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LiveEdit.Model.Vlm;

/// <summary>Pre-LN transformer block: x + Attn(LN(x)), then x + MLP(LN(x)). Causal for the LM, bidirectional for vision.</summary>
public sealed class TransformerBlock : nn.Module<Tensor, Tensor>
{
    private readonly LayerNorm ln_1;
    private readonly Linear qkv;
    private readonly Linear proj;
    private readonly LayerNorm ln_2;
    private readonly Linear fc_in;
    private readonly Linear fc_out;
    private readonly int _heads;
    private readonly bool _causal;

    public TransformerBlock(int width, int heads, int mlpRatio, bool causal) : base(nameof(TransformerBlock))
    {
        _heads = heads;
        _causal = causal;
        ln_1 = nn.LayerNorm(width);
        qkv = nn.Linear(width, 3 * width);
        proj = nn.Linear(width, width);
        ln_2 = nn.LayerNorm(width);
        fc_in = nn.Linear(width, mlpRatio * width);
        fc_out = nn.Linear(mlpRatio * width, width);
        RegisterComponents();
    }

    /// <summary>The MLP's weights in place (fc_in weight and bias, fc_out weight and bias), for the FT-L baseline.</summary>
    public IReadOnlyList<Parameter> MlpParameters => [fc_in.weight!, fc_in.bias!, fc_out.weight!, fc_out.bias!];

    /// <summary>[B, L, D] → [B, L, D]</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var (b, l, d) = (x.shape[0], x.shape[1], x.shape[2]);
        var parts = qkv.forward(ln_1.forward(x)).view(b, l, 3, _heads, d / _heads).permute(2, 0, 3, 1, 4); // [3, B, H, L, hd]
        var attended = nn.functional.scaled_dot_product_attention(parts[0], parts[1], parts[2], is_casual: _causal); // [B, H, L, hd]
        x = x + proj.forward(attended.transpose(1, 2).reshape(b, l, d));                                     // [B, L, D]
        x = x + fc_out.forward(nn.functional.gelu(fc_in.forward(ln_2.forward(x))));
        return x.MoveToOuterDisposeScope();
    }
}
