using LiveEdit.Model.Editor;
using Shouldly;
using Xunit;

namespace LiveEdit.Model.Tests.Editor;

/// <summary>
/// The hard filter's bound charges each error between the integer sum it computes and the exact score it stands for
/// (docs/routing-at-scale.md, "The bound"). Each test builds a key and a query that put an expert's exact score just
/// above the threshold while the uncharged bound would fall below it, with a slack far under that error: the filter
/// must still keep exactly the experts that scoring every row keeps.
/// </summary>
[Collection(EditorCollection.Name)]
public sealed class charging_the_bounds_errors
{
    private const int K = 4, Dm = 24, Dim = K * Dm, Rank = 2, Hidden = 8;
    private static readonly string Sha = new('0', 64);
    private static readonly double Scale = KeySimilarity.Scale(K, Dm);

    private static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    private static Expert ExpertWith(float[] key) =>
        new(Hidden, Rank, K, Dm, new float[Rank * Hidden], new float[Rank * Hidden], key, new float[Dim], Sha, Sha);

    // A store past the size where the bound is used, holding keys with low-rank structure plus noise, its basis fitted.
    private static (ExpertKeyStore Store, VisualKeyBasis Basis) FittedStore(Random random, double tolerance)
    {
        const int structure = 10;
        var directions = Enumerable.Range(0, structure * Dim).Select(_ => Gaussian(random)).ToArray();
        var store = new ExpertKeyStore(K, Dm) { Tolerance = tolerance };
        for (var e = 0; e < VisualFilterIndex.MinExpertsForBound + 200; e++)
        {
            var weights = Enumerable.Range(0, structure).Select(_ => Gaussian(random)).ToArray();
            var key = new float[Dim];
            for (var i = 0; i < Dim; i++)
            {
                var x = 0.05 * Gaussian(random);
                for (var j = 0; j < structure; j++) x += directions[j * Dim + i] * weights[j];
                key[i] = (float)x;
            }
            store.RowOf(ExpertWith(key));
        }
        store.PrepareBound().ShouldBeTrue();
        return (store, store.Basis!);
    }

    private static double[] Row(VisualKeyBasis basis, int j) => basis.Rows.AsSpan(j * Dim, Dim).ToArray().Select(x => (double)x).ToArray();

