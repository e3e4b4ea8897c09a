using LiveEdit.Model.Editor;
using LiveEdit.Model.Runtime;
using Shouldly;
using Xunit;
using static TorchSharp.torch;

namespace LiveEdit.Model.Tests.Editor;

/// <summary>Each equation of docs/method.md against a straightforward float64 loop.</summary>
[Collection(EditorCollection.Name)]
public sealed class routing_equations
{
    private const int K = 4, Dm = 8, R = 3, D = 6, L = 5;

    private static double[] D64(Tensor t) => t.to_type(ScalarType.Float64).contiguous().data<double>().ToArray();

    private static double Sim(double[] a, int ai, double[] b, int bi)
    {
        double total = 0;
        for (var i = 0; i < K; i++)
        {
            double dot = 0;
            for (var j = 0; j < Dm; j++) dot += a[ai * K * Dm + i * Dm + j] * b[bi * K * Dm + i * Dm + j];
            total += dot / Math.Sqrt(Dm);
        }
        return total / K;
    }

    [Fact]
    public void similarity_is_the_mean_over_rows_of_dot_products_over_sqrt_dm()
    {
        TorchRuntime.Configure(1, 1);
        using var scope = NewDisposeScope();
        var a = randn(3, K, Dm);
        var b = randn(7, K, Dm);
        var sim = D64(Routing.Similarity(a, b));
        double[] a64 = D64(a), b64 = D64(b);
        for (var i = 0; i < 3; i++)
            for (var e = 0; e < 7; e++)
                sim[i * 7 + e].ShouldBe(Sim(a64, i, b64, e), 1e-5);
        var pair = D64(Routing.PairSimilarity(a, b[..3]));
        for (var i = 0; i < 3; i++) pair[i].ShouldBe(Sim(a64, i, b64, i), 1e-5);
    }

    [Fact]
    public void hard_filter_keeps_exactly_the_experts_scoring_above_the_sentinel()
    {
        TorchRuntime.Configure(1, 2);
        using var scope = NewDisposeScope();
        var query = randn(4, K, Dm);
        var sentinel = randn(4, K, Dm);
        var keys = randn(50, K, Dm);
        var keep = Routing.HardFilter(Routing.Similarity(query, keys), Routing.PairSimilarity(query, sentinel)).data<bool>().ToArray();
        double[] q = D64(query), s = D64(sentinel), k = D64(keys);
        var kept = 0;
        for (var i = 0; i < 4; i++)
            for (var e = 0; e < 50; e++)
            {
                var expected = Sim(q, i, k, e) > Sim(q, i, s, i);
                keep[i * 50 + e].ShouldBe(expected, $"query {i}, expert {e}");
                if (expected) kept++;
            }
        kept.ShouldBeInRange(1, 199, "random keys fall on both sides of the threshold");
    }

    [Fact]
    public void soft_weights_are_sigmoid_times_softmax_over_the_survivors_only()
    {
        TorchRuntime.Configure(1, 3);
        using var scope = NewDisposeScope();
        var scores = randn(3, 6) * 3;
        var on = tensor(new[] { true, false, true, true, false, true, false, false, false, false, false, false, true, true, true, true, true, true }).reshape(3, 6);
        var w = D64(Routing.SoftWeights(scores, on));
        var s = D64(scores);
        var mask = on.data<bool>().ToArray();
        for (var i = 0; i < 3; i++)
        {
            var z = Enumerable.Range(0, 6).Where(e => mask[i * 6 + e]).Sum(e => Math.Exp(s[i * 6 + e]));
            for (var e = 0; e < 6; e++)
            {
                var x = s[i * 6 + e];
                var expected = mask[i * 6 + e] ? 1 / (1 + Math.Exp(-x)) * Math.Exp(x) / z : 0.0;
                w[i * 6 + e].ShouldBe(expected, 1e-6, $"row {i}, expert {e}");
            }
        }
        // With no mask, the softmax runs over every column.
        var all = D64(Routing.SoftWeights(scores));
        var z0 = Enumerable.Range(0, 6).Sum(e => Math.Exp(s[e]));
        all[2].ShouldBe(1 / (1 + Math.Exp(-s[2])) * Math.Exp(s[2]) / z0, 1e-6);
    }

    [Fact]
    public void fused_residual_is_the_weighted_sum_of_relu_low_rank_maps()
    {
        TorchRuntime.Configure(1, 4);
        using var scope = NewDisposeScope();
        const int B = 2, E = 3;
        var normed = randn(B, L, D);
        var u = randn(E, R, D);
        var v = randn(E, R, D);
        var weights = rand(B, E);
        var got = D64(Routing.FusedResidual(normed, u, v, weights));
        double[] x = D64(normed), U = D64(u), V = D64(v), W = D64(weights);
        for (var b = 0; b < B; b++)
            for (var t = 0; t < L; t++)
                for (var c = 0; c < D; c++)
                {
                    double expected = 0;
                    for (var e = 0; e < E; e++)
                        for (var r = 0; r < R; r++)
                        {
                            double a = 0;
                            for (var j = 0; j < D; j++) a += x[(b * L + t) * D + j] * U[(e * R + r) * D + j];
                            expected += W[b * E + e] * Math.Max(0, a) * V[(e * R + r) * D + c];
                        }
                    got[(b * L + t) * D + c].ShouldBe(expected, 1e-4, $"b {b} t {t} c {c}");
                }
    }

