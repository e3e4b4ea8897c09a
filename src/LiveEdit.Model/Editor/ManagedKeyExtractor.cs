using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LiveEdit.Model.Editor;

/// <summary>
/// The input-side key extractor of a frozen editor in managed code (docs/routing-at-scale.md): φ̄ = CA_2(CA_1(Θ_1,
/// LN_1(h_p)), LN_1(h_v)), φ̄_Ξ with Ξ in place of h_v, and ψ̄ = CA_3(Θ_2, LN_2(h_p)) for one input at a time, with the
/// weights read once into arrays. Every sum runs in one fixed order with separately rounded products and additions
/// (fixed lane counts, no fused multiply-add, no width that depends on the machine), and the softmax's exponential is
/// computed here from additions and multiplications alone, so the keys have the same bits on every x64 machine. They
/// equal the tensor road's within float32 rounding, not bit for bit. The paper's extractor only: an editor with
/// vision-token blocks keeps the tensor road.
/// </summary>
internal sealed class ManagedKeyExtractor
{
    private readonly ManagedLayerNorm norm1, norm2;
    private readonly ManagedAttention visualSeeds, visual, text;
    private readonly float[] seeds1, seeds2;                  // Θ_1 W_q + b, Θ_2 W_q + b [k, d_m]
    private readonly float[] sentinelKeys, sentinelValues;    // LN_1(Ξ) W_k + b, LN_1(Ξ) W_v + b [N_v, d_m]
    private readonly int keyRows, moduleDim, hidden;

    public ManagedKeyExtractor(LayerNorm layerNorm1, Tensor eqe1, CrossAttention ca1, CrossAttention ca2,
        LayerNorm layerNorm2, Tensor eqe2, CrossAttention ca3, Tensor sentinel)
    {
        norm1 = new ManagedLayerNorm(layerNorm1);
        norm2 = new ManagedLayerNorm(layerNorm2);
        visualSeeds = new ManagedAttention(ca1);
        visual = new ManagedAttention(ca2);
        text = new ManagedAttention(ca3);
        keyRows = (int)eqe1.shape[1];
        moduleDim = (int)eqe1.shape[2];
        hidden = norm1.Width;
        seeds1 = new float[keyRows * moduleDim];
        seeds2 = new float[keyRows * moduleDim];
        visualSeeds.Query.Apply(ManagedLinear.Host(eqe1), keyRows, seeds1);
        text.Query.Apply(ManagedLinear.Host(eqe2), keyRows, seeds2);
        var tokens = (int)sentinel.shape[1];
        var normed = new float[tokens * hidden];
        norm1.Apply(ManagedLinear.Host(sentinel), tokens, normed);
        sentinelKeys = new float[tokens * moduleDim];
        sentinelValues = new float[tokens * moduleDim];
        visual.Key.Apply(normed, tokens, sentinelKeys);
        visual.Value.Apply(normed, tokens, sentinelValues);
    }

    /// <summary>Floats of one key, k·d_m.</summary>
    public int KeyLength => keyRows * moduleDim;

    /// <summary>d, the width of the hidden states read.</summary>
    public int Width => hidden;

    /// <summary>
    /// The keys of one input: prompt states [l_p, d] and vision states [N_v, d] → φ̄, φ̄_Ξ, ψ̄ [k·d_m] each.
    /// </summary>
    public void Compute(ReadOnlySpan<float> prompt, ReadOnlySpan<float> vision, Span<float> visualKey, Span<float> sentinelKey, Span<float> textKey)
    {
        int lp = prompt.Length / hidden, nv = vision.Length / hidden, dm = moduleDim;
        var normed = new float[Math.Max(lp, nv) * hidden];
        var keys = new float[Math.Max(lp, nv) * dm];
        var values = new float[Math.Max(lp, nv) * dm];
        var conditioned = new float[keyRows * dm];
        var queries = new float[keyRows * dm];
        // CA_1(Θ_1, LN_1(h_p)), then its projection by CA_2's W_q (shared by φ̄ and φ̄_Ξ).
        norm1.Apply(prompt, lp, normed);
        visualSeeds.Key.Apply(normed, lp, keys);
        visualSeeds.Value.Apply(normed, lp, values);
        visualSeeds.Combine(seeds1, keyRows, keys, values, lp, conditioned);
        visual.Query.Apply(conditioned, keyRows, queries);
        // ψ̄ = CA_3(Θ_2, LN_2(h_p))
        norm2.Apply(prompt, lp, normed);
        text.Key.Apply(normed, lp, keys);
        text.Value.Apply(normed, lp, values);
        text.Combine(seeds2, keyRows, keys, values, lp, textKey);
        // φ̄ over LN_1(h_v), φ̄_Ξ over the kept projections of LN_1(Ξ).
        norm1.Apply(vision, nv, normed);
        visual.Key.Apply(normed, nv, keys);
        visual.Value.Apply(normed, nv, values);
        visual.Combine(queries, keyRows, keys, values, nv, visualKey);
        visual.Combine(queries, keyRows, sentinelKeys, sentinelValues, sentinelKeys.Length / dm, sentinelKey);
    }
}

