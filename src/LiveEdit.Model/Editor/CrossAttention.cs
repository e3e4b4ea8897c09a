using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LiveEdit.Model.Editor;

/// <summary>
/// Multi-head cross-attention CA(q, y) = softmax(q W_q (y W_k)ᵀ / √d_head) · y W_v (DESIGN.md §5.2),
/// with an optional key mask so that a batch of ranges of different lengths can share one call.
/// </summary>
public sealed class CrossAttention : nn.Module
{
    private readonly Linear q_mlp;
    private readonly Linear k_mlp;
    private readonly Linear v_mlp;
    private readonly int heads;

    public CrossAttention(int queryDim, int inputDim, int qkDim, int valueDim, int heads) : base(nameof(CrossAttention))
    {
        if (qkDim % heads != 0 || valueDim % heads != 0) throw new ArgumentException($"qk {qkDim} and v {valueDim} must divide by {heads} heads");
        this.heads = heads;
        q_mlp = nn.Linear(queryDim, qkDim);
        k_mlp = nn.Linear(inputDim, qkDim);
        v_mlp = nn.Linear(inputDim, valueDim);
        RegisterComponents();
    }

    /// <summary>
    /// <paramref name="query"/> [B or 1, l1, d1], <paramref name="input"/> [B, l2, d2],
    /// <paramref name="mask"/> [B, l2] bool (true = attend) or null → [B, l1, valueDim].
    /// </summary>
    public Tensor Attend(Tensor query, Tensor input, Tensor? mask = null)
    {
        using var scope = NewDisposeScope();
        var b = input.shape[0];
        var l1 = query.shape[1];
        var l2 = input.shape[1];
        var q = q_mlp.forward(query);
        if (q.shape[0] != b) q = q.expand(b, l1, q.shape[2]);
        var dh = q.shape[2] / heads;
        q = q.reshape(b, l1, heads, dh).transpose(1, 2);                       // [B, H, l1, dh]
        var k = k_mlp.forward(input).reshape(b, l2, heads, dh).transpose(1, 2); // [B, H, l2, dh]
        var v = v_mlp.forward(input);
        var dv = v.shape[2] / heads;
        v = v.reshape(b, l2, heads, dv).transpose(1, 2);                        // [B, H, l2, dv]
        var scores = matmul(q, k.transpose(2, 3)) * (1.0 / Math.Sqrt(dh));      // [B, H, l1, l2]
        if (mask is not null) scores = scores.masked_fill(mask.logical_not().reshape(b, 1, 1, l2), float.NegativeInfinity);
        var attention = softmax(scores, -1);
        var result = matmul(attention, v).transpose(1, 2).reshape(b, l1, heads * dv); // [B, l1, H·dv]
        return result.MoveToOuterDisposeScope();
    }
}
