using LiveEdit.Model.Editor;
using Shouldly;
using Xunit;
using static TorchSharp.torch;

namespace LiveEdit.Model.Tests.Editor;

/// <summary>
/// The hard filter's margin (our extension, <see cref="EditorConfig.FilterMargin"/>): keep e iff
/// sim(φ̄, φ̂_e) &gt; sim(φ̄, φ̄_Ξ) − margin; 0 is the paper's filter and leaves an editor's hash as it was.
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

        // Reference gaps sim(φ̄, φ̂_e) − sim(φ̄, φ̄_Ξ) in float64 for every (query, expert).
        double[,] gaps;
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var inputs = f.Model.Prepare(queries);
            var hidden = f.Model.HiddenAtEditLayer(inputs);
            var keys = f.Editor.InputSide(hidden, inputs, Enumerable.Range(0, queries.Count).ToList());
            var expertKeys = tensor(f.Experts.SelectMany(e => e.VisualKey.ToArray()).ToArray())
                .reshape(f.Experts.Count, f.Editor.Config.KeyRows, f.Editor.Config.ModuleDim);
            var sims = Routing.Similarity(keys.Visual, expertKeys).to_type(ScalarType.Float64).data<double>().ToArray();   // [n, E]
            var sentinel = Routing.PairSimilarity(keys.Visual, keys.Sentinel).to_type(ScalarType.Float64).data<double>().ToArray();
            gaps = new double[queries.Count, f.Experts.Count];
            for (var i = 0; i < queries.Count; i++)
                for (var e = 0; e < f.Experts.Count; e++)
                    gaps[i, e] = sims[i * f.Experts.Count + e] - sentinel[i];
        }
        // A margin in the middle of the gaps, away from any one of them, so that both sides of the filter are met.
        var sorted = gaps.Cast<double>().Order().ToArray();
        var mid = sorted.Length / 2;
        var margin = -(sorted[mid - 1] + sorted[mid]) / 2;

        f.Editor.WithFilterMargin(margin);
        var marginSha = f.Editor.GeneratorSha256;
        marginSha.ShouldNotBe(paperSha, "experts record the routing they were made for");
        var generator = new ExpertGenerator(f.Model, f.Editor);
        var experts = f.Edits.Select(generator.Generate).ToList();
        for (var e = 0; e < experts.Count; e++)
        {
            experts[e].U.ToArray().ShouldBe(f.Experts[e].U.ToArray(), "the margin does not change what the generators make");
            experts[e].VisualKey.ToArray().ShouldBe(f.Experts[e].VisualKey.ToArray());
        }
        using var edited = new EditedModel(f.Model, f.Editor);
        for (var e = 0; e < experts.Count; e++) edited.Add($"e{e}", experts[e], e);
        Should.Throw<ArgumentException>(() => edited.Add("paper", f.Experts[0], 99), "an expert of the margin-0 editor is refused");

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
            loaded.Config.FilterMargin.ShouldBe(margin);
            loaded.GeneratorSha256.ShouldBe(marginSha);
            file.GeneratorSha256.ShouldBe(marginSha);
        }
        finally { Directory.Delete(folder, recursive: true); }
        f.Editor.WithFilterMargin(0).GeneratorSha256.ShouldBe(paperSha);
        Should.Throw<ArgumentException>(() => f.Editor.WithFilterMargin(double.NaN));
    }
}
