using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace LiveEdit.Model.Editor;

/// <summary>
/// The visual keys φ̂_e of every expert a process has loaded, one row per expert, appended once and never moved, with
/// the terms of the hard filter's low-rank bound (docs/routing-at-scale.md). Every <see cref="EditedModel"/> built on
/// the same store — the head and any past version — is a view: a bit per row says which rows it holds, so a version
/// costs a few bytes per expert instead of a copy of its keys. Rows are kept while the store lives (re-adding an
/// expert finds its row again). Not thread-safe: the models sharing a store must be used one at a time.
/// </summary>
/// <remarks>
/// Rows live in chunks of <see cref="ChunkRows"/>; adding an expert writes its key into the last chunk and nothing
/// else. Once the store holds <see cref="VisualFilterIndex.MinExpertsForBound"/> experts it fits a basis P
/// (<see cref="VisualKeyBasis"/>) and, from then on, computes each new row's terms c_e = P φ̂_e, ρ_e = |φ̂_e − Pᵀc_e| and
/// |φ̂_e| once, in one matrix product for all rows added since the last query. The basis is refitted (and every
/// row's terms recomputed) only when the store has grown fourfold, up to <see cref="LastRefit"/> rows: any basis gives
/// the same survivors, a better one only skips more.
/// </remarks>
public sealed class ExpertKeyStore
{
    /// <summary>Rows per chunk (a multiple of the bound's 8 lanes).</summary>
    public const int ChunkRows = 4096;
    /// <summary>The store stops refitting its basis once it was fitted on this many rows.</summary>
    public const int LastRefit = 16_384;
    internal const int Lanes = 8;
    private const int BlocksPerChunk = ChunkRows / Lanes;
    // Relative to |q|·|φ̂_e|, as in VisualFilterIndex: far above the float32 rounding of the terms and the bound.
    private const double Tolerance = 1e-2;

    private readonly List<Chunk> chunks = [];
    private readonly List<Expert> experts = [];
    private readonly Dictionary<Expert, int> rows = new(ReferenceEqualityComparer.Instance);
    private readonly double scale;
    private int termsUpTo;
    private int fittedOn;

    /// <summary>An empty store for keys of <paramref name="keyRows"/> × <paramref name="moduleDim"/>.</summary>
    public ExpertKeyStore(int keyRows, int moduleDim)
    {
        if (keyRows <= 0 || moduleDim <= 0) throw new ArgumentException("key dimensions must be positive");
        KeyRows = keyRows;
        ModuleDim = moduleDim;
        Dim = keyRows * moduleDim;
        scale = KeySimilarity.Scale(keyRows, moduleDim);
    }

    /// <summary>k.</summary>
    public int KeyRows { get; }
    /// <summary>d_m.</summary>
    public int ModuleDim { get; }
    /// <summary>k·d_m, the length of a flattened key.</summary>
    public int Dim { get; }
    /// <summary>Rows (experts ever added).</summary>
    public int Count => experts.Count;
    /// <summary>The bound's basis; null until the store first scans with the bound.</summary>
    public VisualKeyBasis? Basis { get; private set; }
    /// <summary>How many rows' bound terms have been computed, all fits counted (to check they are computed once per row and fit).</summary>
    public long TermsComputed { get; private set; }

    /// <summary>Bytes of managed memory the rows take (keys and bound terms, chunks allocated whole).</summary>
    public long Bytes => chunks.Sum(c => c.Bytes) + (long)experts.Count * (IntPtr.Size + 32);

    /// <summary>The row of <paramref name="expert"/>, appended when the store has not seen it.</summary>
    public int RowOf(Expert expert)
    {
        if (rows.TryGetValue(expert, out var row)) return row;
        if (expert.KeyRows != KeyRows || expert.ModuleDim != ModuleDim) throw new ArgumentException("the expert's keys do not fit the store");
        row = experts.Count;
        if (row % ChunkRows == 0) chunks.Add(new Chunk(Dim));
        expert.VisualKey.CopyTo(chunks[^1].Keys.AsSpan(row % ChunkRows * Dim, Dim));
        experts.Add(expert);
        rows.Add(expert, row);
        return row;
    }