    private static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        double sum = 0;
        for (var i = 0; i < a.Length; i++) sum += a[i] * b[i];
        return sum;
    }

    // The bounded scan over every row of the store against the score of every row; returns the bounded scan's result.
    private static List<(int Row, float Similarity)> ShouldKeepWhatScoringEveryRowKeeps(ExpertKeyStore store, float[] query, float threshold, string what)
    {
        var members = Enumerable.Repeat((byte)0xFF, (store.Count + 7) / 8).ToArray();
        if (store.Count % 8 != 0) members[^1] = (byte)((1 << (store.Count % 8)) - 1);
        var got = new List<(int Row, float Similarity)>();
        store.Passing(query, threshold, members, null, 0f, useBound: true, got);
        var expected = Enumerable.Range(0, store.Count).Select(r => (r, store.Similarity(query, r))).Where(p => p.Item2 > threshold).ToList();
        expected.Except(got).ShouldBeEmpty($"{what}: survivors the bound skipped");
        got.ShouldBe(expected, what);
        return got;
    }

    [Fact]
    public void an_expert_whose_score_the_16_bit_rounding_of_the_query_hides_is_kept()
    {
        // Pq is rounded to 16-bit integers, Pq = s_q·q̃ + δ_q. A key whose coefficients lie on the 8-bit grid (no δ_e) and
        // have the signs of δ_q scores ⟨δ_q, c_e⟩ ≈ 10⁻⁵·|q|·|φ̂_e| more than the integer sum says: only the charge
        // |δ_q|·|φ̂_e| keeps the bound above a threshold halfway into that gap (the slack is 10⁻⁶).
        var random = new Random(41);
        var (store, basis) = FittedStore(random, tolerance: 1e-6);
        var queries = new List<(float[] Query, int Row, double Score, double Gap)>();
        for (var q = 0; q < 8; q++)
        {
            var query = Enumerable.Range(0, Dim).Select(_ => (float)Gaussian(random)).ToArray();
            var projected = Enumerable.Range(0, basis.Rank).Select(j => KeySimilarity.Dot(query, basis.Rows.AsSpan(j * Dim, Dim))).ToArray();
            var step = projected.Max(Math.Abs) / short.MaxValue;
            var error = projected.Select(p => p - step * Math.Round(p / step)).ToArray();
            // c_e = 0.01·(±127), the sign of each coordinate's rounding error: on the 8-bit grid of its own step.
            var coefficients = error.Select(d => 0.01 * (d >= 0 ? 127 : -127)).ToArray();
            var key = new float[Dim];
            for (var i = 0; i < Dim; i++)
            {
                double x = 0;
                for (var j = 0; j < basis.Rank; j++) x += coefficients[j] * basis.Rows[j * Dim + i];
                key[i] = (float)x;
            }
            var row = store.RowOf(ExpertWith(key));
            queries.Add((query, row, KeySimilarity.Dot(query, key), Dot(error, coefficients)));
        }
        foreach (var (query, row, score, gap) in queries)
        {
            var key = store.Key(row);
            gap.ShouldBeGreaterThan(4e-6 * Math.Sqrt(KeySimilarity.Dot(query, query) * KeySimilarity.Dot(key, key)), "the query's rounding moves the score well past the slack");
            var threshold = (float)((score - gap / 2) * Scale);
            var kept = ShouldKeepWhatScoringEveryRowKeeps(store, query, threshold, $"query of row {row}");
            kept.ShouldContain(p => p.Row == row);
        }
    }

    [Fact]
    public void an_expert_along_the_part_of_the_query_outside_a_not_quite_orthonormal_basis_is_kept()
    {
        // The basis rows are float32, so PPᵀ = I + E with E of order 10⁻⁸. For a query q = P_j + w (row j of P plus w orthogonal to
        // every row) with |w|² below E_jj, |q|² − |Pq|² is negative, yet the part of q outside the span is w: an expert
        // along w scores |w|·|φ̂_e| ≈ 10⁻⁴·|q|·|φ̂_e|. Only the charge ε|Pq|² in |q_⊥| keeps the bound above half that score
        // (every other charge, with a slack of 10⁻⁶, is near 10⁻⁶).
        var random = new Random(43);
        var (store, basis) = FittedStore(random, tolerance: 1e-6);
        // The rows of P made orthonormal in float64 (modified Gram–Schmidt, twice), to take w exactly out of their span.
        var orthonormal = Enumerable.Range(0, basis.Rank).Select(j => Row(basis, j)).ToArray();
        for (var pass = 0; pass < 2; pass++)
            for (var j = 0; j < basis.Rank; j++)
            {
                for (var i = 0; i < j; i++)
                {
                    var d = Dot(orthonormal[j], orthonormal[i]);
                    for (var x = 0; x < Dim; x++) orthonormal[j][x] -= d * orthonormal[i][x];
                }
                var norm = Math.Sqrt(Dot(orthonormal[j], orthonormal[j]));
                for (var x = 0; x < Dim; x++) orthonormal[j][x] /= norm;
            }
        // The rows whose squared norm is furthest above 1 (E_jj > 0).
        var stretched = Enumerable.Range(0, basis.Rank).Select(j => (Row: j, Excess: Dot(Row(basis, j), Row(basis, j)) - 1))
            .Where(r => r.Excess > 0).OrderByDescending(r => r.Excess).Take(4).ToList();
        stretched.ShouldNotBeEmpty("some float32 row of the basis is longer than 1");
        var queries = new List<(float[] Query, int Row, double Score)>();
        foreach (var (j, excess) in stretched)
        {
            var w = Enumerable.Range(0, Dim).Select(_ => Gaussian(random)).ToArray();
            for (var pass = 0; pass < 2; pass++)
                foreach (var r in orthonormal)
                {
                    var d = Dot(w, r);
                    for (var x = 0; x < Dim; x++) w[x] -= d * r[x];
                }
            var length = Math.Sqrt(Dot(w, w));
            var size = Math.Sqrt(excess / 2);    // |w|² = E_jj / 2
            var query = new float[Dim];
            var key = new float[Dim];
            for (var x = 0; x < Dim; x++)
            {
                query[x] = (float)(basis.Rows[j * Dim + x] + size * w[x] / length);
                key[x] = (float)(w[x] / length);
            }
            var squaredQuery = KeySimilarity.Dot(query, query);
            var squaredProjection = Enumerable.Range(0, basis.Rank).Sum(i => Math.Pow(KeySimilarity.Dot(query, basis.Rows.AsSpan(i * Dim, Dim)), 2));
            (squaredQuery - squaredProjection).ShouldBeLessThan(0, "the query's part outside the span is hidden by the basis's defect");
            var row = store.RowOf(ExpertWith(key));
            queries.Add((query, row, KeySimilarity.Dot(query, key)));
        }
        foreach (var (query, row, score) in queries)
        {
            score.ShouldBeGreaterThan(2e-5, "the expert scores through the query's part outside the span");
            var threshold = (float)(score / 2 * Scale);
            var kept = ShouldKeepWhatScoringEveryRowKeeps(store, query, threshold, $"query of row {row}");
            kept.ShouldContain(p => p.Row == row);
        }
    }
}