/// <summary>
/// y = x Wᵀ + b row by row: each output ⟨W_o, x⟩ in float64 in <see cref="KeySimilarity.Dot"/>'s order (the same bits),
/// plus the bias, rounded once to float32. The weights are kept widened to float64 and four outputs share each pass
/// over x.
/// </summary>
internal sealed class ManagedLinear
{
    private readonly double[] weight;   // [out, in], float32 values widened
    private readonly float[] bias;

    public ManagedLinear(Linear linear)
    {
        weight = Array.ConvertAll(Host(linear.weight!), w => (double)w);
        bias = linear.bias is null ? new float[linear.weight!.shape[0]] : Host(linear.bias);
        Out = (int)linear.weight!.shape[0];
        In = (int)linear.weight!.shape[1];
    }

    public int In { get; }
    public int Out { get; }

    /// <summary><paramref name="x"/> [rows, In] → <paramref name="y"/> [rows, Out].</summary>
    public void Apply(ReadOnlySpan<float> x, int rows, Span<float> y)
    {
        ReadOnlySpan<double> w = weight;
        Span<double> wide = In <= 2048 ? stackalloc double[In] : new double[In];
        Span<double> sums = stackalloc double[4];
        for (var r = 0; r < rows; r++)
        {
            var row = x.Slice(r * In, In);
            for (var i = 0; i < In; i++) wide[i] = row[i];
            var target = y.Slice(r * Out, Out);
            var o = 0;
            for (; o + 4 <= Out; o += 4)
            {
                ManagedMath.Dot4(w.Slice(o * In, 4 * In), wide, sums);
                for (var j = 0; j < 4; j++) target[o + j] = (float)(sums[j] + bias[o + j]);
            }
            for (; o < Out; o++) target[o] = (float)(ManagedMath.Dot(w.Slice(o * In, In), wide) + bias[o]);
        }
    }

    /// <summary>A tensor's values as float32 on the host.</summary>
    public static float[] Host(Tensor t)
    {
        using var scope = NewDisposeScope();
        return t.detach().cpu().to_type(ScalarType.Float32).contiguous().data<float>().ToArray();
    }
}

/// <summary>LN(x) = (x − mean) / √(var + ε) · γ + β per row, mean and variance in float64.</summary>
internal sealed class ManagedLayerNorm
{
    private readonly float[] gamma, beta;
    private readonly double eps;

    public ManagedLayerNorm(LayerNorm norm)
    {
        gamma = ManagedLinear.Host(norm.weight!);
        beta = norm.bias is null ? new float[gamma.Length] : ManagedLinear.Host(norm.bias);
        eps = norm.eps;
    }

    public int Width => gamma.Length;

    /// <summary><paramref name="x"/> [rows, d] → <paramref name="y"/> [rows, d].</summary>
    public void Apply(ReadOnlySpan<float> x, int rows, Span<float> y)
    {
        var d = gamma.Length;
        for (var r = 0; r < rows; r++)
        {
            var row = x.Slice(r * d, d);
            var target = y.Slice(r * d, d);
            double sum = 0;
            for (var i = 0; i < d; i++) sum += row[i];
            var mean = sum / d;
            double squares = 0;
            for (var i = 0; i < d; i++)
            {
                var c = row[i] - mean;
                squares += c * c;
            }
            var inverse = 1.0 / Math.Sqrt(squares / d + eps);
            for (var i = 0; i < d; i++) target[i] = (float)((row[i] - mean) * inverse) * gamma[i] + beta[i];
        }
    }
}

/// <summary>CA(q, y) = softmax(q W_q (y W_k)ᵀ / √d_head) · y W_v over heads, on managed arrays.</summary>
internal sealed class ManagedAttention
{
    private readonly int heads;