    /// <summary>The expert in row <paramref name="row"/>.</summary>
    public Expert ExpertAt(int row) => experts[row];

    /// <summary>φ̂ of row <paramref name="row"/>, flattened [k·d_m].</summary>
    public ReadOnlySpan<float> Key(int row) => chunks[row / ChunkRows].Keys.AsSpan(row % ChunkRows * Dim, Dim);

    /// <summary>sim(q, φ̂) of row <paramref name="row"/> (<see cref="KeySimilarity.Exact"/>).</summary>
    public float Similarity(ReadOnlySpan<float> query, int row) => KeySimilarity.Exact(query, Key(row), scale);

    /// <summary>
    /// Fits the basis when due and computes the terms of the rows that lack them; false while the store is too
    /// small for the bound to pay.
    /// </summary>
    internal bool PrepareBound()
    {
        if (Count < VisualFilterIndex.MinExpertsForBound) return false;
        if (Basis is null || (Count >= 4 * fittedOn && fittedOn < LastRefit))
        {
            // An evenly spaced sample, as VisualKeyBasis.Fit takes it.
            var n = Math.Min(Count, 2048);
            var sample = new float[n * Dim];
            for (var j = 0; j < n; j++) Key((int)((long)j * Count / n)).CopyTo(sample.AsSpan(j * Dim));
            Basis = VisualKeyBasis.Fit(sample, n, Dim);
            fittedOn = Count;
            termsUpTo = 0;
            foreach (var c in chunks) c.Allocate(Basis.Rank);
        }
        while (termsUpTo < Count)
        {
            var chunk = chunks[termsUpTo / ChunkRows];
            chunk.Allocate(Basis.Rank);
            int first = termsUpTo % ChunkRows, count = Math.Min(ChunkRows - first, Count - termsUpTo);
            var terms = Basis.Terms(chunk.Keys.AsSpan(first * Dim, count * Dim), count);
            var rank = Basis.Rank;
            for (var i = 0; i < count; i++)
            {
                var r = first + i;
                for (var j = 0; j < rank; j++) chunk.Coefficients![((r / Lanes) * rank + j) * Lanes + r % Lanes] = terms.Coefficients[i * rank + j];
                chunk.Residuals![r] = terms.Residuals[i];
                chunk.Norms![r] = terms.Norms[i];
            }
            termsUpTo += count;
            TermsComputed += count;
        }
        return true;
    }

