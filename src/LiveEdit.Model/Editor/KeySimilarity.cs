using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using static TorchSharp.torch;

namespace LiveEdit.Model.Editor;

/// <summary>
/// The key similarity of docs/method.md, sim(a, b) = (1/k) Σ_i ⟨a_i, b_i⟩ / √d_m, in its one definition: as tensors
/// (any float dtype, differentiable; training, generation and routing's text scores) and exactly on managed keys
/// (float64 dot product in a fixed order, scaled and rounded once to float32: the hard filter and the filter bank,
/// where a score must not depend on which other keys are scored beside it).
/// </summary>
public static class KeySimilarity
{
    /// <summary>1/(k·√d_m), the scale of every key similarity.</summary>
    public static double Scale(long keyRows, long moduleDim) => 1.0 / (keyRows * Math.Sqrt(moduleDim));

    /// <summary>All pairs: a [B, k, d_m], b [E, k, d_m] → [B, E]. One matmul over the flattened keys: Σ_i⟨a_i, b_i⟩ = ⟨vec a, vec b⟩.</summary>
    public static Tensor AllPairs(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        long k = a.shape[1], dm = a.shape[2];
        // Eq. sim(a, b) = (1/k) Σ_i ⟨a_i, b_i⟩ / √d_m
        var sim = matmul(a.reshape(a.shape[0], k * dm), b.reshape(b.shape[0], k * dm).t()) * Scale(k, dm);
        return sim.MoveToOuterDisposeScope();
    }

    /// <summary>Row by row: a, b [B, k, d_m] → [B].</summary>
    public static Tensor RowWise(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        long k = a.shape[1], dm = a.shape[2];
        // Eq. sim(a, b) = (1/k) Σ_i ⟨a_i, b_i⟩ / √d_m
        var sim = (a * b).sum([1, 2]) * Scale(k, dm);
        return sim.MoveToOuterDisposeScope();
    }

    /// <summary>Exactly, on flattened keys [k·d_m] with <paramref name="scale"/> = <see cref="Scale"/>(k, d_m).</summary>
    public static float Exact(ReadOnlySpan<float> a, ReadOnlySpan<float> b, double scale) => (float)(Dot(a, b) * scale);

    /// <summary>⟨a, b⟩ in float64 (products of floats are exact in float64), always summed in the same order.</summary>
    /// <remarks>
    /// The order: eight lanes, lane j adding the products of elements j, j + 8, j + 16, … in turn, then lanes j and j + 4
    /// added, then (0 + 2) + (1 + 3), then the tail one by one. (One 512-bit register of eight lanes does the same
    /// additions, but ran several times slower on the machines measured: two registers of four are kept.)
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static double Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        var n = a.Length;
        if (b.Length != n) throw new ArgumentException("lengths differ");
        Vector256<double> low = Vector256<double>.Zero, high = Vector256<double>.Zero;
        var i = 0;
        for (; i + 8 <= n; i += 8)
        {
            var (al, ah) = Vector256.Widen(Vector256.Create(a.Slice(i, 8)));
            var (bl, bh) = Vector256.Widen(Vector256.Create(b.Slice(i, 8)));
            low += al * bl;
            high += ah * bh;
        }
        var v = low + high;
        var sum = (v[0] + v[2]) + (v[1] + v[3]);
        for (; i < n; i++) sum += (double)a[i] * b[i];
        return sum;
    }
}
