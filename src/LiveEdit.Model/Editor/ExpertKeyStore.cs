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
/// The coefficients are kept as 8-bit integers with a scale per row, c_e = s_e·c̃_e + δ_e, the query's Pq is rounded
/// to 16-bit integers, Pq = s_q·q̃ + δ_q, and the bound charges both roundings:
/// ⟨q, φ̂_e⟩ ≤ s_e·s_q⟨q̃, c̃_e⟩ + (|Pq| + |δ_q|)·|δ_e| + |δ_q|·|φ̂_e| + |q_⊥|·ρ_e, with ⟨q̃, c̃_e⟩ summed exactly in integers.
/// A scan then reads 64 bytes per expert (p = 48) instead of 208: at 100,000 experts 6 MB per query rather than 20.
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
    // Relative to |q|·|φ̂_e|: above every float32 rounding of the terms and of the bound, which docs/routing-at-scale.md
    // bounds by 2.1·10⁻⁴ (the worst case of any summation order).
    internal const double DefaultTolerance = 1e-3;

    private readonly List<Chunk> chunks = [];
    private readonly List<Expert?> experts = [];
    private readonly Dictionary<Expert, int> rows = new(ReferenceEqualityComparer.Instance);
    // Views holding each row; a row no view holds lets its expert go and is used again by the next new expert.
    private readonly List<int> holders = [];
    private readonly Stack<int> free = new();
    private readonly List<int> staleTerms = [];
    private readonly double scale;
    private int termsUpTo;
    private Vector256<short>[] broadcast = [];
    private float[] queryCopy = [];
    private int fittedOn;
    private double basisDefect;

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
    /// <summary>From this many 8-row blocks (16,384 rows) the scan is split over two threads (lower in tests).</summary>
    internal int ParallelBlocks { get; init; } = 2048;
    /// <summary>8-row blocks per chunk of a scan over two threads (smaller in tests).</summary>
    internal int ParallelChunkBlocks { get; init; } = 256;
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
            basisDefect = Basis.Defect();
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
            chunk.Coefficients![CoefficientAt(r, j, rank)] = q;
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
    internal int Passing(ReadOnlySpan<float> query, float threshold, byte[] members, float[]? offsets, float lowestOffset, bool useBound,
        List<(int Row, float Similarity)> result)
    {
        if (query.Length != Dim) throw new ArgumentException($"query has {query.Length} values, not {Dim}");
        var blocks = Math.Min(members.Length, (Count + Lanes - 1) / Lanes);
        if (!useBound || !PrepareBound())
        {
            var all = new List<int>();
            for (var block = 0; block < blocks; block++)
            {
                uint bits = members[block];
                while (bits != 0)
                {
                    all.Add(block * Lanes + BitOperations.TrailingZeroCount(bits));
                    bits &= bits - 1;
                }
            }
            ScoreCandidates(query, CollectionsMarshal.AsSpan(all), threshold, offsets, result);
            return all.Count;
        }
        var basis = Basis!;
        var rank = basis.Rank;
        var pairs = (rank + 1) / 2;
        // Pq, rounded to 16-bit integers with one step: Pq = s_q·q̃ + δ_q. The scan then sums ⟨q̃, c̃_e⟩ exactly in
        // 32-bit integers (two coefficients per multiply-add), and the bound charges δ_q as it charges δ_e.
        // |q_⊥|² ≤ |q|² − |Pq|² + ε|Pq|², with ε = ‖PPᵀ − I‖ of the float32 rows (docs/routing-at-scale.md, "The bound").
        Span<double> projected = stackalloc double[2 * pairs];
        projected.Clear();
        var squaredQuery = KeySimilarity.Dot(query, query);
        double squaredProjection = 0, largest = 0;
        for (var j = 0; j < rank; j++)
        {
            projected[j] = KeySimilarity.Dot(query, basis.Rows.AsSpan(j * Dim, Dim));
            squaredProjection += projected[j] * projected[j];
            largest = Math.Max(largest, Math.Abs(projected[j]));
        }
        var queryStep = largest / short.MaxValue;
        Span<short> rounded = stackalloc short[2 * pairs];
        double queryError = 0;
        for (var j = 0; j < 2 * pairs; j++)
        {
            rounded[j] = queryStep == 0 ? (short)0 : (short)Math.Clamp(Math.Round(projected[j] / queryStep), -short.MaxValue, short.MaxValue);
            var d = projected[j] - queryStep * rounded[j];
            queryError += d * d;
        }
        // |δ_q| rounded up.
        queryError = Math.Sqrt(queryError) * (1 + 1e-6) + double.Epsilon;
        if (broadcast.Length != pairs) broadcast = new Vector256<short>[pairs];
        for (var j = 0; j < pairs; j++) broadcast[j] = Vector256.Create((ushort)rounded[2 * j] | (rounded[2 * j + 1] << 16)).AsInt16();
        if (queryCopy.Length != Dim) queryCopy = new float[Dim];
        query.CopyTo(queryCopy);
        var defect = basisDefect;
        double restNorm = Math.Sqrt(Math.Max(0, squaredQuery - squaredProjection) + defect * squaredProjection),
            queryNorm = Math.Sqrt(squaredQuery), projectedNorm = Math.Sqrt(squaredProjection);
        // ⟨Pq, c_e⟩ ≤ s_e·s_q⟨q̃, c̃_e⟩ + |Pq|·|δ_e| + |δ_q|·s_e|c̃_e|, and s_e|c̃_e| ≤ |c_e| + |δ_e| ≤ |φ̂_e| + |δ_e|; the part of
        // the residual inside P's span, ⟨Pq, (I − PPᵀ)c_e⟩, is charged as 2ε·|Pq|·|φ̂_e|, the float32 roundings by the tolerance.
        var slack = Tolerance * queryNorm + queryError + 2 * defect * projectedNorm;
        var scan = new BoundScan(this, queryCopy, broadcast, rounded.ToArray(), threshold, members, offsets,
            Vector256.Create(LowerLimit(((double)threshold + lowestOffset) / scale)), Vector256.Create((float)queryStep), Vector256.Create((float)restNorm),
            Vector256.Create((float)slack), Vector256.Create((float)(projectedNorm + queryError)));
        if (blocks < ParallelBlocks || Environment.ProcessorCount < 2) return scan.Run(0, blocks, result);
        return new SharedScan(scan, blocks, ParallelChunkBlocks).Run(result);
    }

    /// <summary>
    /// One query's scan over two threads: the blocks in fixed chunks, each claimed by whichever thread asks next and
    /// kept apart, joined in chunk order: the same rows and scores as one scan. The calling thread never waits for the
    /// helper to start (on a busy machine it may not run at all, and the caller then claims every chunk); it waits only
    /// for chunks the helper has claimed and not yet finished.
    /// </summary>
    private sealed class SharedScan(BoundScan scan, int blocks, int chunkBlocks)
    {
        private readonly int chunks = (blocks + chunkBlocks - 1) / chunkBlocks;
        private readonly List<(int Row, float Similarity)>?[] found = new List<(int Row, float Similarity)>?[(blocks + chunkBlocks - 1) / chunkBlocks];
        private readonly int[] scoredIn = new int[(blocks + chunkBlocks - 1) / chunkBlocks];
        private int next = -1;
        private int done;

        public int Run(List<(int Row, float Similarity)> result)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static s => s.Work(), this, preferLocal: false);
            Work();
            var wait = new SpinWait();
            while (Volatile.Read(ref done) < chunks) wait.SpinOnce();
            var scored = 0;
            for (var c = 0; c < chunks; c++)
            {
                result.AddRange(found[c]!);
                scored += scoredIn[c];
            }
            return scored;
        }

        private void Work()
        {
            int c;
            while ((c = Interlocked.Increment(ref next)) < chunks)
            {
                var rows = new List<(int Row, float Similarity)>();
                scoredIn[c] = scan.Run(c * chunkBlocks, Math.Min(blocks, (c + 1) * chunkBlocks), rows);
                found[c] = rows;
                Interlocked.Increment(ref done);
            }
        }
    }

    /// <summary>One query's scan with the bound over a range of 8-row blocks (read-only: two may run at once).</summary>
    private sealed record BoundScan(ExpertKeyStore Store, float[] Query, Vector256<short>[] Pairs, short[] Rounded, float Threshold, byte[] Members,
        float[]? Offsets, Vector256<float> Limit, Vector256<float> StepOfQuery, Vector256<float> Rest, Vector256<float> Slack, Vector256<float> ErrorWeight)
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public int Run(int fromBlock, int toBlock, List<(int Row, float Similarity)> result)
        {
            var pairs = Pairs.Length;
            ref var b = ref MemoryMarshal.GetArrayDataReference(Pairs);
            var members = Members;
            var offsets = Offsets;
            var found = new List<int>();
            Span<int> sums = stackalloc int[Lanes];
            for (var block = fromBlock; block < toBlock; block++)
            {
                uint inView = members[block];
                if (inView == 0) continue;
                var chunk = Store.chunks[block / BlocksPerChunk];
                var local = block % BlocksPerChunk;
                ref var c = ref MemoryMarshal.GetArrayDataReference(chunk.Coefficients!);
                var offset = (nuint)(local * Lanes);
                var values = (nuint)(local * pairs * 2 * Lanes);
                Vector256<int> dot;
                if (Avx2.IsSupported)
                {
                    // 16 bytes: two coefficients of 8 experts, interleaved; widened to 16-bit and multiplied pairwise with
                    // (q̃_j, q̃_j+1), giving 8 exact 32-bit sums. Two accumulators, so that the adds do not wait on each other.
                    Vector256<int> a0 = Vector256<int>.Zero, a1 = Vector256<int>.Zero;
                    var j = 0;
                    for (; j + 1 < pairs; j += 2)
                    {
                        var at = values + (nuint)(j * 2 * Lanes);
                        a0 += Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref c, at)), Unsafe.Add(ref b, j));
                        a1 += Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref c, at + 2 * Lanes)), Unsafe.Add(ref b, j + 1));
                    }
                    if (j < pairs) a0 += Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(Vector128.LoadUnsafe(ref c, values + (nuint)(j * 2 * Lanes))), Unsafe.Add(ref b, j));
                    dot = a0 + a1;
                }
                else
                {
                    sums.Clear();
                    for (var j = 0; j < 2 * pairs; j++)
                        for (var lane = 0; lane < Lanes; lane++) sums[lane] += Rounded[j] * chunk.Coefficients![(int)values + j / 2 * 2 * Lanes + lane * 2 + j % 2];
                    dot = Vector256.Create<int>(sums);
                }
                // ⟨q, φ̂_e⟩ ≤ s_e·s_q⟨q̃, c̃_e⟩ + (|Pq| + |δ_q|)·|δ_e| + |q_⊥|·ρ_e + |δ_q|·|φ̂_e|; not above the threshold (with
                // tolerance) → cannot pass.
                var bound = Vector256.LoadUnsafe(ref MemoryMarshal.GetArrayDataReference(chunk.Steps!), offset) * StepOfQuery * Vector256.ConvertToSingle(dot)
                    + ErrorWeight * Vector256.LoadUnsafe(ref MemoryMarshal.GetArrayDataReference(chunk.Errors!), offset)
                    + Rest * Vector256.LoadUnsafe(ref MemoryMarshal.GetArrayDataReference(chunk.Residuals!), offset)
                    + Slack * Vector256.LoadUnsafe(ref MemoryMarshal.GetArrayDataReference(chunk.Norms!), offset);
                var candidates = Vector256.GreaterThan(bound, Limit).ExtractMostSignificantBits() & inView;
                while (candidates != 0)
                {
                    found.Add(block * Lanes + BitOperations.TrailingZeroCount(candidates));
                    candidates &= candidates - 1;
                }
            }
            // The candidates' exact scores after the scan, four rows at a time.
            Store.ScoreCandidates(Query, CollectionsMarshal.AsSpan(found), Threshold, offsets, result);
            return found.Count;
        }
    }

    /// <summary>
    /// The scan's limit for ⟨q, φ̂_e⟩, below the exact test's: an expert passes when fl(⟨q, φ̂_e⟩·scale) &gt; fl(t + o_e), and
    /// both roundings to float32 (relative 2⁻²⁴ each) are taken off the limit, which is then rounded down to float32.
    /// </summary>
    private static float LowerLimit(double limit)
    {
        limit -= 4 * Math.ScaleB(1.0, -24) * Math.Abs(limit);
        var rounded = (float)limit;
        return rounded > limit ? MathF.BitDecrement(rounded) : rounded;
    }

    /// <summary>
    /// The exact scores of <paramref name="candidates"/> (rows in row order), four rows at a time (<see cref="KeySimilarity.Dot4"/>:
    /// the bits of <see cref="Similarity"/> row by row); those above the threshold plus their offset are appended in row order.
    /// </summary>
    internal void ScoreCandidates(ReadOnlySpan<float> query, ReadOnlySpan<int> candidates, float threshold, float[]? offsets,
        List<(int Row, float Similarity)> result)
    {
        Span<float> scores = stackalloc float[4];
        var j = 0;
        for (; j + 4 <= candidates.Length; j += 4)
        {
            // The next four rows start on their way from memory while these four are scored.
            for (var k = j + 4; k < Math.Min(j + 8, candidates.Length); k++) KeySimilarity.Prefetch(Key(candidates[k]));
            KeySimilarity.Exact4(query, Key(candidates[j]), Key(candidates[j + 1]), Key(candidates[j + 2]), Key(candidates[j + 3]), scale, scores);
            for (var k = 0; k < 4; k++) Keep(candidates[j + k], scores[k]);
        }
        for (; j < candidates.Length; j++) Keep(candidates[j], Similarity(query, candidates[j]));

        void Keep(int row, float s)
        {
            if (s > threshold + (offsets?[row] ?? 0f)) result.Add((row, s));           // Eq. hard filter: sim(φ̄, φ̂_e) > sim(φ̄, φ̄_Ξ)
        }
    }

    // c̃ of row r, coefficient j: blocks of 8 rows, in each pairs of coefficients (j, j+1) side by side for each row.
    private static int CoefficientAt(int row, int j, int rank) => (row % ChunkRows / Lanes * ((rank + 1) / 2) + j / 2) * 2 * Lanes + row % Lanes * 2 + j % 2;

    /// <summary>A chunk of rows: keys [ChunkRows, D]; once there is a basis, its terms in blocks of 8 rows.</summary>
    private sealed class Chunk(int dim)
    {
        public float[] Keys { get; } = new float[ChunkRows * dim];
        public sbyte[]? Coefficients { get; private set; }   // c̃_e: [ChunkRows/8, ⌈p/2⌉, 8, 2] (0 past p)
        public float[]? Steps { get; private set; }          // s_e: [ChunkRows]
        public float[]? Errors { get; private set; }         // |δ_e| = |c_e − s_e c̃_e|: [ChunkRows]
        public float[]? Residuals { get; private set; }      // ρ_e: [ChunkRows]
        public float[]? Norms { get; private set; }          // |φ̂_e|: [ChunkRows]

        public long Bytes => 4L * Keys.Length + (Coefficients?.Length ?? 0) + 16L * (Residuals?.Length ?? 0);

        public void Allocate(int rank)
        {
            var length = ChunkRows * ((rank + 1) / 2) * 2;
            if (Coefficients?.Length == length) return;
            Coefficients = new sbyte[length];
            Steps = new float[ChunkRows];
            Errors = new float[ChunkRows];
            Residuals = new float[ChunkRows];
            Norms = new float[ChunkRows];
        }
    }
}
