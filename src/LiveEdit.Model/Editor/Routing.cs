using System.Numerics;
using System.Runtime.InteropServices;
using TorchSharp;
using static TorchSharp.torch;

namespace LiveEdit.Model.Editor;

/// <summary>
/// The routing and fusion equations of docs/method.md as pure tensor functions (any float dtype), shared by
/// inference, training and the float64 reference tests.
/// </summary>
public static class Routing
{
    /// <summary>sim(a, b) for all pairs: a [B, k, d_m], b [E, k, d_m] → [B, E] (<see cref="KeySimilarity.AllPairs"/>).</summary>
    public static Tensor Similarity(Tensor a, Tensor b) => KeySimilarity.AllPairs(a, b);

    /// <summary>sim(a_j, b_j) row by row: a, b [B, k, d_m] → [B] (<see cref="KeySimilarity.RowWise"/>).</summary>
    public static Tensor PairSimilarity(Tensor a, Tensor b) => KeySimilarity.RowWise(a, b);

    /// <summary>
    /// Hard filter: keep e iff sim(φ̄, φ̂_e) &gt; sim(φ̄, φ̄_Ξ). <paramref name="visual"/> [B, E],
    /// <paramref name="sentinel"/> [B] → bool [B, E].
    /// </summary>
    public static Tensor HardFilter(Tensor visual, Tensor sentinel)
    {
        // Eq. hard filter: sim(φ̄, φ̂_e) > sim(φ̄, φ̄_Ξ)
        return visual > sentinel.unsqueeze(1);
    }

    /// <summary>
    /// Soft routing over the experts switched on in <paramref name="on"/> (null: all):
    /// w_e = σ(s_e) · softmax_on(s)_e, 0 where off. <paramref name="scores"/> [B, E] → [B, E]. No top-k.
    /// </summary>
    public static Tensor SoftWeights(Tensor scores, Tensor? on = null)
    {
        using var scope = NewDisposeScope();
        Tensor weights;
        if (on is null)
        {
            // Eq. soft routing: w_e = σ(s_e) · softmax(s)_e
            weights = sigmoid(scores) * softmax(scores, 1);
        }
        else
        {
            // A large finite fill keeps rows with nothing switched on at 0 instead of NaN.
            using Scalar fill = -1e30; // held to the end (see EditAdam.Step)
            var masked = scores.masked_fill(on.logical_not(), fill);
            weights = sigmoid(scores) * softmax(masked, 1) * on.to_type(scores.dtype);
        }
        return weights.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Fused residual Σ_e w_e · ReLU(LN(h) U_eᵀ) V_e at every position: <paramref name="normed"/> = LN(h) [B, L, d],
    /// U, V [E, r, d], <paramref name="weights"/> [B, E] → [B, L, d].
    /// </summary>
    public static Tensor FusedResidual(Tensor normed, Tensor u, Tensor v, Tensor weights)
    {
        using var scope = NewDisposeScope();
        long b = normed.shape[0], l = normed.shape[1], d = normed.shape[2];
        long e = u.shape[0], r = u.shape[1];
        // Eq. fusion: ĥ - h = Σ_e w_e · ReLU(LN(h) U_eᵀ) V_e
        var activations = nn.functional.relu(matmul(normed.reshape(b, l, d), u.reshape(e * r, d).t()));    // [B, L, E·r]
        var scaled = activations * weights.unsqueeze(2).expand(b, e, r).reshape(b, 1, e * r);              // [B, L, E·r]
        var residual = matmul(scaled, v.reshape(e * r, d));                                                 // [B, L, d]
        return residual.MoveToOuterDisposeScope();
    }
}

/// <summary>
/// One input's fusion operands, settled once per query from its survivors: U of every survivor stacked [S·r, d] and
/// each survivor's V scaled by its weight, w_e·V_e, stacked [S·r, d]. Then
/// Σ_e w_e · ReLU(LN(h) U_eᵀ) V_e = ReLU(LN(h) Uᵀ) (wV), one matrix product each side of the ReLU, at any number of
/// survivors (the ReLU sits between the two factors, so they cannot be multiplied out into one d×d matrix).
/// </summary>
internal sealed class FusionOperands : IDisposable
{
    private readonly Tensor u;
    private readonly Tensor ut;
    private readonly Tensor weightedV;

    private FusionOperands(Tensor u, Tensor weightedV)
    {
        this.u = u;
        this.weightedV = weightedV;
        ut = u.t();
    }

    /// <summary>Rank-one parts (S·r).</summary>
    public long Parts => u.shape[0];

    /// <summary>
    /// From the experts of <paramref name="survivors"/> and their <paramref name="weights"/>, copied and scaled in managed
    /// memory straight into the operands' storage (no tensor per expert), on <paramref name="device"/> (the CPU when null).
    /// </summary>
    public static FusionOperands Of(IReadOnlyList<Expert> survivors, ReadOnlySpan<float> weights, Device? device = null)
    {
        if (survivors.Count == 0 || survivors.Count != weights.Length) throw new ArgumentException("one weight per survivor, at least one survivor");
        int rank = survivors[0].Rank, d = survivors[0].HiddenSize, rd = rank * d;
        var u = empty(survivors.Count * rank, d);
        var v = empty(survivors.Count * rank, d);
        var us = MemoryMarshal.Cast<byte, float>(u.bytes);
        var vs = MemoryMarshal.Cast<byte, float>(v.bytes);
        for (var e = 0; e < survivors.Count; e++)
        {
            var x = survivors[e];
            x.U.CopyTo(us.Slice(e * rd, rd));
            // Eq. fusion: the weight w_e folded into V_e, once per query.
            Scale(x.V, weights[e], vs.Slice(e * rd, rd));
        }
        // Written through host spans on the CPU, then moved to the model's device (never host writes into device memory).
        if (device is null || device.type == DeviceType.CPU) return new FusionOperands(u, v);
        return new FusionOperands(u.to(device), v.to(device));
    }

    private static void Scale(ReadOnlySpan<float> source, float factor, Span<float> target)
    {
        var i = 0;
        var by = new Vector<float>(factor);
        for (; i + Vector<float>.Count <= source.Length; i += Vector<float>.Count) (new Vector<float>(source[i..]) * by).CopyTo(target[i..]);
        for (; i < source.Length; i++) target[i] = source[i] * factor;
    }

    /// <summary>
    /// h + Σ_e w_e · ReLU(LN(h) U_eᵀ) V_e for <paramref name="hidden"/> [L, d] and <paramref name="normed"/> = LN(h) [L, d]:
    /// three kernels (two matrix products, the ReLU in place), the addition inside the second product.
    /// </summary>
    public Tensor AddTo(Tensor hidden, Tensor normed) =>
        addmm(hidden, mm(normed, ut).relu_(), weightedV, beta: 1, alpha: 1);   // Eq. ĥ = h + ReLU(LN(h) Uᵀ)(wV)

    /// <summary>Takes the tensors out of the current dispose scope (they outlive one decoding step).</summary>
    public FusionOperands Keep()
    {
        u.DetachFromDisposeScope();
        ut.DetachFromDisposeScope();
        weightedV.DetachFromDisposeScope();
        return this;
    }

    public void Dispose()
    {
        ut.Dispose();
        u.Dispose();
        weightedV.Dispose();
    }
}
