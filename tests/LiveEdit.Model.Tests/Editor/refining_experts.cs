using LiveEdit.Model.Editor;
using LiveEdit.Model.Vlm;
using Shouldly;
using Xunit;
using static TorchSharp.torch;

namespace LiveEdit.Model.Tests.Editor;

/// <summary>
/// The expert refinement (our extension beyond the paper): a few Adam steps on U and V toward the edit's own
/// target, keys untouched, named in the generator hash, still a pure function of the edit.
/// </summary>
[Collection(EditorCollection.Name)]
public sealed class refining_experts
{
    private static readonly ExpertRefinement Strong = new(Steps: 200, LearningRate: 0.1, StopLoss: 0.001);

    private static EditorFixture Refined(ExpertRefinement refinement, long seed = 31, int edits = 4)
    {
        var f = new EditorFixture(seed, edits);
        f.Editor.WithRefinement(refinement);
        return f;
    }

    // One-token targets: the random VLM has one layer after l_e and no end-of-answer token in its layout.
    private static IReadOnlyList<VlmExample> OneTokenEdits(EditorFixture f) =>
        f.Edits.Select((e, i) => e with { Answer = $"t{40 + i}" }).ToList();

    /// <summary>Teacher-forced cross-entropy of each edit's one-token target with its expert alone applied.</summary>
    private static double[] TargetLosses(EditorFixture f, IReadOnlyList<VlmExample> edits, IReadOnlyList<Expert> experts)
    {
        var losses = new double[edits.Count];
        for (var i = 0; i < edits.Count; i++)
        {
            using var scope = NewDisposeScope();
            // Filter off (a random editor's sentinel decides nothing useful): the expert always applies, at w = σ(s).
            using var edited = new EditedModel(f.Model, f.Editor, new RoutingOptions(HardFilter: false));
            edited.Add($"e{i}", experts[i], i);
            var inputs = f.Model.Prepare([edits[i]]);
            var (logits, _) = edited.Logits(inputs);
            var position = inputs.AnswerStart[0];
            var target = inputs.TokenIds[0, position].item<long>();
            losses[i] = -nn.functional.log_softmax(logits[0, position - 1], 0)[target].item<float>();
        }
        return losses;
    }

    [Fact]
    public void lowers_the_loss_of_every_edit_target()
    {
        var paper = new EditorFixture(seed: 31, edits: 4);
        var edits = OneTokenEdits(paper);
        var before = TargetLosses(paper, edits, edits.Select(paper.Generator.Generate).ToList());

        var refined = Refined(Strong);
        var generator = new ExpertGenerator(refined.Model, refined.Editor);
        var after = TargetLosses(refined, edits, edits.Select(generator.Generate).ToList());
        for (var i = 0; i < edits.Count; i++)
            after[i].ShouldBeLessThan(before[i] * 0.9, $"edit {i}: {before[i]:F3} → {after[i]:F3}");
        after.Average().ShouldBeLessThan(before.Average() * 0.6);
    }

    [Fact]
    public void changes_u_and_v_but_not_the_keys()
    {
        var paper = new EditorFixture(seed: 32, edits: 3);
        var refined = Refined(Strong, seed: 32);
        var generator = new ExpertGenerator(refined.Model, refined.Editor);
        for (var i = 0; i < 3; i++)
        {
            var before = paper.Experts[i];
            var after = generator.Generate(refined.Edits[i]);
            after.VisualKey.ToArray().ShouldBe(before.VisualKey.ToArray());
            after.TextKey.ToArray().ShouldBe(before.TextKey.ToArray());
            after.U.ToArray().ShouldNotBe(before.U.ToArray());
            after.V.ToArray().ShouldNotBe(before.V.ToArray());
        }
    }

    [Fact]
    public void gives_the_same_bytes_every_time()
    {
        var f = Refined(Strong, seed: 33);
        var generator = new ExpertGenerator(f.Model, f.Editor);
        var first = f.Edits.Select(e => generator.Generate(e).Sha256).ToList();
        var again = f.Edits.Select(e => generator.Generate(e).Sha256).ToList();
        again.ShouldBe(first);
        var other = Refined(Strong, seed: 33);
        other.Edits.Select(e => new ExpertGenerator(other.Model, other.Editor).Generate(e).Sha256).ShouldBe(first);
    }

    [Fact]
    public void names_its_settings_in_the_generator_hash_so_mixed_experts_are_refused()
    {
        var f = new EditorFixture(seed: 34, edits: 2);
        var paperHash = f.Editor.GeneratorSha256;
        f.Editor.WithRefinement(Strong);
        var strongHash = f.Editor.GeneratorSha256;
        f.Editor.WithRefinement(Strong with { Steps = 199 });
        var otherHash = f.Editor.GeneratorSha256;
        f.Editor.WithRefinement(null);
        f.Editor.GeneratorSha256.ShouldBe(paperHash, "without refinement the hash is the parameters' alone, as before the extension");
        new[] { paperHash, strongHash, otherHash }.Distinct().Count().ShouldBe(3);

        f.Editor.WithRefinement(Strong);
        var refinedExpert = new ExpertGenerator(f.Model, f.Editor).Generate(f.Edits[0]);
        refinedExpert.GeneratorSha256.ShouldBe(strongHash);
        f.Editor.WithRefinement(null);
        using var paperModel = new EditedModel(f.Model, f.Editor);
        Should.Throw<ArgumentException>(() => paperModel.Add("e0", refinedExpert, 0)).Message.ShouldContain("was generated by editor");
    }

    [Theory]
    [InlineData(0, 0.01, 0.01)]
    [InlineData(10, 0.0, 0.01)]
    [InlineData(10, double.NaN, 0.01)]
    [InlineData(10, 0.01, -1.0)]
    public void refuses_bad_settings_and_keeps_the_editor_as_it_was(int steps, double lr, double stop)
    {
        var f = new EditorFixture(seed: 35, edits: 1);
        var hash = f.Editor.GeneratorSha256;
        Should.Throw<ArgumentException>(() => f.Editor.WithRefinement(new ExpertRefinement(steps, lr, stop)));
        f.Editor.Config.Refinement.ShouldBeNull();
        f.Editor.GeneratorSha256.ShouldBe(hash);
    }

    [Fact]
    public void survives_a_save_and_load_of_the_editor_folder()
    {
        var f = Refined(Strong, seed: 36);
        var folder = Path.Combine(Path.GetTempPath(), $"refined-editor-{Guid.NewGuid():N}");
        try
        {
            f.Editor.Save(folder, new EditorProvenance(f.Model.WeightsSha256, 36, 0, 1, "test", 0));
            var (loaded, file) = EditorModules.Load(folder);
            file.Config.Refinement.ShouldBe(Strong);
            loaded.GeneratorSha256.ShouldBe(f.Editor.GeneratorSha256);
            var expert = new ExpertGenerator(f.Model, loaded).Generate(f.Edits[0]);
            expert.Sha256.ShouldBe(new ExpertGenerator(f.Model, f.Editor).Generate(f.Edits[0]).Sha256);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