    public ManagedAttention(CrossAttention attention)
    {
        var (q, k, v, h) = attention.Projections;
        Query = new ManagedLinear(q);
        Key = new ManagedLinear(k);
        Value = new ManagedLinear(v);
        heads = h;
    }

    public ManagedLinear Query { get; }
    public ManagedLinear Key { get; }
    public ManagedLinear Value { get; }

    /// <summary>
    /// Projected queries [l1, qk], keys [l2, qk] and values [l2, dv] → [l1, dv]: per head, the scores scaled by
    /// 1/√d_head, their softmax, and the values weighted by it, added position by position in order.
    /// </summary>
    public void Combine(ReadOnlySpan<float> queries, int l1, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, int l2, Span<float> result)
    {
        int qk = Query.Out, dv = Value.Out, dh = qk / heads, dvh = dv / heads;
        var scale = 1.0 / Math.Sqrt(dh);
        Span<float> scores = l2 <= 256 ? stackalloc float[l2] : new float[l2];
        Span<double> exps = l2 <= 256 ? stackalloc double[l2] : new double[l2];
        for (var i = 0; i < l1; i++)
            for (var h = 0; h < heads; h++)
            {
                var q = queries.Slice(i * qk + h * dh, dh);
                var max = float.NegativeInfinity;
                for (var t = 0; t < l2; t++)
                {
                    scores[t] = (float)(KeySimilarity.Dot(q, keys.Slice(t * qk + h * dh, dh)) * scale);
                    if (scores[t] > max) max = scores[t];
                }
                double total = 0;
                for (var t = 0; t < l2; t++) total += exps[t] = ManagedMath.Exp((double)scores[t] - max);
                var target = result.Slice(i * dv + h * dvh, dvh);
                target.Clear();
                for (var t = 0; t < l2; t++) ManagedMath.AddScaled(target, (float)(exps[t] / total), values.Slice(t * dv + h * dvh, dvh));
            }
    }
}

