using LiveEdit.Model.Editor;
using Shouldly;
using Xunit;
using static TorchSharp.torch;

namespace LiveEdit.Model.Tests.Editor;

/// <summary>
/// The hard filter with the low-rank bound skips experts without scoring them; it must keep exactly the experts, and
/// report exactly the scores, that scoring every expert gives.
/// </summary>
[Collection(EditorCollection.Name)]
public sealed class visual_key_pruning
{
    private const int K = 4, Dm = 24, Dim = K * Dm;

    // Keys: isotropic noise, or a rank-`structure` signal plus a little noise (learned keys look like the latter).
    private static float[] Keys(Random random, int count, int structure, float[]? directions = null)
    {
        var keys = new float[count * Dim];
        for (var e = 0; e < count; e++)
        {
            var weights = Enumerable.Range(0, structure).Select(_ => Gaussian(random)).ToArray();
            for (var i = 0; i < Dim; i++)
            {
                double x = structure == 0 ? Gaussian(random) : 0.05 * Gaussian(random);
                for (var j = 0; j < structure; j++) x += directions![j * Dim + i] * weights[j];
                keys[e * Dim + i] = (float)x;
            }
        }
        return keys;
    }

    /// <summary>Query <paramref name="q"/>: even ones near a random expert's key, odd ones drawn like the keys.</summary>
    private static float[] Query(Random random, float[] keys, int count, int structure, float[] directions, int q) =>
        q % 2 == 0
            ? keys.AsSpan(random.Next(count) * Dim, Dim).ToArray().Select(x => x + (float)(0.3 * Gaussian(random))).ToArray()
            : Keys(random, 1, structure, directions);

    private static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    [Theory]
    [InlineData(1, 3000, 0)]
    [InlineData(2, 3000, 12)]
    [InlineData(3, 5000, 40)]
    [InlineData(4, 1500, 70)]
    public void keeps_the_same_survivors_and_scores_as_scoring_every_expert(int seed, int count, int structure)
    {
        var random = new Random(seed);
        var directions = Keys(random, structure, 0);
        var keys = Keys(random, count, structure, directions);
        var index = new VisualFilterIndex(keys, count, K, Dm, VisualKeyBasis.Fit(keys, count, Dim));
        index.Basis.ShouldNotBeNull();
        var scoredLess = false;
        for (var q = 0; q < 40; q++)
        {
            // Queries near one expert's key or drawn like the keys; thresholds from far below to far above the scores.
            var query = Query(random, keys, count, structure, directions, q);
            var all = index.Similarities(query);
            var sorted = all.Order().ToArray();
            var quantile = q % 10 == 9 ? 1 : q % 10 / 10.0 + 0.09 * random.NextDouble();   // 1: nothing passes
            var threshold = sorted[Math.Min(count - 1, (int)(count * quantile))];
            var pruned = index.Passing(query, threshold);
            scoredLess |= index.LastScored < count;
            var plain = index.Passing(query, threshold, useBound: false);
            pruned.ShouldBe(plain, $"query {q}");
            plain.ShouldBe(all.Select((s, e) => (e, s)).Where(p => p.s > threshold).ToList());
        }
        if (structure > 0 && structure < VisualFilterIndex.BoundRank) scoredLess.ShouldBeTrue("the bound skips experts when the keys have low-rank structure");
    }

