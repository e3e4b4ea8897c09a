using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using static TorchSharp.torch;

namespace LiveEdit.Model.Editor;

/// <summary>
/// The active experts' visual keys φ̂_e, flattened to [E, k·d_m], for the hard filter sim(φ̄, φ̂_e) &gt; sim(φ̄, φ̄_Ξ)
/// (docs/method.md). Each similarity is one float64 dot product in a fixed order, scaled and rounded once to
/// float32, so an expert's score never depends on which other experts are active or scored alongside it.
/// </summary>
/// <remarks>
/// With a <see cref="VisualKeyBasis"/> P (orthonormal, p rows) the index also keeps, per expert, the coefficients
/// c_e = P φ̂_e and the residual norm ρ_e = |φ̂_e − Pᵀc_e|. Then ⟨q, φ̂_e⟩ ≤ ⟨Pq, c_e⟩ + |q_⊥|·ρ_e, and an expert whose
/// bound (plus a tolerance far above float rounding) is not above the threshold cannot pass: it is skipped without
/// its exact score. The survivors and their scores are exactly those of scoring every expert.
/// </remarks>
public sealed class VisualFilterIndex : IVisualKeyIndex
{
    /// <summary>Dimensions of the bound's basis.</summary>
    public const int BoundRank = 48;
    /// <summary>Below this many experts scoring all of them is as cheap as bounding them.</summary>
    public const int MinExpertsForBound = 1024;
    // Relative to |q|·|φ̂_e|. Coefficients and residuals are float32 matrix products over k·d_m terms: their worst-case
    // rounding (Higham's γ_n bounds) is about k·d_m·√p·2⁻²⁴ of |q|·|φ̂_e| (3e-4 at k·d_m = 384, p = 48), typically
    // 1e-6. The bound is summed in float32 over p terms (≈ p·2⁻²⁴), the exact scores in float64.
    private const double Tolerance = 1e-2;
    private const int Lanes = 8;

    private readonly float[] keys;           // [E, D]
    private readonly double scale;
    // The bound's data in blocks of 8 experts (zero-padded), so that one vector holds 8 experts' bounds:
    private readonly float[]? coefficients;  // c_e: [⌈E/8⌉, p, 8]
    private readonly float[]? residuals;     // ρ_e: [⌈E/8⌉·8]
    private readonly float[]? norms;         // |φ̂_e|: [⌈E/8⌉·8]
    private readonly float[]? offsets;       // per-expert threshold offsets λ·o_e [E] (hubness correction), or null
    private readonly float lowestOffset;

    /// <param name="keys">Flattened keys, row-major [count, keyRows·moduleDim]; kept, not copied.</param>
    /// <param name="basis">The bound's basis, or null for no bound.</param>
    /// <param name="terms">The keys' <see cref="VisualKeyBasis.Terms"/> in <paramref name="basis"/> when already known.</param>
    /// <param name="offsets">Per expert, an amount added to the threshold (the hubness correction λ·o_e); null: none.</param>
    public VisualFilterIndex(float[] keys, int count, int keyRows, int moduleDim, VisualKeyBasis? basis = null, KeyTerms? terms = null, float[]? offsets = null)
    {
        if (offsets is not null && offsets.Length != count) throw new ArgumentException($"{offsets.Length} offsets for {count} experts");
        this.offsets = offsets;
        lowestOffset = offsets is { Length: > 0 } ? offsets.Min() : 0f;
        Dim = keyRows * moduleDim;
        if (keys.Length != (long)count * Dim) throw new ArgumentException($"keys must hold {count}·{Dim} values");
        if (basis is not null && basis.Dim != Dim) throw new ArgumentException($"the basis has dimension {basis.Dim}, not {Dim}");
        this.keys = keys;
        Count = count;
        scale = KeySimilarity.Scale(keyRows, moduleDim);
        Basis = count == 0 ? null : basis;
        if (Basis is null) return;
        terms ??= Basis.Terms(keys, count);
        if (terms.Norms.Length != count) throw new ArgumentException($"terms for {terms.Norms.Length} keys, not {count}");
        var rank = Basis.Rank;
        var padded = (count + Lanes - 1) / Lanes * Lanes;
        coefficients = new float[padded * rank];
        for (var e = 0; e < count; e++)
            for (var j = 0; j < rank; j++) coefficients[((e / Lanes) * rank + j) * Lanes + e % Lanes] = terms.Coefficients[e * rank + j];
        residuals = new float[padded];
        norms = new float[padded];
        terms.Residuals.CopyTo(residuals, 0);
        terms.Norms.CopyTo(norms, 0);
    }

