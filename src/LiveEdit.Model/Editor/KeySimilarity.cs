using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
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
            low = MultiplyAdd(al, bl, low);
            high = MultiplyAdd(ah, bh, high);
        }
        return Finish(low + high, a, b, i);
    }

    /// <summary>
    /// <see cref="Exact"/> of q against four keys at once (<see cref="Dot4"/>, then the same rounding): the same bits as four
    /// calls of <see cref="Exact"/>.
    /// </summary>
    internal static void Exact4(ReadOnlySpan<float> q, ReadOnlySpan<float> r0, ReadOnlySpan<float> r1, ReadOnlySpan<float> r2, ReadOnlySpan<float> r3,
        double scale, Span<float> scores)
    {
        Span<double> sums = stackalloc double[4];
        Dot4(q, r0, r1, r2, r3, sums);
        for (var k = 0; k < 4; k++) scores[k] = (float)(sums[k] * scale);
    }

    /// <summary>
    /// ⟨q, r_j⟩ of four keys at once, each in <see cref="Dot"/>'s order (the same bits as four calls): q is loaded and
    /// widened once per step, and the four independent sums keep the core busy while one row's reads wait on memory.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Dot4(ReadOnlySpan<float> q, ReadOnlySpan<float> r0, ReadOnlySpan<float> r1, ReadOnlySpan<float> r2, ReadOnlySpan<float> r3,
        Span<double> sums)
    {
        var n = q.Length;
        if (r0.Length != n || r1.Length != n || r2.Length != n || r3.Length != n || sums.Length < 4) throw new ArgumentException("lengths differ");
        Vector256<double> l0 = default, h0 = default, l1 = default, h1 = default, l2 = default, h2 = default, l3 = default, h3 = default;
        var i = 0;
        for (; i + 8 <= n; i += 8)
        {
            var (ql, qh) = Vector256.Widen(Vector256.Create(q.Slice(i, 8)));
            var (al, ah) = Vector256.Widen(Vector256.Create(r0.Slice(i, 8)));
            l0 = MultiplyAdd(ql, al, l0);
            h0 = MultiplyAdd(qh, ah, h0);
            (al, ah) = Vector256.Widen(Vector256.Create(r1.Slice(i, 8)));
            l1 = MultiplyAdd(ql, al, l1);
            h1 = MultiplyAdd(qh, ah, h1);
            (al, ah) = Vector256.Widen(Vector256.Create(r2.Slice(i, 8)));
            l2 = MultiplyAdd(ql, al, l2);
            h2 = MultiplyAdd(qh, ah, h2);
            (al, ah) = Vector256.Widen(Vector256.Create(r3.Slice(i, 8)));
            l3 = MultiplyAdd(ql, al, l3);
            h3 = MultiplyAdd(qh, ah, h3);
        }
        sums[0] = Finish(l0 + h0, q, r0, i);
        sums[1] = Finish(l1 + h1, q, r1, i);
        sums[2] = Finish(l2 + h2, q, r2, i);
        sums[3] = Finish(l3 + h3, q, r3, i);
    }

    /// <summary>
    /// c + a·b for float64 lanes holding float32 values: their product is exact in float64 (24 + 24 significant bits, and
    /// no float32 product leaves float64's normal range), so a fused multiply-add rounds exactly where a multiplication
    /// and an addition do, and gives the same bits with one instruction instead of two.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<double> MultiplyAdd(Vector256<double> a, Vector256<double> b, Vector256<double> c) =>
        Fma.IsSupported ? Fma.MultiplyAdd(a, b, c) : c + a * b;

    /// <summary>
    /// Asks the core to start reading <paramref name="key"/> into its caches while it works on other keys: a hint that
    /// changes no result. Scores of keys spread over a large store otherwise wait on memory at the start of every key.
    /// </summary>
    internal static unsafe void Prefetch(ReadOnlySpan<float> key)
    {
        if (!Sse.IsSupported) return;
        fixed (float* start = key)
            for (var i = 0; i < key.Length; i += 16) Sse.Prefetch0(start + i);
    }

    private static double Finish(Vector256<double> v, ReadOnlySpan<float> a, ReadOnlySpan<float> b, int i)
    {
        var sum = (v[0] + v[2]) + (v[1] + v[3]);
        for (; i < a.Length; i++) sum += (double)a[i] * b[i];
        return sum;
    }
}
