using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

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
/// <para>
/// The coefficients are kept as 8-bit integers with a scale per row, c_e = s_e·c̃_e + δ_e, and the bound charges the
/// rounding: ⟨q, φ̂_e⟩ ≤ s_e⟨Pq, c̃_e⟩ + |Pq|·|δ_e| + |q_⊥|·ρ_e. A scan then reads 60 bytes per expert (p = 48) instead
/// of 200: at 100,000 experts 6 MB per query rather than 20.
/// </para>
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
    internal const double DefaultTolerance = 1e-2;

    private readonly List<Chunk> chunks = [];
    private readonly List<Expert?> experts = [];
    private readonly Dictionary<Expert, int> rows = new(ReferenceEqualityComparer.Instance);
    // Views holding each row; a row no view holds lets its expert go and is used again by the next new expert.
    private readonly List<int> holders = [];
    private readonly Stack<int> free = new();
    private readonly List<int> staleTerms = [];
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

    /// <summary>The bound's slack, relative to |q|·|φ̂_e| (smaller only in tests, to see that every other term is charged).</summary>
    internal double Tolerance { get; init; } = DefaultTolerance;
    /// <summary>k.</summary>
    public int KeyRows { get; }
    /// <summary>d_m.</summary>
    public int ModuleDim { get; }
    /// <summary>k·d_m, the length of a flattened key.</summary>
    public int Dim { get; }
    /// <summary>Rows (experts held, and rows free for the next ones).</summary>
    public int Count => experts.Count;
    /// <summary>Rows free for reuse: their experts were let go when the last view holding them dropped them.</summary>
    public int FreeRows => free.Count;
    /// <summary>The bound's basis; null until the store first scans with the bound.</summary>
    public VisualKeyBasis? Basis { get; private set; }
    /// <summary>How many rows' bound terms have been computed, all fits counted (to check they are computed once per row and fit).</summary>
    public long TermsComputed { get; private set; }

    /// <summary>Bytes of managed memory the rows take (keys and bound terms, chunks allocated whole).</summary>
    public long Bytes => chunks.Sum(c => c.Bytes) + (long)experts.Count * (IntPtr.Size + 32);

    /// <summary>
    /// The row of <paramref name="expert"/>: its own when the store holds it, else a free row or a new one. A view that
    /// takes the row marks it with <see cref="Hold"/>; a row taken by no view stays until one does.
    /// </summary>
    public int RowOf(Expert expert)
    {
        if (rows.TryGetValue(expert, out var row)) return row;
        if (expert.KeyRows != KeyRows || expert.ModuleDim != ModuleDim) throw new ArgumentException("the expert's keys do not fit the store");
        if (free.TryPop(out row))
        {
            experts[row] = expert;
            // The bound's terms of the row's earlier key are recomputed before the next bounded scan.
            if (row < termsUpTo) staleTerms.Add(row);
        }
        else
        {
            row = experts.Count;
            if (row % ChunkRows == 0) chunks.Add(new Chunk(Dim));
            experts.Add(expert);
            holders.Add(0);
        }
        expert.VisualKey.CopyTo(chunks[row / ChunkRows].Keys.AsSpan(row % ChunkRows * Dim, Dim));
        rows.Add(expert, row);
        return row;
    }

    /// <summary>A view took row <paramref name="row"/>.</summary>
    internal void Hold(int row) => holders[row]++;

    /// <summary>
    /// A view let go of row <paramref name="row"/>; when no view holds it any more the store lets its expert go and the
    /// row is free for the next new expert (so a host that keeps activating and retracting does not grow).
    /// </summary>
    internal void Release(int row)
    {
        if (holders[row] <= 0) throw new InvalidOperationException($"row {row} is held by no view");
        if (--holders[row] > 0) return;
        rows.Remove(experts[row]!);
        experts[row] = null;
        free.Push(row);
    }

    /// <summary>The expert in row <paramref name="row"/>.</summary>
    public Expert ExpertAt(int row) => experts[row] ?? throw new InvalidOperationException($"row {row} is free");

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
            staleTerms.Clear();
            foreach (var c in chunks) c.Allocate(Basis.Rank);
        }
        while (termsUpTo < Count)
        {
            var chunk = chunks[termsUpTo / ChunkRows];
            chunk.Allocate(Basis.Rank);
            int first = termsUpTo % ChunkRows, count = Math.Min(ChunkRows - first, Count - termsUpTo);
            var terms = Basis.Terms(chunk.Keys.AsSpan(first * Dim, count * Dim), count);
            for (var i = 0; i < count; i++)
                StoreTerms(chunk, first + i, terms.Coefficients.AsSpan(i * Basis.Rank, Basis.Rank), terms.Residuals[i], terms.Norms[i]);
            termsUpTo += count;
            TermsComputed += count;
        }
        foreach (var r in staleTerms)
        {
            var terms = Basis.Terms(Key(r), 1);
            StoreTerms(chunks[r / ChunkRows], r % ChunkRows, terms.Coefficients, terms.Residuals[0], terms.Norms[0]);
        }
        TermsComputed += staleTerms.Count;
        staleTerms.Clear();
        return true;
    }

    // Row r of a chunk: the coefficients as 8-bit integers with their step and rounding error, the residual and the norm.
    private void StoreTerms(Chunk chunk, int r, ReadOnlySpan<float> c, float residual, float norm)
    {
        var rank = Basis!.Rank;
        var largest = 0f;
        foreach (var x in c) largest = Math.Max(largest, Math.Abs(x));
        var step = largest / 127f;
        double error = 0;
        for (var j = 0; j < rank; j++)
        {
            var q = step == 0 ? (sbyte)0 : (sbyte)Math.Clamp(MathF.Round(c[j] / step), -127, 127);
            chunk.Coefficients![((r / Lanes) * rank + j) * Lanes + r % Lanes] = q;
            var d = c[j] - (double)step * q;
            error += d * d;
        }
        chunk.Steps![r] = step;
        // |δ_e| rounded up, so that the bound never charges less than the rounding.
        chunk.Errors![r] = (float)(Math.Sqrt(error) * (1 + 1e-6)) + float.Epsilon;
        chunk.Residuals![r] = residual;
        chunk.Norms![r] = norm;
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
        var projection = new float[rank];
        var squaredQuery = KeySimilarity.Dot(query, query);
        var squaredProjection = 0.0;
        for (var j = 0; j < rank; j++)
        {
            var projected = KeySimilarity.Dot(query, basis.Rows.AsSpan(j * Dim, Dim));
            squaredProjection += projected * projected;
            broadcast[j] = Vector256.Create((float)projected);
            projection[j] = (float)projected;
        }
        double restNorm = Math.Sqrt(Math.Max(0, squaredQuery - squaredProjection)), queryNorm = Math.Sqrt(squaredQuery);
        var limit = Vector256.Create((float)(((double)threshold + lowestOffset) / scale));
        Vector256<float> rest32 = Vector256.Create((float)restNorm), slack = Vector256.Create((float)(Tolerance * queryNorm)),
            projectedNorm = Vector256.Create((float)Math.Sqrt(squaredProjection));
        ref var b = ref MemoryMarshal.GetArrayDataReference(broadcast);
        var quads = Avx2.IsSupported ? rank / 4 * 4 : 0;
        Span<float> rest = stackalloc float[Lanes];
        for (var block = 0; block < blocks; block++)
        {
            uint inView = members[block];
            if (inView == 0) continue;
            var chunk = chunks[block / BlocksPerChunk];
            var local = block % BlocksPerChunk;
            ref var c = ref MemoryMarshal.GetArrayDataReference(chunk.Coefficients!);
            var offset = (nuint)(local * Lanes);
            // s_e⟨Pq, c̃_e⟩ in four sums, so that the products do not wait on one another.
            Vector256<float> s0 = Vector256<float>.Zero, s1 = Vector256<float>.Zero, s2 = Vector256<float>.Zero, s3 = Vector256<float>.Zero;
            var values = (nuint)(local * rank * Lanes);
            var j = 0;
            for (; j < quads; j += 4)
            {
                // Each load takes 16 bytes, of which the conversion uses the first 8 (one coefficient of 8 experts);
                // the arrays have 16 bytes of padding at the end.
                var at = values + (nuint)(j * Lanes);
                s0 += Unsafe.Add(ref b, j) * Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(Vector128.LoadUnsafe(ref c, at)));
                s1 += Unsafe.Add(ref b, j + 1) * Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(Vector128.LoadUnsafe(ref c, at + Lanes)));
                s2 += Unsafe.Add(ref b, j + 2) * Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(Vector128.LoadUnsafe(ref c, at + 2 * Lanes)));
                s3 += Unsafe.Add(ref b, j + 3) * Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(Vector128.LoadUnsafe(ref c, at + 3 * Lanes)));
            }
            var dot = (s0 + s1) + (s2 + s3);
            if (j < rank)
            {
                dot.CopyTo(rest);
                for (; j < rank; j++)
                    for (var lane = 0; lane < Lanes; lane++) rest[lane] += projection[j] * chunk.Coefficients![(int)values + j * Lanes + lane];
                dot = Vector256.Create<float>(rest);
            }
            // ⟨q, φ̂_e⟩ ≤ s_e⟨Pq, c̃_e⟩ + |Pq|·|δ_e| + |q_⊥|·ρ_e; not above the threshold (with tolerance) → cannot pass.
            var bound = Vector256.LoadUnsafe(ref MemoryMarshal.GetArrayDataReference(chunk.Steps!), offset) * dot
                + projectedNorm * Vector256.LoadUnsafe(ref MemoryMarshal.GetArrayDataReference(chunk.Errors!), offset)
                + rest32 * Vector256.LoadUnsafe(ref MemoryMarshal.GetArrayDataReference(chunk.Residuals!), offset)
                + slack * Vector256.LoadUnsafe(ref MemoryMarshal.GetArrayDataReference(chunk.Norms!), offset);
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
        public sbyte[]? Coefficients { get; private set; }   // c̃_e: [ChunkRows/8, p, 8], and 16 bytes of padding
        public float[]? Steps { get; private set; }          // s_e: [ChunkRows]
        public float[]? Errors { get; private set; }         // |δ_e| = |c_e − s_e c̃_e|: [ChunkRows]
        public float[]? Residuals { get; private set; }      // ρ_e: [ChunkRows]
        public float[]? Norms { get; private set; }          // |φ̂_e|: [ChunkRows]

        public long Bytes => 4L * Keys.Length + (Coefficients?.Length ?? 0) + 16L * (Residuals?.Length ?? 0);

        public void Allocate(int rank)
        {
            if (Coefficients?.Length == ChunkRows * rank + 16) return;
            Coefficients = new sbyte[ChunkRows * rank + 16];
            Steps = new float[ChunkRows];
            Errors = new float[ChunkRows];
            Residuals = new float[ChunkRows];
            Norms = new float[ChunkRows];
        }
    }
}