/// <summary>Arithmetic with one fixed order of rounding on every x64 machine.</summary>
internal static class ManagedMath
{
    /// <summary>⟨a, b⟩ of float64 vectors holding float32 values, in <see cref="KeySimilarity.Dot"/>'s order (the same bits).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        var n = a.Length;
        if (b.Length != n) throw new ArgumentException("lengths differ");
        Vector256<double> low = Vector256<double>.Zero, high = Vector256<double>.Zero;
        var i = 0;
        for (; i + 8 <= n; i += 8)
        {
            low = KeySimilarity.MultiplyAdd(Vector256.Create(a.Slice(i, 4)), Vector256.Create(b.Slice(i, 4)), low);
            high = KeySimilarity.MultiplyAdd(Vector256.Create(a.Slice(i + 4, 4)), Vector256.Create(b.Slice(i + 4, 4)), high);
        }
        var v = low + high;
        var sum = (v[0] + v[2]) + (v[1] + v[3]);
        for (; i < n; i++) sum += a[i] * b[i];
        return sum;
    }

    /// <summary>
    /// Four dot products at once, rows [4, n] of <paramref name="rows"/> against <paramref name="x"/> [n], each in
    /// <see cref="Dot(ReadOnlySpan{double}, ReadOnlySpan{double})"/>'s order: the same bits as four calls, with x loaded once.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Dot4(ReadOnlySpan<double> rows, ReadOnlySpan<double> x, Span<double> sums)
    {
        var n = x.Length;
        if (rows.Length != 4 * n || sums.Length < 4) throw new ArgumentException("four rows of x's length");
        ReadOnlySpan<double> r0 = rows[..n], r1 = rows.Slice(n, n), r2 = rows.Slice(2 * n, n), r3 = rows.Slice(3 * n, n);
        Vector256<double> l0 = default, h0 = default, l1 = default, h1 = default, l2 = default, h2 = default, l3 = default, h3 = default;
        var i = 0;
        for (; i + 8 <= n; i += 8)
        {
            var xl = Vector256.Create(x.Slice(i, 4));
            var xh = Vector256.Create(x.Slice(i + 4, 4));
            l0 = KeySimilarity.MultiplyAdd(Vector256.Create(r0.Slice(i, 4)), xl, l0);
            h0 = KeySimilarity.MultiplyAdd(Vector256.Create(r0.Slice(i + 4, 4)), xh, h0);
            l1 = KeySimilarity.MultiplyAdd(Vector256.Create(r1.Slice(i, 4)), xl, l1);
            h1 = KeySimilarity.MultiplyAdd(Vector256.Create(r1.Slice(i + 4, 4)), xh, h1);
            l2 = KeySimilarity.MultiplyAdd(Vector256.Create(r2.Slice(i, 4)), xl, l2);
            h2 = KeySimilarity.MultiplyAdd(Vector256.Create(r2.Slice(i + 4, 4)), xh, h2);
            l3 = KeySimilarity.MultiplyAdd(Vector256.Create(r3.Slice(i, 4)), xl, l3);
            h3 = KeySimilarity.MultiplyAdd(Vector256.Create(r3.Slice(i + 4, 4)), xh, h3);
        }
        sums[0] = Finish(l0 + h0, r0, x, i);
        sums[1] = Finish(l1 + h1, r1, x, i);
        sums[2] = Finish(l2 + h2, r2, x, i);
        sums[3] = Finish(l3 + h3, r3, x, i);
    }

    private static double Finish(Vector256<double> v, ReadOnlySpan<double> a, ReadOnlySpan<double> b, int i)
    {
        var sum = (v[0] + v[2]) + (v[1] + v[3]);
        for (; i < a.Length; i++) sum += a[i] * b[i];
        return sum;
    }

    /// <summary>
    /// Soft routing on managed scores: w_e = σ(s_e)·softmax(s)_e, in float64 (the exponentials from <see cref="Exp"/>,
    /// the sum in order), each weight rounded once to float32.
    /// </summary>
    public static void SoftWeights(ReadOnlySpan<float> scores, Span<float> weights)
    {
        var max = double.NegativeInfinity;
        foreach (var s in scores) max = Math.Max(max, s);
        var exps = scores.Length <= 1024 ? stackalloc double[scores.Length] : new double[scores.Length];
        double total = 0;
        for (var j = 0; j < scores.Length; j++) total += exps[j] = Exp(scores[j] - max);
        for (var j = 0; j < scores.Length; j++)
        {
            double s = scores[j];
            var e = Exp(-Math.Abs(s));
            var sigmoid = s >= 0 ? 1 / (1 + e) : e / (1 + e);
            weights[j] = (float)(sigmoid * (exps[j] / total));
        }
    }

    /// <summary>target += factor · source, element by element (each product rounded, then added).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void AddScaled(Span<float> target, float factor, ReadOnlySpan<float> source)
    {
        var i = 0;
        var by = Vector256.Create(factor);
        for (; i + 8 <= target.Length; i += 8)
            (Vector256.Create((ReadOnlySpan<float>)target.Slice(i, 8)) + Vector256.Create(source.Slice(i, 8)) * by).CopyTo(target.Slice(i, 8));
        for (; i < target.Length; i++) target[i] += factor * source[i];
    }

    // ln 2 split so that n·Ln2High is exact for |n| < 2¹¹ (the fdlibm constants).
    private const double Ln2High = 6.93147180369123816490e-01, Ln2Low = 1.90821492927058770002e-10, Log2E = 1.44269504088896338700e+00;

    /// <summary>
    /// eˣ for x ≤ 0 from additions and multiplications only (the C library's exp may take another road on a CPU with
    /// FMA): x = n·ln 2 + r with |r| ≤ ln 2 / 2, e^r by its Taylor series to r¹³ (error below 10⁻¹⁷), times 2ⁿ.
    /// </summary>
    public static double Exp(double x)
    {
        if (x < -745.2) return 0;
        if (x > 709) throw new ArgumentOutOfRangeException(nameof(x), "only for the softmax's x ≤ 0");
        var n = Math.Round(x * Log2E);
        var r = (x - n * Ln2High) - n * Ln2Low;
        var p = 1.0 / 6227020800;                                  // 1/13!
        p = p * r + 1.0 / 479001600;
        p = p * r + 1.0 / 39916800;
        p = p * r + 1.0 / 3628800;
        p = p * r + 1.0 / 362880;
        p = p * r + 1.0 / 40320;
        p = p * r + 1.0 / 5040;
        p = p * r + 1.0 / 720;
        p = p * r + 1.0 / 120;
        p = p * r + 1.0 / 24;
        p = p * r + 1.0 / 6;
        p = p * r + 0.5;
        p = p * r + 1.0;
        p = p * r + 1.0;
        return Math.ScaleB(p, (int)n);
    }
}
