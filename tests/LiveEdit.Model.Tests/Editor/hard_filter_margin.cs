using LiveEdit.Model.Editor;
using Shouldly;
using Xunit;
using static TorchSharp.torch;

namespace LiveEdit.Model.Tests.Editor;

/// <summary>
/// The hard filter's margin (our extension, <see cref="RoutingPolicy.Margin"/>): keep e iff
/// sim(φ̄, φ̂_e) &gt; sim(φ̄, φ̄_Ξ) − margin; 0 is the paper's filter. A routing setting: the editor's hash stays as it was.
/// </summary>
[Collection(EditorCollection.Name)]
public sealed class hard_filter_margin
{
    [Fact]
    public void a_margin_moves_the_threshold_and_nothing_else()
    {
        var f = new EditorFixture(seed: 21, edits: 6);
        var paperSha = f.Editor.GeneratorSha256;
        var queries = f.ImageQueries();

        var (_, gaps) = ReferenceSimilarities(f, queries);
        // A margin in the middle of the gaps, away from any one of them, so that both sides of the filter are met.
        var sorted = gaps.Cast<double>().Order().ToArray();
        var mid = sorted.Length / 2;
        var margin = -(sorted[mid - 1] + sorted[mid]) / 2;

        f.Editor.WithFilterMargin(margin);
        var marginSha = f.Editor.GeneratorSha256;
        marginSha.ShouldBe(paperSha, "routing is a serving setting, not the generator's identity");
        var generator = new ExpertGenerator(f.Model, f.Editor);
        var experts = f.Edits.Select(generator.Generate).ToList();
        for (var e = 0; e < experts.Count; e++)
        {
            experts[e].U.ToArray().ShouldBe(f.Experts[e].U.ToArray(), "the margin does not change what the generators make");
            experts[e].VisualKey.ToArray().ShouldBe(f.Experts[e].VisualKey.ToArray());
        }
        using var edited = new EditedModel(f.Model, f.Editor);
        for (var e = 0; e < experts.Count; e++) edited.Add($"e{e}", experts[e], e);
        experts[0].Sha256.ShouldBe(f.Experts[0].Sha256, "the margin-0 editor's expert is the same expert, bit for bit");

        using var scope2 = NewDisposeScope();
        using var noGrad = no_grad();
        var (_, routes) = edited.Logits(f.Model.Prepare(queries));
        var kept = 0;
        for (var i = 0; i < queries.Count; i++)
        {
            var expected = Enumerable.Range(0, experts.Count).Where(e => gaps[i, e] > -margin).Select(e => $"e{e}").ToList();
            routes[i].Fired.Select(x => x.Id).ShouldBe(expected, $"query {i}");
            foreach (var x in routes[i].Fired) x.VisualSimilarity.ShouldBeGreaterThan(x.Threshold);
            kept += expected.Count;
        }
        kept.ShouldBeGreaterThan(0);
        kept.ShouldBeLessThan(queries.Count * experts.Count);

        // Back to 0: the paper's hash again; a saved editor keeps its margin and hash.
        var folder = Directory.CreateTempSubdirectory("margin-").FullName;
        try
        {
            f.Editor.Save(folder, new EditorProvenance("base", 21, 0, 1, "test", 0));
            var (loaded, file) = EditorModules.Load(folder);
            loaded.DefaultPolicy.Margin.ShouldBe(margin);
            loaded.GeneratorSha256.ShouldBe(marginSha);
            file.GeneratorSha256.ShouldBe(marginSha);
        }
        finally { Directory.Delete(folder, recursive: true); }
        f.Editor.WithFilterMargin(0).GeneratorSha256.ShouldBe(paperSha);
        Should.Throw<ArgumentException>(() => f.Editor.WithFilterMargin(double.NaN));
    }

