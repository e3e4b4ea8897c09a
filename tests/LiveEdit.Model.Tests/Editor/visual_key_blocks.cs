using LiveEdit.Model.Editor;
using LiveEdit.Model.Runtime;
using LiveEdit.Research.Editing;
using LiveEdit.Research.World;
using Shouldly;
using Xunit;
using static TorchSharp.torch;

namespace LiveEdit.Model.Tests.Editor;

/// <summary>
/// Our extension beyond the paper: vision-token blocks before the visual key's pooling, and keys-only fine-tuning of a
/// trained editor.
/// </summary>
[Collection(EditorCollection.Name)]
public sealed class visual_key_blocks
{
    private static IReadOnlyList<EditSample> Samples()
    {
        EditQuery Query(int entity, int salt) => new(() => full(3, 8, 8, 0.1f * (entity % 7) + 0.01f * salt), $"what is w{entity % 3} ?", $"t{10 + entity % 5}", entity, "owner");
        return Enumerable.Range(0, 24).Select(i => new EditSample(i, "owner", Query(i % 12, 0), Query(i % 12, 1), Query(i % 12, 2), Query((i + 1) % 12, 3),
            new EditQuery(null, "what is w2 ?", "t11", null))).ToList();
    }

    private static (RandomTinyVlm Model, EditorModules Trained) TrainedPaperEditor()
    {
        TorchRuntime.Configure(threads: 1, seed: 2);
        var model = new RandomTinyVlm(seed: 2);
        manual_seed(5);
        var editor = new EditorModules(EditorConfig.For(model.Shape, heads: 2));
        new EditorTrainer(model, editor, Samples(), new EditorTrainingOptions(Steps: 2, BatchSize: 8, LearningRate: 1e-2, Seed: 3, CheckpointEvery: 0)).Train();
        return (model, editor);
    }

    [Fact]
    public void keys_keep_their_shape_and_new_blocks_start_as_the_identity()
    {
        var (model, paper) = TrainedPaperEditor();
        manual_seed(9);
        var extended = new EditorModules(paper.Config with { VisualKeyBlocks = 2 }).CopyFrom(paper).Freeze();
        var inputs = model.Prepare(Samples().Take(3).Select(s => s.Edit.ToExample()).ToList());
        var hidden = model.HiddenAtEditLayer(inputs);
        var rows = new[] { 0, 1, 2 };
        var keys = extended.InputSide(hidden, inputs, rows);
        keys.Visual.shape.ShouldBe([3, paper.Config.KeyRows, paper.Config.ModuleDim]);
        keys.Sentinel.shape.ShouldBe([3, paper.Config.KeyRows, paper.Config.ModuleDim]);
        var before = paper.InputSide(hidden, inputs, rows);
        keys.Visual.allclose(before.Visual, rtol: 1e-5, atol: 1e-6).ShouldBeTrue("zero output projections: each block adds nothing at first");
        keys.Sentinel.allclose(before.Sentinel, rtol: 1e-5, atol: 1e-6).ShouldBeTrue();
        extended.EditVisualKeys(hidden, inputs, rows).allclose(paper.EditVisualKeys(hidden, inputs, rows), rtol: 1e-5, atol: 1e-6).ShouldBeTrue();
        extended.GeneratorSha256.ShouldNotBe(paper.GeneratorSha256, "the blocks' parameters are hashed too");
    }

