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
        return FusedResidual(normed, FusionOperands.Of(u, v, weights)).MoveToOuterDisposeScope();
    }

    /// <summary>The fused residual with operands prepared once (they do not change while decoding).</summary>
    internal static Tensor FusedResidual(Tensor normed, FusionOperands operands)
    {
        using var scope = NewDisposeScope();
        long b = normed.shape[0], l = normed.shape[1], d = normed.shape[2];
        // Eq. fusion: ĥ - h = Σ_e w_e · ReLU(LN(h) U_eᵀ) V_e
        var activations = nn.functional.relu(matmul(normed.reshape(b, l, d), operands.UT));     // [B, L, E·r]
        var scaled = activations * operands.Weights;                                           // [B, L, E·r]
        var residual = matmul(scaled, operands.V);                                              // [B, L, d]
        return residual.MoveToOuterDisposeScope();
    }
}

/// <summary>Fusion operands: Uᵀ [d, E·r], V [E·r, d] and each rank-one part's weight w_e [B, 1, E·r].</summary>
internal sealed record FusionOperands(Tensor UT, Tensor V, Tensor Weights) : IDisposable
{
    /// <summary>From U, V [E, r, d] and weights [B, E].</summary>
    public static FusionOperands Of(Tensor u, Tensor v, Tensor weights)
    {
        long e = u.shape[0], r = u.shape[1], d = u.shape[2];
        long b = weights.shape[0];
        return new FusionOperands(u.reshape(e * r, d).t(), v.reshape(e * r, d), weights.unsqueeze(2).expand(b, e, r).reshape(b, 1, e * r));
    }

    /// <summary>Takes the tensors out of the current dispose scope (they outlive one decoding step).</summary>
    public FusionOperands Keep()
    {
        UT.DetachFromDisposeScope();
        V.DetachFromDisposeScope();
        Weights.DetachFromDisposeScope();
        return this;
    }

    public void Dispose()
    {
        UT.Dispose();
        V.Dispose();
        Weights.Dispose();
    }
}
