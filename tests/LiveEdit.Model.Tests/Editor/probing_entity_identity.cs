using LiveEdit.Model.Runtime;
using LiveEdit.Model.Vlm;
using LiveEdit.Research.Editing;
using LiveEdit.Research.World;
using Shouldly;
using Xunit;

namespace LiveEdit.Model.Tests.Editor;

/// <summary>The identity probe behind `liveedit eval identity` (a diagnostic for the visual hard filter).</summary>
[Collection(EditorCollection.Name)]
public sealed class probing_entity_identity
{
    private static readonly SynthWorld World = new(new WorldConfig(EntityCount: 40, KnownEntities: 12, Lands: 10));

    private static IReadOnlyList<IdentityProbeResult> Probe()
    {
        TorchRuntime.Configure(threads: 1, seed: 0);
        var model = new TinyVlm(TinyVlmConfig.Micro, new WordTokenizer(World.Vocabulary), initSeed: 5);
        model.eval();
        return IdentityProbe.Run(model, World, EditSplit.EditorTrain, trainRenders: 6, testRenders: 2, seed: 3);
    }

    [Fact]
    public void both_classifiers_on_both_features_report_accuracies_and_the_same_figures_twice()
    {
        var first = Probe();
        first.Select(r => (r.Features.StartsWith("raw", StringComparison.Ordinal), r.Classifier.StartsWith("linear", StringComparison.Ordinal)))
            .ShouldBe([(false, true), (false, false), (true, true), (true, false)]);
        var entities = World.Entities.Count(e => e.EditSplit == EditSplit.EditorTrain);
        first.ShouldAllBe(r => r.Entities == entities && r.TrainRenders == 6 && r.TestRenders == 2);
        first.ShouldAllBe(r => r.TrainAccuracy >= 0 && r.TrainAccuracy <= 100 && r.HeldOutAccuracy >= 0 && r.HeldOutAccuracy <= 100
                               && r.WithinFamilyErrors >= 0 && r.WithinFamilyErrors <= 100 - r.HeldOutAccuracy + 1e-9);
        // Six renderings per entity are easy to memorise from the pixels: the classifiers do learn.
        first[3].TrainAccuracy.ShouldBeGreaterThan(90);
        Probe().ShouldBe(first, "seeded: the same figures");
    }

    [Fact]
    public void a_world_rendered_at_another_size_is_probed_on_its_pixels_alone()
    {
        TorchRuntime.Configure(threads: 1, seed: 0);
        var model = new TinyVlm(TinyVlmConfig.Micro, new WordTokenizer(World.Vocabulary), initSeed: 5);
        var larger = new SynthWorld(new WorldConfig(EntityCount: 40, KnownEntities: 12, Lands: 10, ImageSize: 48));
        var rows = IdentityProbe.Run(model, larger, EditSplit.EditorTrain, trainRenders: 4, testRenders: 2, seed: 3, pixelsOnly: true);
        rows.Select(r => r.Features).ShouldBe(["raw pixel patches (48×48)", "raw pixel patches (48×48)"]);
    }

    [Fact]
    public void no_renderings_is_refused()
    {
        var model = new TinyVlm(TinyVlmConfig.Micro, new WordTokenizer(World.Vocabulary), initSeed: 5);
        Should.Throw<ArgumentException>(() => IdentityProbe.Run(model, World, EditSplit.EditorTrain, 0, 2, 0));
    }
}