    /// <summary>Number of experts.</summary>
    public int Count { get; }
    /// <summary>k·d_m.</summary>
    public int Dim { get; }
    /// <summary>The bound's basis; null when every expert is scored.</summary>
    public VisualKeyBasis? Basis { get; }
    /// <summary>Experts scored exactly by the last <see cref="Passing"/> (the rest were ruled out by the bound).</summary>
    internal int LastScored { get; private set; }

    /// <summary>sim(q, φ̂_e) for a flattened query key q [k·d_m].</summary>
    public float Similarity(ReadOnlySpan<float> query, int expert) => KeySimilarity.Exact(query, keys.AsSpan(expert * Dim, Dim), scale);

    /// <summary>sim(q, φ̂_e) for every expert, in index order.</summary>
    public float[] Similarities(ReadOnlySpan<float> query)
    {
        if (query.Length != Dim) throw new ArgumentException($"query has {query.Length} values, not {Dim}");
        var result = new float[Count];
        for (var e = 0; e < Count; e++) result[e] = Similarity(query, e);
        return result;
    }

    /// <summary>The threshold offset of expert <paramref name="expert"/> (0 without offsets).</summary>
    public float Offset(int expert) => offsets?[expert] ?? 0f;

    /// <summary>
    /// Hard filter: the experts with sim(q, φ̂_e) &gt; <paramref name="threshold"/> (+ the expert's offset), ascending, with their scores.
    /// <paramref name="useBound"/> false scores every expert (the same result, for tests).
    /// </summary>
    // Fully optimised from the first call (no tier-0 code): a server's first queries and short benchmarks run it only
    // a few dozen times, too few for tiered compilation to promote its loops.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public List<(int Expert, float Similarity)> Passing(ReadOnlySpan<float> query, float threshold, bool useBound = true)
    {
        if (query.Length != Dim) throw new ArgumentException($"query has {query.Length} values, not {Dim}");
        var result = new List<(int, float)>();
        if (!useBound || Basis is null)
        {
            LastScored = Count;
            for (var e = 0; e < Count; e++)
            {
                var s = Similarity(query, e);
                if (s > threshold + Offset(e)) result.Add((e, s));     // Eq. hard filter: sim(φ̄, φ̂_e) > sim(φ̄, φ̄_Ξ)
            }
            return result;
        }
        var rank = Basis.Rank;
        // |q_⊥|² = |q|² − |Pq|² (P's rows are orthonormal up to float rounding, ≈1e-7: the error in |q_⊥| stays near
        // 3e-4·|q| even when q lies almost in P's span, far inside the tolerance below).
        var broadcast = new Vector256<float>[rank];                     // (Pq)_j in every lane
        var squaredQuery = KeySimilarity.Dot(query, query);
        var squaredProjection = 0.0;
        for (var j = 0; j < rank; j++)
        {
            var projected = KeySimilarity.Dot(query, Basis.Rows.AsSpan(j * Dim, Dim));
            squaredProjection += projected * projected;
            broadcast[j] = Vector256.Create((float)projected);
        }
        double restNorm = Math.Sqrt(Math.Max(0, squaredQuery - squaredProjection)), queryNorm = Math.Sqrt(squaredQuery);
        // With offsets the bound is checked against the lowest threshold any expert has (still safe), each survivor's own exactly.
        var limit = Vector256.Create((float)(((double)threshold + lowestOffset) / scale));
        Vector256<float> rest32 = Vector256.Create((float)restNorm), slack = Vector256.Create((float)(Tolerance * queryNorm));
        ref var c = ref MemoryMarshal.GetArrayDataReference(coefficients!);
        ref var rho = ref MemoryMarshal.GetArrayDataReference(residuals!);
        ref var size = ref MemoryMarshal.GetArrayDataReference(norms!);
        var scored = 0;
        for (var block = 0; block * Lanes < Count; block++)
        {
            // ⟨q, φ̂_e⟩ ≤ ⟨Pq, c_e⟩ + |q_⊥|·ρ_e; not above the threshold (with tolerance) → cannot pass.
            // (Unchecked loads: the arrays hold ⌈E/8⌉ whole blocks, see the constructor.)
            var offset = (nuint)(block * Lanes);
            var bound = rest32 * Vector256.LoadUnsafe(ref rho, offset) + slack * Vector256.LoadUnsafe(ref size, offset);
            var values = (nuint)(block * rank * Lanes);
            for (var j = 0; j < rank; j++) bound += broadcast[j] * Vector256.LoadUnsafe(ref c, values + (nuint)(j * Lanes));
            var candidates = Vector256.GreaterThan(bound, limit).ExtractMostSignificantBits();
            while (candidates != 0)
            {
                var e = block * Lanes + BitOperations.TrailingZeroCount(candidates);
                candidates &= candidates - 1;
                if (e >= Count) break;
                scored++;
                var s = Similarity(query, e);
                if (s > threshold + Offset(e)) result.Add((e, s));     // Eq. hard filter: sim(φ̄, φ̂_e) > sim(φ̄, φ̄_Ξ)
            }
        }
        LastScored = scored;
        return result;
    }
}