    [Fact]
    public void keeps_the_same_survivors_with_a_threshold_offset_per_expert()
    {
        // The hubness correction raises or lowers each expert's threshold: the bound must still skip only experts that
        // cannot pass their own threshold.
        var random = new Random(5);
        const int count = 3000, structure = 12;
        var directions = Keys(random, structure, 0);
        var keys = Keys(random, count, structure, directions);
        var spread = new VisualFilterIndex(keys, count, K, Dm).Similarities(Keys(random, 1, structure, directions)).Select(x => (double)x).ToArray();
        var scale = (float)Math.Sqrt(spread.Average(x => x * x));
        var offsets = Enumerable.Range(0, count).Select(_ => (float)((random.NextDouble() - 0.6) * scale)).ToArray();
        var index = new VisualFilterIndex(keys, count, K, Dm, VisualKeyBasis.Fit(keys, count, Dim), offsets: offsets);
        var scoredLess = false;
        int passed = 0, changed = 0;
        for (var q = 0; q < 40; q++)
        {
            var query = Query(random, keys, count, structure, directions, q);
            var all = index.Similarities(query);
            var sorted = all.Order().ToArray();
            var threshold = sorted[Math.Min(count - 1, (int)(count * (q % 10 / 10.0 + 0.09 * random.NextDouble())))];
            var pruned = index.Passing(query, threshold);
            scoredLess |= index.LastScored < count;
            var plain = index.Passing(query, threshold, useBound: false);
            pruned.ShouldBe(plain, $"query {q}");
            plain.ShouldBe(all.Select((s, e) => (e, s)).Where(p => p.s > threshold + offsets[p.e]).ToList());
            passed += plain.Count;
            changed += all.Where((s, e) => s > threshold != s > threshold + offsets[e]).Count();
        }
        scoredLess.ShouldBeTrue("the bound still skips experts");
        passed.ShouldBeGreaterThan(0);
        changed.ShouldBeGreaterThan(0, "the offsets change decisions");
        index.Offset(7).ShouldBe(offsets[7]);
    }

    [Fact]
    public void scores_an_expert_the_same_whatever_other_experts_are_active()
    {
        var random = new Random(5);
        const int count = 2000;
        var keys = Keys(random, count, 0);
        var query = Keys(random, 1, 0);
        var whole = new VisualFilterIndex(keys, count, K, Dm).Similarities(query);
        foreach (var size in new[] { 1, 2, 7, 100, 1500 })
        {
            var picked = Enumerable.Range(0, count).OrderBy(_ => random.Next()).Take(size).Order().ToArray();
            var subset = picked.SelectMany(e => keys.AsSpan(e * Dim, Dim).ToArray()).ToArray();
            var scores = new VisualFilterIndex(subset, size, K, Dm).Similarities(query);
            scores.ShouldBe(picked.Select(e => whole[e]).ToArray(), $"{size} experts");
        }
    }

    [Fact]
    public void scores_are_the_similarity_equation_rounded_once()
    {
        var random = new Random(6);
        var keys = Keys(random, 50, 0);
        var query = Keys(random, 1, 0);
        var index = new VisualFilterIndex(keys, 50, K, Dm);
        for (var e = 0; e < 50; e++)
        {
            double dot = 0;
            for (var i = 0; i < Dim; i++) dot += (double)query[i] * keys[e * Dim + i];
            // Eq. sim(a, b) = (1/k) Σ_i ⟨a_i, b_i⟩ / √d_m
            ((double)index.Similarity(query, e)).ShouldBe(dot / (K * Math.Sqrt(Dm)), Math.Abs(dot) * 1e-6 + 1e-9);
        }
    }