    [Fact]
    public void a_band_keeps_only_the_survivors_near_the_best_one()
    {
        var f = new EditorFixture(seed: 22, edits: 6);
        var paperSha = f.Editor.GeneratorSha256;
        var queries = f.ImageQueries();

        var (sims, gaps) = ReferenceSimilarities(f, queries);
        // A margin that lets every expert pass, so the band alone decides; a band between two of the distances to the
        // best expert, away from all of them, so that it keeps some and drops some.
        var margin = 1 - gaps.Cast<double>().Min();
        var distances = new List<double>();
        for (var i = 0; i < queries.Count; i++)
        {
            var best = Enumerable.Range(0, f.Experts.Count).Max(e => sims[i, e]);
            for (var e = 0; e < f.Experts.Count; e++) distances.Add(best - sims[i, e]);
        }
        var sorted = distances.Where(d => d > 0).Order().ToArray();
        var (band, room) = Enumerable.Range(0, sorted.Length - 1).Select(j => ((sorted[j] + sorted[j + 1]) / 2, sorted[j + 1] - sorted[j]))
            .Where(x => x.Item1 > sorted[0]).MaxBy(x => x.Item2);
        room.ShouldBeGreaterThan(1e-3, "a band with room on both sides");

        f.Editor.WithFilterMargin(margin).WithFilterBand(band);
        var bandSha = f.Editor.GeneratorSha256;
        bandSha.ShouldBe(f.Editor.WithFilterBand(0).GeneratorSha256, "routing is a serving setting, not the generator's identity");
        f.Editor.WithFilterBand(band);
        var generator = new ExpertGenerator(f.Model, f.Editor);
        var experts = f.Edits.Select(generator.Generate).ToList();
        using var edited = new EditedModel(f.Model, f.Editor);
        for (var e = 0; e < experts.Count; e++) edited.Add($"e{e}", experts[e], e);

        using var scope2 = NewDisposeScope();
        using var noGrad = no_grad();
        var (_, routes) = edited.Logits(f.Model.Prepare(queries));
        int kept = 0, dropped = 0;
        for (var i = 0; i < queries.Count; i++)
        {
            var best = Enumerable.Range(0, experts.Count).Max(e => sims[i, e]);
            var expected = Enumerable.Range(0, experts.Count).Where(e => sims[i, e] >= best - band).Select(e => $"e{e}").ToList();
            routes[i].Fired.Select(x => x.Id).ShouldBe(expected, $"query {i}");
            routes[i].Fired.Sum(x => x.Weight).ShouldBeGreaterThan(0f);
            kept += expected.Count;
            dropped += experts.Count - expected.Count;
        }
        kept.ShouldBeGreaterThan(queries.Count, "some query keeps more than its best expert");
        dropped.ShouldBeGreaterThan(0, "the band drops experts that the filter alone keeps");

        // Removing the best expert of a query lets the next ones in: the band follows the set, not insertion history.
        edited.Remove("e0").ShouldBeTrue();
        var (_, without) = edited.Logits(f.Model.Prepare(queries));
        for (var i = 0; i < queries.Count; i++)
        {
            var best = Enumerable.Range(1, experts.Count - 1).Max(e => sims[i, e]);
            without[i].Fired.Select(x => x.Id).ShouldBe(Enumerable.Range(1, experts.Count - 1).Where(e => sims[i, e] >= best - band).Select(e => $"e{e}").ToList(), $"query {i} without e0");
        }

        var folder = Directory.CreateTempSubdirectory("band-").FullName;
        try
        {
            f.Editor.Save(folder, new EditorProvenance("base", 22, 0, 1, "test", 0));
            var (loaded, _) = EditorModules.Load(folder);
            loaded.DefaultPolicy.Band.ShouldBe(band);
            loaded.GeneratorSha256.ShouldBe(bandSha);
        }
        finally { Directory.Delete(folder, recursive: true); }
        f.Editor.WithFilterMargin(0).WithFilterBand(0).GeneratorSha256.ShouldBe(paperSha, "band 0 and margin 0: the paper's hash");
        Should.Throw<ArgumentException>(() => f.Editor.WithFilterBand(-0.1));
        Should.Throw<ArgumentException>(() => f.Editor.WithFilterBand(double.PositiveInfinity));
    }

    /// <summary>
    /// Reference sim(φ̄, φ̂_e) and gaps sim(φ̄, φ̂_e) − sim(φ̄, φ̄_Ξ) in float64 for every (query, fixture expert).
    /// </summary>
    private static (double[,] Sims, double[,] Gaps) ReferenceSimilarities(EditorFixture f, IReadOnlyList<LiveEdit.Model.Vlm.VlmExample> queries)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var inputs = f.Model.Prepare(queries);
        var hidden = f.Model.HiddenAtEditLayer(inputs);
        var keys = f.Editor.InputSide(hidden, inputs, Enumerable.Range(0, queries.Count).ToList());
        var expertKeys = tensor(f.Experts.SelectMany(e => e.VisualKey.ToArray()).ToArray())
            .reshape(f.Experts.Count, f.Editor.Config.KeyRows, f.Editor.Config.ModuleDim);
        var all = Routing.Similarity(keys.Visual, expertKeys).to_type(ScalarType.Float64).data<double>().ToArray();   // [n, E]
        var sentinel = Routing.PairSimilarity(keys.Visual, keys.Sentinel).to_type(ScalarType.Float64).data<double>().ToArray();
        var sims = new double[queries.Count, f.Experts.Count];
        var gaps = new double[queries.Count, f.Experts.Count];
        for (var i = 0; i < queries.Count; i++)
            for (var e = 0; e < f.Experts.Count; e++)
            {
                sims[i, e] = all[i * f.Experts.Count + e];
                gaps[i, e] = sims[i, e] - sentinel[i];
            }
        return (sims, gaps);
    }
}