    /// <summary>
    /// The rows set in <paramref name="members"/> (bit i of byte b: row 8b + i) with sim(q, φ̂) &gt; threshold + offset,
    /// in row order, with their scores, appended to <paramref name="result"/>; returns how many were scored exactly.
    /// <paramref name="lowestOffset"/> is at most every member's offset. Exactly the rows and scores of scoring every member.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal int Passing(ReadOnlySpan<float> query, float threshold, ReadOnlySpan<byte> members, float[]? offsets, float lowestOffset, bool useBound,
        List<(int Row, float Similarity)> result)
    {
        if (query.Length != Dim) throw new ArgumentException($"query has {query.Length} values, not {Dim}");
        var blocks = Math.Min(members.Length, (Count + Lanes - 1) / Lanes);
        var scored = 0;
        if (!useBound || !PrepareBound())
        {
            for (var block = 0; block < blocks; block++)
            {
                uint bits = members[block];
                while (bits != 0)
                {
                    var row = block * Lanes + BitOperations.TrailingZeroCount(bits);
                    bits &= bits - 1;
                    scored++;
                    var s = Similarity(query, row);
                    if (s > threshold + (offsets?[row] ?? 0f)) result.Add((row, s));   // Eq. hard filter: sim(φ̄, φ̂_e) > sim(φ̄, φ̄_Ξ)
                }
            }
            return scored;
        }
        var basis = Basis!;
        var rank = basis.Rank;
        // |q_⊥|² = |q|² − |Pq|² (P's rows are orthonormal up to float rounding; see VisualFilterIndex).
        var broadcast = new Vector256<float>[rank];
        var squaredQuery = KeySimilarity.Dot(query, query);
        var squaredProjection = 0.0;
        for (var j = 0; j < rank; j++)
        {
            var projected = KeySimilarity.Dot(query, basis.Rows.AsSpan(j * Dim, Dim));
            squaredProjection += projected * projected;
            broadcast[j] = Vector256.Create((float)projected);
        }
        double restNorm = Math.Sqrt(Math.Max(0, squaredQuery - squaredProjection)), queryNorm = Math.Sqrt(squaredQuery);
        var limit = Vector256.Create((float)(((double)threshold + lowestOffset) / scale));
        Vector256<float> rest32 = Vector256.Create((float)restNorm), slack = Vector256.Create((float)(Tolerance * queryNorm));
        ref var b = ref MemoryMarshal.GetArrayDataReference(broadcast);
        var quads = rank / 4 * 4;
        for (var block = 0; block < blocks; block++)
        {
            uint inView = members[block];
            if (inView == 0) continue;
            var chunk = chunks[block / BlocksPerChunk];
            var local = block % BlocksPerChunk;
            ref var c = ref MemoryMarshal.GetArrayDataReference(chunk.Coefficients!);
            var offset = (nuint)(local * Lanes);
            // ⟨q, φ̂_e⟩ ≤ ⟨Pq, c_e⟩ + |q_⊥|·ρ_e; four sums so that the products do not wait on one another.
            var s0 = rest32 * Vector256.LoadUnsafe(ref MemoryMarshal.GetArrayDataReference(chunk.Residuals!), offset)
                + slack * Vector256.LoadUnsafe(ref MemoryMarshal.GetArrayDataReference(chunk.Norms!), offset);
            Vector256<float> s1 = Vector256<float>.Zero, s2 = Vector256<float>.Zero, s3 = Vector256<float>.Zero;
            var values = (nuint)(local * rank * Lanes);
            var j = 0;
            for (; j < quads; j += 4)
            {
                var at = values + (nuint)(j * Lanes);
                s0 += Unsafe.Add(ref b, j) * Vector256.LoadUnsafe(ref c, at);
                s1 += Unsafe.Add(ref b, j + 1) * Vector256.LoadUnsafe(ref c, at + Lanes);
                s2 += Unsafe.Add(ref b, j + 2) * Vector256.LoadUnsafe(ref c, at + 2 * Lanes);
                s3 += Unsafe.Add(ref b, j + 3) * Vector256.LoadUnsafe(ref c, at + 3 * Lanes);
            }
            for (; j < rank; j++) s0 += Unsafe.Add(ref b, j) * Vector256.LoadUnsafe(ref c, values + (nuint)(j * Lanes));
            var bound = (s0 + s1) + (s2 + s3);
            var candidates = Vector256.GreaterThan(bound, limit).ExtractMostSignificantBits() & inView;
            while (candidates != 0)
            {
                var row = block * Lanes + BitOperations.TrailingZeroCount(candidates);
                candidates &= candidates - 1;
                scored++;
                var s = Similarity(query, row);
                if (s > threshold + (offsets?[row] ?? 0f)) result.Add((row, s));       // Eq. hard filter: sim(φ̄, φ̂_e) > sim(φ̄, φ̄_Ξ)
            }
        }
        return scored;
    }

    /// <summary>A chunk of rows: keys [ChunkRows, D]; once there is a basis, its terms in blocks of 8 rows.</summary>
    private sealed class Chunk(int dim)
    {
        public float[] Keys { get; } = new float[ChunkRows * dim];
        public float[]? Coefficients { get; private set; }   // [ChunkRows/8, p, 8]
        public float[]? Residuals { get; private set; }      // [ChunkRows]
        public float[]? Norms { get; private set; }          // [ChunkRows]

        public long Bytes => 4L * (Keys.Length + (Coefficients?.Length ?? 0) + (Residuals?.Length ?? 0) + (Norms?.Length ?? 0));

        public void Allocate(int rank)
        {
            if (Coefficients?.Length == ChunkRows * rank) return;
            Coefficients = new float[ChunkRows * rank];
            Residuals = new float[ChunkRows];
            Norms = new float[ChunkRows];
        }
    }
}