    [Fact]
    public void gives_the_edited_model_the_same_survivors_weights_and_logits_with_and_without_the_bound()
    {
        var f = new EditorFixture(seed: 31, edits: 4);
        var queries = f.ImageQueries();
        var cfg = f.Editor.Config;
        var dim = cfg.KeyRows * cfg.ModuleDim;
        float[] visual, thresholds;
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var inputs = f.Model.Prepare(queries);
            var keys = f.Editor.InputSide(f.Model.HiddenAtEditLayer(inputs), inputs, Enumerable.Range(0, queries.Count).ToList());
            visual = keys.Visual.reshape(queries.Count, dim).contiguous().data<float>().ToArray();
            thresholds = Routing.PairSimilarity(keys.Visual, keys.Sentinel).data<float>().ToArray();
        }
        // Experts whose visual keys are scaled query keys plus low-rank noise: each query's threshold falls inside
        // its experts' scores, so the filter both keeps and drops, and the bound has something to skip.
        var random = new Random(31);
        var scale = 1 / (cfg.KeyRows * Math.Sqrt(cfg.ModuleDim));
        var noise = Enumerable.Range(0, 8 * dim).Select(_ => (float)Gaussian(random)).ToArray();
        var experts = new List<Expert>();
        for (var e = 0; e < 1500; e++)
        {
            var q = e % queries.Count;
            var self = KeySimilarity.Dot(visual.AsSpan(q * dim, dim), visual.AsSpan(q * dim, dim)) * scale;
            var beta = thresholds[q] / self * (0.6 + 0.8 * random.NextDouble());
            var key = new float[dim];
            var spread = Math.Sqrt(self / scale / dim);
            var weights = Enumerable.Range(0, 8).Select(_ => 0.1 * spread * Gaussian(random)).ToArray();
            for (var i = 0; i < dim; i++)
            {
                double x = beta * visual[q * dim + i];
                for (var j = 0; j < 8; j++) x += weights[j] * noise[j * dim + i];
                key[i] = (float)x;
            }
            float[] Random(int n, double s) => Enumerable.Range(0, n).Select(_ => (float)(s * Gaussian(random))).ToArray();
            experts.Add(new Expert(cfg.HiddenSize, cfg.Rank, cfg.KeyRows, cfg.ModuleDim, Random(cfg.Rank * cfg.HiddenSize, 0.1),
                Random(cfg.Rank * cfg.HiddenSize, 0.1), key, Random(dim, 1), new string('0', 64), f.Editor.GeneratorSha256));
        }
        using var bounded = new EditedModel(f.Model, f.Editor);
        using var plain = new EditedModel(f.Model, f.Editor) { PruneWithBound = false };
        for (var e = 0; e < experts.Count; e++)
        {
            bounded.Add($"x{e}", experts[e], e);
            plain.Add($"x{e}", experts[e], e);
        }
        using var outer = NewDisposeScope();
        var layout = f.Model.Prepare(queries);
        var (a, routesA) = bounded.Logits(layout);
        bounded.LastScored.ShouldBeLessThan(experts.Count, "the bound skips experts");
        var (b, routesB) = plain.Logits(layout);
        plain.LastBounded.ShouldBeFalse();
        string Describe(IReadOnlyList<RoutingDecision> routes) => string.Join("\n", routes.Select(r =>
            string.Join(",", r.Fired.Select(x => $"{x.Id}:{x.Weight:R}:{x.VisualSimilarity:R}:{x.TextScore:R}"))));
        Describe(routesA).ShouldBe(Describe(routesB));
        a.data<float>().ToArray().ShouldBe(b.data<float>().ToArray());
        routesA.Sum(r => r.Fired.Count).ShouldBeInRange(1, queries.Count * experts.Count - 1, "the filter keeps some experts and drops others");
        bounded.Answer(queries).Select(x => x.Text).ShouldBe(plain.Answer(queries).Select(x => x.Text));

        // After removes and adds the stack is rebuilt from cached and new bound terms: still the same result.
        for (var e = 0; e < 100; e++)
        {
            bounded.Remove($"x{e}");
            plain.Remove($"x{e}");
        }
        for (var e = 0; e < 50; e++)
        {
            bounded.Add($"y{e}", experts[e], experts.Count + e);
            plain.Add($"y{e}", experts[e], experts.Count + e);
        }
        var (c, routesC) = bounded.Logits(layout);
        var (d, routesD) = plain.Logits(layout);
        Describe(routesC).ShouldBe(Describe(routesD));
        c.data<float>().ToArray().ShouldBe(d.data<float>().ToArray());
        routesC.Sum(r => r.Fired.Count(x => x.Id.StartsWith('y'))).ShouldBeGreaterThan(0, "re-added experts fire");
    }
}