/// <summary>
/// An orthonormal basis (rows [Rank, Dim]) of the directions in which visual keys vary most, for the bound of
/// <see cref="VisualFilterIndex"/>. Any orthonormal basis gives a valid bound; a good one gives a tight bound.
/// </summary>
public sealed record VisualKeyBasis(float[] Rows, int Rank, int Dim, int FittedOn)
{
    /// <summary>
    /// ε = ‖PPᵀ − I‖_F of the rows as stored (float32-rounded eigenvectors are orthonormal only up to that rounding), in
    /// float64 and rounded up; the bound charges it (docs/routing-at-scale.md). O(p²·D): computed once per fit.
    /// </summary>
    public double Defect()
    {
        float[] rows = Rows;
        int rank = Rank, dim = Dim;
        double squares = 0;
        for (var i = 0; i < rank; i++)
            for (var j = 0; j < rank; j++)
            {
                var d = KeySimilarity.Dot(rows.AsSpan(i * dim, dim), rows.AsSpan(j * dim, dim)) - (i == j ? 1 : 0);
                squares += d * d;
            }
        // Each float64 dot of float32 values is within dim·2⁻⁵³ of its value: far below the charge added here.
        return Math.Sqrt(squares) * (1 + 1e-6) + rank * dim * Math.ScaleB(1.0, -50);
    }

    /// <summary>
    /// The top <paramref name="rank"/> eigenvectors of Σ φφᵀ over at most <paramref name="sample"/> evenly spaced keys of
    /// <paramref name="keys"/> [count, dim].
    /// </summary>
    public static VisualKeyBasis Fit(float[] keys, int count, int dim, int rank = VisualFilterIndex.BoundRank, int sample = 2048)
    {
        if (rank > dim) rank = dim;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var n = Math.Min(count, sample);
        var picked = new float[n * dim];
        for (var j = 0; j < n; j++) keys.AsSpan((int)((long)j * count / n) * dim, dim).CopyTo(picked.AsSpan(j * dim));
        var x = tensor(picked).reshape(n, dim).to_type(ScalarType.Float64);
        var (_, vectors) = linalg.eigh(matmul(x.t(), x));                                   // ascending eigenvalues
        var top = vectors[TensorIndex.Colon, TensorIndex.Slice(dim - rank, dim)].t();        // [rank, dim]
        return new VisualKeyBasis(top.to_type(ScalarType.Float32).contiguous().data<float>().ToArray(), rank, dim, count);
    }

    /// <summary>The bound's terms of <paramref name="count"/> keys [count, Dim] in this basis.</summary>
    public KeyTerms Terms(ReadOnlySpan<float> keys, int count)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var k = empty(count, Dim);                                                          // [E, D]
        MemoryMarshal.AsBytes(keys[..(count * Dim)]).CopyTo(k.bytes);
        var p = tensor(Rows).reshape(Rank, Dim);                                           // [p, D]
        var c = matmul(k, p.t());                                                           // c_e = P φ̂_e [E, p]
        return new KeyTerms(Floats(c), Floats((k - matmul(c, p)).norm(1)), Floats(k.norm(1)));
    }

    // data<float>().ToArray() goes element by element; the storage bytes copy at memory speed.
    private static float[] Floats(Tensor t) => MemoryMarshal.Cast<byte, float>(t.contiguous().bytes).ToArray();
}

/// <summary>
/// A basis's terms for a set of keys: coefficients c_e = P φ̂_e [count, Rank], residual norms ρ_e = |φ̂_e − Pᵀc_e| and
/// norms |φ̂_e| [count].
/// </summary>
public sealed record KeyTerms(float[] Coefficients, float[] Residuals, float[] Norms)
{
    /// <summary>Row <paramref name="e"/> alone (to cache it per key).</summary>
    public KeyTerms Row(int e, int rank) => new(Coefficients.AsSpan(e * rank, rank).ToArray(), [Residuals[e]], [Norms[e]]);

    /// <summary>Rows stacked in order.</summary>
    public static KeyTerms Stack(IReadOnlyList<KeyTerms> rows, int rank)
    {
        var c = new float[rows.Count * rank];
        float[] r = new float[rows.Count], n = new float[rows.Count];
        for (var e = 0; e < rows.Count; e++)
        {
            rows[e].Coefficients.CopyTo(c, e * rank);
            r[e] = rows[e].Residuals[0];
            n[e] = rows[e].Norms[0];
        }
        return new KeyTerms(c, r, n);
    }
}
