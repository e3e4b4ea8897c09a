using LiveEdit.Model.Runtime;
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

    /// <summary>Attention heads.</summary>
    internal int Heads => _heads;

    /// <summary>The MLP's weights in place (fc_in weight and bias, fc_out weight and bias), for the FT-L baseline.</summary>
    public IReadOnlyList<Parameter> MlpParameters => [fc_in.weight!, fc_in.bias!, fc_out.weight!, fc_out.bias!];

    /// <summary>[B, L, D] → [B, L, D]</summary>
    public override Tensor forward(Tensor x) => Forward(x, null, null);

    /// <summary>
    /// Causal forward over a whole prompt that also writes each position's keys and values into slots [0, L) of
    /// <paramref name="keys"/> and <paramref name="values"/> ([B, H, C, hd], C ≥ L). Same values as <see cref="forward"/>.
    /// </summary>
    internal Tensor Prefill(Tensor x, Tensor keys, Tensor values) => Forward(x, keys, values);

    /// <summary>
    /// One new position per row: x [B, 1, D]. Writes its key and value at <paramref name="slots"/> ([B, H, 1, hd]
    /// int64, the row's position repeated) and attends over the cached slots that <paramref name="visible"/>
    /// ([B, 1, 1, C] bool) allows — the row's own positions up to and including the new one.
    /// </summary>
    internal Tensor Step(Tensor x, Tensor keys, Tensor values, Tensor slots, Tensor visible)
    {
        using var scope = NewDisposeScope();
        var (b, d) = (x.shape[0], x.shape[2]);
        var parts = qkv.forward(ln_1.forward(x)).view(b, 1, 3, _heads, d / _heads).permute(2, 0, 3, 1, 4); // [3, B, H, 1, hd]
        keys.scatter_(2, slots, parts[1]);
        values.scatter_(2, slots, parts[2]);
        var attended = nn.functional.scaled_dot_product_attention(parts[0], keys, values, attn_mask: visible); // [B, H, 1, hd]
        return Finish(x, attended, b, 1, d).MoveToOuterDisposeScope();
    }

    private Tensor Forward(Tensor x, Tensor? keys, Tensor? values)
    {
        using var scope = NewDisposeScope();
        var (b, l, d) = (x.shape[0], x.shape[1], x.shape[2]);
        var parts = qkv.forward(ln_1.forward(x)).view(b, l, 3, _heads, d / _heads).permute(2, 0, 3, 1, 4); // [3, B, H, L, hd]
        if (keys is not null && values is not null)
        {
            keys.narrow(2, 0, l).copy_(parts[1]);
            values.narrow(2, 0, l).copy_(parts[2]);
        }
        var attended = nn.functional.scaled_dot_product_attention(parts[0], parts[1], parts[2], is_casual: _causal); // [B, H, L, hd]
        return Finish(x, attended, b, l, d).MoveToOuterDisposeScope();
    }

    // Output projection and MLP: x + Proj(attended), then x + MLP(LN(x)).
    private Tensor Finish(Tensor x, Tensor attended, long b, long l, long d)
    {
        x = x.Plus(proj.forward(attended.transpose(1, 2).reshape(b, l, d)));                                     // [B, L, D]
        return x.Plus(fc_out.forward(nn.functional.gelu(fc_in.forward(ln_2.forward(x)))));
    }
}