    [Theory]
    [InlineData(9)]
    public void the_edited_model_adds_the_reference_residual_of_the_reference_survivors(long seed)
    {
        var f = new EditorFixture(seed, edits: 6);
        // A random editor's sentinel scores low; blend it towards one image's vision states so that the threshold
        // falls inside the range of expert scores and both branches of the filter are exercised.
        using (no_grad())
        {
            var queriesProbe = f.Model.Prepare(f.ImageQueries());
            var probeHidden = f.Model.HiddenAtEditLayer(queriesProbe);
            var vision = f.Model.HiddenAtEditLayer(f.Model.Prepare([f.Edits[0]]))[TensorIndex.Slice(0, 1), TensorIndex.Slice(0, 4)];
            var xi = f.Editor.named_parameters().Single(p => p.name.EndsWith("vis_rep_prot")).parameter;
            var original = xi.clone();
            var rows = Enumerable.Range(0, f.ImageQueries().Count).ToList();
            var expertKeys = tensor(f.Experts.SelectMany(e => e.VisualKey.ToArray()).ToArray()).reshape(6, f.Editor.Config.KeyRows, f.Editor.Config.ModuleDim);
            var found = false;
            // The sentinel is input-side only: the experts stay valid, so the cached generator hash is kept.
            foreach (var alpha in Enumerable.Range(1, 210).Select(i => i / 200.0))
            {
                xi.copy_(original * (1 - alpha) + vision * alpha);
                f.Editor.Freeze();   // the frozen editor keeps the sentinel's projections: refresh them after an in-place change
                var k = f.Editor.InputSide(probeHidden, queriesProbe, rows);
                var kept = Routing.HardFilter(Routing.Similarity(k.Visual, expertKeys), Routing.PairSimilarity(k.Visual, k.Sentinel)).sum().item<long>();
                if (kept > 0 && kept < 6 * rows.Count) { found = true; break; }
            }
            found.ShouldBeTrue("some blend puts the threshold inside the expert scores");
        }
        using var edited = f.With(Enumerable.Range(0, 6));
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var queries = f.ImageQueries();
        var inputs = f.Model.Prepare(queries);
        var hidden = f.Model.HiddenAtEditLayer(inputs);
        var keys = f.Editor.InputSide(hidden, inputs, Enumerable.Range(0, queries.Count).ToList());
        var (logits, routes) = edited.Logits(inputs);
        double[] visual = D64(keys.Visual), sentinel = D64(keys.Sentinel), text = D64(keys.Text);
        var expertVisual = f.Experts.SelectMany(e => e.VisualKey.ToArray()).Select(x => (double)x).ToArray();
        var expertText = f.Experts.SelectMany(e => e.TextKey.ToArray()).Select(x => (double)x).ToArray();
        var cfg = f.Editor.Config;
        var normed = D64(f.Editor.FusionNorm(hidden));
        var reference = D64(hidden);
        long l = hidden.shape[1], d = hidden.shape[2];
        var anySurvivor = false;
        var anyFiltered = false;
        for (var i = 0; i < queries.Count; i++)
        {
            // Reference filter and weights in float64.
            var threshold = SimAny(visual, i, sentinel, i, cfg.KeyRows, cfg.ModuleDim);
            var survivors = Enumerable.Range(0, 6).Where(e => SimAny(visual, i, expertVisual, e, cfg.KeyRows, cfg.ModuleDim) > threshold).ToList();
            routes[i].Fired.Select(x => x.Id).ShouldBe(survivors.Select(e => $"e{e}"), $"query {i}");
            anySurvivor |= survivors.Count > 0;
            anyFiltered |= survivors.Count < 6;
            var s = survivors.Select(e => SimAny(text, i, expertText, e, cfg.KeyRows, cfg.ModuleDim)).ToList();
            var z = s.Sum(Math.Exp);
            var w = s.Select(x => 1 / (1 + Math.Exp(-x)) * Math.Exp(x) / z).ToList();
            routes[i].Fired.Select(x => (double)x.Weight).ToArray().ShouldBe(w.ToArray(), 1e-5);
            // Reference residual added to h.
            for (var t = 0; t < l; t++)
                for (var c = 0; c < d; c++)
                {
                    double delta = 0;
                    for (var j = 0; j < survivors.Count; j++)
                    {
                        var ex = f.Experts[survivors[j]];
                        for (var r = 0; r < cfg.Rank; r++)
                        {
                            double a = 0;
                            for (var q = 0; q < d; q++) a += normed[(i * l + t) * d + q] * ex.U[(int)(r * d + q)];
                            delta += w[j] * Math.Max(0, a) * ex.V[(int)(r * d + c)];
                        }
                    }
                    reference[(i * l + t) * d + c] += delta;
                }
        }
        anySurvivor.ShouldBeTrue("some expert passes the filter");
        anyFiltered.ShouldBeTrue("some expert is filtered out");
        var expectedLogits = D64(f.Model.LogitsFromEditLayer(inputs, tensor(reference).reshape(hidden.shape).to_type(ScalarType.Float32)));
        var got = D64(logits);
        for (var j = 0; j < got.Length; j++) got[j].ShouldBe(expectedLogits[j], 1e-4);
    }

    private static double SimAny(double[] a, int ai, double[] b, int bi, int k, int dm)
    {
        double total = 0;
        for (var i = 0; i < k; i++)
        {
            double dot = 0;
            for (var j = 0; j < dm; j++) dot += a[ai * k * dm + i * dm + j] * b[bi * k * dm + i * dm + j];
            total += dot / Math.Sqrt(dm);
        }
        return total / k;
    }
}