    [Fact]
    public void an_editor_with_blocks_saves_and_loads_with_the_same_hash_and_keys()
    {
        var (model, paper) = TrainedPaperEditor();
        var extended = new EditorModules(paper.Config with { VisualKeyBlocks = 1 }).CopyFrom(paper);
        new EditorTrainer(model, extended, Samples(), new EditorTrainingOptions(Steps: 2, BatchSize: 8, LearningRate: 1e-2, Seed: 3, CheckpointEvery: 0, KeysOnly: true)).Train();
        var folder = Path.Combine(Path.GetTempPath(), $"editor-blocks-{Guid.NewGuid():N}");
        try
        {
            extended.Save(folder, new EditorProvenance("base", 3, 2, 1, "test", 0) { InitGeneratorSha256 = paper.GeneratorSha256 });
            var (loaded, file) = EditorModules.Load(folder);
            loaded.Config.VisualKeyBlocks.ShouldBe(1);
            file.Provenance.InitGeneratorSha256.ShouldBe(paper.GeneratorSha256);
            loaded.GeneratorSha256.ShouldBe(extended.GeneratorSha256);
            var inputs = model.Prepare(Samples().Take(2).Select(s => s.ImageGenerality.ToExample()).ToList());
            var hidden = model.HiddenAtEditLayer(inputs);
            loaded.InputSide(hidden, inputs, [0, 1]).Visual.allclose(extended.InputSide(hidden, inputs, [0, 1]).Visual, rtol: 0, atol: 0).ShouldBeTrue();
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void an_editor_json_without_the_field_loads_as_the_papers_extractor_with_its_hash()
    {
        var (_, paper) = TrainedPaperEditor();
        var folder = Path.Combine(Path.GetTempPath(), $"editor-old-{Guid.NewGuid():N}");
        try
        {
            paper.Save(folder, new EditorProvenance("base", 3, 2, 1, "test", 0));
            var json = File.ReadAllText(Path.Combine(folder, EditorModules.ConfigFile));
            json.ShouldNotContain("visualKeyBlocks", Case.Insensitive, "0 is not written: old and new files of the paper's editor read alike");
            json.ShouldNotContain("initGeneratorSha256", Case.Insensitive);
            var (loaded, _) = EditorModules.Load(folder);
            loaded.Config.VisualKeyBlocks.ShouldBe(0);
            loaded.GeneratorSha256.ShouldBe(paper.GeneratorSha256);
            loaded.state_dict().Keys.ShouldNotContain(k => k.Contains("vision_blocks"));
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void the_committed_editor_still_loads_with_its_recorded_hash()
    {
        // models/liveedit-editor is committed beside models/tinyvlm.
        var folder = Path.Combine(Path.GetDirectoryName(the_committed_checkpoint.Folder())!, "liveedit-editor");
        var (editor, file) = EditorModules.Load(folder);   // Load itself checks both SHA-256s
        editor.Config.VisualKeyBlocks.ShouldBe(0);
        editor.GeneratorSha256.ShouldBe(file.GeneratorSha256);
        // Its filter bank (the hubness correction) came with it, the very bytes editor.json names.
        if (file.Config.FilterBankSha256 is { } bank) editor.Bank!.Sha256.ShouldBe(bank);
        else editor.DefaultPolicy.HubnessWeight.ShouldBe(0);
    }

    [Fact]
    public void keys_only_training_changes_the_visual_keys_and_leaves_everything_else_bit_identical()
    {
        var (model, paper) = TrainedPaperEditor();
        manual_seed(9);
        var extended = new EditorModules(paper.Config with { VisualKeyBlocks = 1 }).CopyFrom(paper);
        var before = extended.state_dict().ToDictionary(p => p.Key, p => p.Value.clone());
        var trained = extended.VisualKeyParameters().Select(p => p.Name).ToHashSet();
        trained.ShouldContain("inpt_extractor.vis_rep_prot");
        trained.ShouldContain(n => n.StartsWith("edit_extractor.vision_blocks.", StringComparison.Ordinal));
        trained.ShouldNotContain(n => n.StartsWith("moegen_", StringComparison.Ordinal) || n.Contains("ext2") || n.Contains("eqe2") || n.Contains("layer_norm2") || n.StartsWith("instant_reps_norm", StringComparison.Ordinal));
        var losses = new List<EditorLosses>();
        new EditorTrainer(model, extended, Samples(), new EditorTrainingOptions(Steps: 3, BatchSize: 8, LearningRate: 1e-2, Seed: 3, CheckpointEvery: 0, ExtraNegatives: 4, RecallLoss: true, KeysOnly: true))
            .Train(p => losses.Add(p.Losses));
        losses.ShouldAllBe(l => double.IsFinite(l.HardRouting) && l.Reliability == 0);
        foreach (var (name, value) in extended.state_dict())
        {
            var same = value.allclose(before[name], rtol: 0, atol: 0);
            if (trained.Contains(name)) continue;
            same.ShouldBeTrue($"{name} is not a visual-key parameter");
        }
        trained.Count(n => !extended.state_dict()[n].allclose(before[n], rtol: 0, atol: 0)).ShouldBeGreaterThan(trained.Count / 2, "the visual keys did train");
    }

    [Fact]
    public void a_resumed_keys_only_run_ends_with_the_same_editor_as_an_uninterrupted_one()
    {
        var options = new EditorTrainingOptions(Steps: 4, BatchSize: 8, LearningRate: 1e-2, Seed: 3, CheckpointEvery: 2, ExtraNegatives: 4, RecallLoss: true, KeysOnly: true);
        (EditorModules Editor, EditorTrainer Trainer) Fresh()
        {
            var (model, paper) = TrainedPaperEditor();
            manual_seed(9);
            var editor = new EditorModules(paper.Config with { VisualKeyBlocks = 1 }).CopyFrom(paper);
            return (editor, new EditorTrainer(model, editor, Samples(), options));
        }
        var folder = Path.Combine(Path.GetTempPath(), $"editor-keys-resume-{Guid.NewGuid():N}");
        try
        {
            var (whole, wholeTrainer) = Fresh();
            wholeTrainer.Train();
            var (_, firstTrainer) = Fresh();
            using var stop = new CancellationTokenSource();
            Should.Throw<OperationCanceledException>(() => firstTrainer.Train(p => { if (p.Step == 2) stop.Cancel(); }, folder, stop.Token));
            var (resumed, resumedTrainer) = Fresh();
            resumedTrainer.Train(checkpointFolder: folder);
            resumed.GeneratorSha256.ShouldBe(whole.GeneratorSha256);
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void look_pairs_train_the_visual_keys_on_renderings_no_case_has_and_repeat_bit_for_bit()
    {
        // Two renderings of one "look" per pair: the same constant image with a little seeded noise.
        var requested = new List<(ulong Seed, int Count)>();
        IReadOnlyList<(Tensor, Tensor)> Pairs(ulong seed, int count)
        {
            requested.Add((seed, count));
            var g = new Generator(seed % 100_000);
            return Enumerable.Range(0, count).Select(j =>
            {
                var look = full(3, 8, 8, 0.05f * j);
                return (look + 0.01f * rand(3, 8, 8, generator: g), look + 0.01f * rand(3, 8, 8, generator: g));
            }).ToList();
        }
        (EditorModules Editor, List<EditorLosses> Losses) Run(int lookPairs)
        {
            var (model, paper) = TrainedPaperEditor();
            var editor = new EditorModules(paper.Config).CopyFrom(paper);
            var losses = new List<EditorLosses>();
            new EditorTrainer(model, editor, Samples(), new EditorTrainingOptions(Steps: 3, BatchSize: 8, LearningRate: 1e-2, Seed: 3, CheckpointEvery: 0, RecallLoss: true, KeysOnly: true, LookPairs: lookPairs))
                { UnnamedLookPairs = Pairs }.Train(p => losses.Add(p.Losses));
            return (editor, losses);
        }
        var (plain, plainLosses) = Run(0);
        requested.ShouldBeEmpty("no pairs are drawn when the option is off");
        var (first, firstLosses) = Run(5);
        requested.Count.ShouldBe(3);
        requested.ShouldAllBe(r => r.Count == 5);
        requested.Select(r => r.Seed).Distinct().Count().ShouldBe(3, "each step draws its own pairs");
        var (second, _) = Run(5);
        second.GeneratorSha256.ShouldBe(first.GeneratorSha256, "seeded: the same bytes twice");
        first.GeneratorSha256.ShouldNotBe(plain.GeneratorSha256, "the pairs' loss reaches the visual keys");
        firstLosses[0].HardRouting.ShouldBeGreaterThan(plainLosses[0].HardRouting, "the first step's loss has the pairs' terms on top");
        var (model, paper) = TrainedPaperEditor();
        Should.Throw<InvalidOperationException>(() => new EditorTrainer(model, paper, Samples(),
            new EditorTrainingOptions(Steps: 1, BatchSize: 8, Seed: 3, CheckpointEvery: 0, KeysOnly: true, LookPairs: 2)).Train());
    }
}
