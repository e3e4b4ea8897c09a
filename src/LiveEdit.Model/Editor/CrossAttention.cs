using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LiveEdit.Model.Editor;

/// <summary>
/// Multi-head cross-attention CA(q, y) = softmax(q W_q (y W_k)ᵀ / √d_head) · y W_v (docs/method.md),
/// with an optional key mask so that a batch of ranges of different lengths can share one call.
/// </summary>
/// <remarks>
/// <see cref="Attend"/> is <see cref="Queries"/>, <see cref="Inputs"/> and <see cref="Combine"/> in a row. The three
/// parts are public so that a frozen caller can keep projections that do not change (learned query seeds, the
/// vision sentinel) and reuse one projection in two attentions; the values are the same as a fresh <see cref="Attend"/>.
/// </remarks>
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
        return Combine(Queries(query), Inputs(input), mask).MoveToOuterDisposeScope();
    }

    /// <summary>The query, key and value projections and the number of heads, for a managed copy of a frozen attention.</summary>
    internal (Linear Query, Linear Key, Linear Value, int Heads) Projections => (q_mlp, k_mlp, v_mlp, heads);

    /// <summary>The projected queries q W_q, [B or 1, l1, qkDim] (not yet split into heads).</summary>
    public Tensor Queries(Tensor query) => q_mlp.forward(query);

    /// <summary>The input's per-head keys y W_k [B, H, l2, dh] and values y W_v [B, H, l2, dv].</summary>
    public HeadInputs Inputs(Tensor input)
    {
        using var scope = NewDisposeScope();
        long b = input.shape[0], l2 = input.shape[1];
        var k = k_mlp.forward(input);
        k = k.reshape(b, l2, heads, k.shape[2] / heads).transpose(1, 2);   // [B, H, l2, dh]
        var v = v_mlp.forward(input);
        v = v.reshape(b, l2, heads, v.shape[2] / heads).transpose(1, 2);   // [B, H, l2, dv]
        return new HeadInputs(k.MoveToOuterDisposeScope(), v.MoveToOuterDisposeScope());
    }

    /// <summary>
    /// Attention of projected queries <paramref name="projected"/> [B or 1, l1, qkDim] over <paramref name="inputs"/>
    /// (batch B, or 1 to share one input across the batch) → [B, l1, valueDim].
    /// </summary>
    public Tensor Combine(Tensor projected, HeadInputs inputs, Tensor? mask = null)
    {
        using var scope = NewDisposeScope();
        var b = Math.Max(projected.shape[0], inputs.Keys.shape[0]);
        var l1 = projected.shape[1];
        var l2 = inputs.Keys.shape[2];
        var q = projected.shape[0] != b ? projected.expand(b, l1, projected.shape[2]) : projected;
        var dh = q.shape[2] / heads;
        q = q.reshape(b, l1, heads, dh).transpose(1, 2);                                      // [B, H, l1, dh]
        var k = inputs.Keys.shape[0] != b ? inputs.Keys.expand(b, -1, -1, -1) : inputs.Keys;  // [B, H, l2, dh]
        var v = inputs.Values.shape[0] != b ? inputs.Values.expand(b, -1, -1, -1) : inputs.Values;
        // Scalars held to the end (see EditAdam.Step: an implicit one may be finalized while native code reads it).
        using Scalar scale = 1.0 / Math.Sqrt(dh), minusInfinity = float.NegativeInfinity;
        var scores = matmul(q, k.transpose(2, 3)) * scale;                                    // [B, H, l1, l2]
        if (mask is not null) scores = scores.masked_fill(mask.logical_not().reshape(b, 1, 1, l2), minusInfinity);
        var attention = softmax(scores, -1);
        var result = matmul(attention, v).transpose(1, 2).reshape(b, l1, heads * v.shape[3]); // [B, l1, H·dv]
        return result.MoveToOuterDisposeScope();
    }
}

/// <summary>An attended input split into heads: keys [B, H, l2, dh] and values [B, H, l2, dv].</summary>
public sealed record HeadInputs(Tensor Keys, Tensor Values) : IDisposable
{
    /// <summary>Takes both tensors out of the current dispose scope.</summary>
    public HeadInputs Detached()
    {
        Keys.DetachFromDisposeScope();
        Values.DetachFromDisposeScope();
        return this;
    }

    public void Dispose()
    {
        Keys.Dispose();
        Values.Dispose();
    }
}
