using LiveEdit.Model.Runtime;
using LiveEdit.Model.Tests.Editor;
using LiveEdit.Model.Vlm;
using LiveEdit.Research.World;
using Shouldly;
using Xunit;
using static TorchSharp.torch;

namespace LiveEdit.Model.Tests;

[Collection(EditorCollection.Name)]
public sealed class tiny_vlm_interface : IDisposable
{
    private static readonly SynthWorld World = new(new WorldConfig(EntityCount: 40, KnownEntities: 12, Lands: 10));
    private readonly TinyVlm _model;
    private readonly TorchSharp.DisposeScope _scope;

    public tiny_vlm_interface()
    {
        TorchRuntime.Configure(threads: 1, seed: 0);
        _model = new TinyVlm(TinyVlmConfig.Micro, new WordTokenizer(World.Vocabulary), initSeed: 5);
        _model.eval();
        _scope = NewDisposeScope();
    }

    private VlmExample[] MixedBatch() =>
    [
        World.ImageQuestion(World.KnownEntities[0], EntityAttribute.Home, 1, "thing", RenderSplit.BaseEval, 0).ToExample(),
        World.TextQuestion(World.Lands[0], LandAttribute.Capital, 0).ToExample(),
        World.ImageQuestion(World.KnownEntities[1], EntityAttribute.Owner, 3, "creature", RenderSplit.BaseEval, 1).ToExample(withAnswer: false),
    ];

    [Fact]
    public void the_shape_reports_width_vision_tokens_and_edit_layer()
    {
        _model.Shape.ShouldBe(new VlmShape(64, 16, 1, 2, World.Vocabulary.Count + 4));
        TinyVlmConfig.Default.EditLayer.ShouldBe(2);
        TinyVlmConfig.Default.Layers.ShouldBe(4);
    }

    [Fact]
    public void prepare_lays_out_vision_prompt_and_answer_ranges()
    {
        var batch = MixedBatch();
        var inputs = _model.Prepare(batch);
        inputs.Count.ShouldBe(3);
        inputs.VisionCount.ShouldBe([16, 0, 16]);
        inputs.HasImage(1).ShouldBeFalse();
        inputs.PromptStart.ShouldBe([16, 0, 16]);
        inputs.PromptLength[1].ShouldBe(_model.Tokenizer.Encode(batch[1].Prompt).Length);
        inputs.AnswerStart[0].ShouldBe(inputs.PromptStart[0] + inputs.PromptLength[0]);
        inputs.AnswerLength[0].ShouldBe(3, "two words of the home + <eos>");
        inputs.AnswerLength[2].ShouldBe(0, "no answer given");
        inputs.Length.ShouldBe(Enumerable.Range(0, 3).Select(i => inputs.AnswerStart[i] + inputs.AnswerLength[i]).ToArray());
        inputs.TokenIds.shape.ShouldBe([3L, inputs.Length.Max()]);
        inputs.Images!.shape.ShouldBe([3L, 3, 32, 32]);
        var ids = inputs.TokenIds.data<long>().ToArray();
        ids[inputs.AnswerStart[0] + 2].ShouldBe(WordTokenizer.EndOfAnswer);
        ids[0].ShouldBe(WordTokenizer.Image);

        var textOnly = _model.Prepare([World.TextQuestion(World.Lands[1], LandAttribute.Export, 2).ToExample()]);
        textOnly.VisionCount.ShouldBe([0]);
        textOnly.Images.ShouldBeNull();
    }

    [Fact]
    public void logits_equal_hidden_at_edit_layer_then_logits_from_edit_layer()
    {
        var inputs = _model.Prepare(MixedBatch());
        using var _ = no_grad();
        var full = _model.Logits(inputs);
        var hidden = _model.HiddenAtEditLayer(inputs);
        hidden.shape.ShouldBe([3L, inputs.Length.Max(), 64]);
        var split = _model.LogitsFromEditLayer(inputs, hidden);
        full.shape.ShouldBe([3L, inputs.Length.Max(), _model.Shape.VocabSize]);
        (full - split).abs().max().item<float>().ShouldBeLessThanOrEqualTo(1e-6f);
        (_model.Logits(inputs, h => h) - full).abs().max().item<float>().ShouldBe(0f);
        (_model.Logits(inputs, h => h + linspace(-1, 1, 64)) - full).abs().max().item<float>().ShouldBeGreaterThan(1e-3f, "the hook changes the output");
    }

    [Fact]
    public void padding_does_not_change_an_example_logits()
    {
        using var _ = no_grad();
        var batch = MixedBatch();
        var alone = _model.Logits(_model.Prepare([batch[1]]));               // [1, L1, V]
        var together = _model.Logits(_model.Prepare(batch));                 // [3, L, V]
        var l1 = alone.shape[1];
        (together[1].narrow(0, 0, l1) - alone[0]).abs().max().item<float>().ShouldBeLessThan(1e-5f);
    }

    [Fact]
    public void greedy_answers_decode_words_and_apply_the_hook()
    {
        var batch = MixedBatch();
        var answers = _model.GreedyAnswers(batch, maxNewTokens: 3);
        answers.Count.ShouldBe(3);
        foreach (var a in answers) a.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length.ShouldBeLessThanOrEqualTo(3);

        // A hook that pushes layer l_e's output along the unembedding of one word makes greedy decoding say it.
        var target = _model.Tokenizer.Encode("harbor")[0];
        var hooked = _model.GreedyAnswers(batch, h => h + 50 * LmHeadRow(target), maxNewTokens: 2);
        hooked.ShouldAllBe(a => a.StartsWith("harbor"));
    }

    private Tensor LmHeadRow(int token) =>
        _model.named_parameters().Single(p => p.name == "lm_head.weight").parameter[token].detach();

    [Fact]
    public void save_and_load_round_trip_bytes_hash_and_outputs()
    {
        var folder = Directory.CreateTempSubdirectory("liveedit-vlm-").FullName;
        try
        {
            _model.Save(folder);
            var loaded = TinyVlm.Load(folder);
            loaded.WeightsSha256.ShouldBe(_model.WeightsSha256);
            loaded.WeightsSha256.ShouldBe(TinyVlm.FileSha256(Path.Combine(folder, TinyVlm.WeightsFile)));
            loaded.Config.ShouldBe(_model.Config);
            loaded.GreedyAnswers(MixedBatch()).ShouldBe(_model.GreedyAnswers(MixedBatch()));

            var weights = Path.Combine(folder, TinyVlm.WeightsFile);
            var bytes = File.ReadAllBytes(weights);
            bytes[^10] ^= 0x01;
            File.WriteAllBytes(weights, bytes);
            Should.Throw<CheckpointException>(() => TinyVlm.Load(folder)).Message.ShouldContain("SHA-256");

            File.Delete(weights);
            Should.Throw<CheckpointException>(() => TinyVlm.Load(folder)).Message.ShouldContain("weights.bin");
        }
        finally
        {
            Directory.Delete(folder, true);
        }
    }

    [Fact]
    public void bad_inputs_get_clear_errors()
    {
        Should.Throw<ArgumentException>(() => _model.Prepare([new VlmExample(null, string.Join(' ', Enumerable.Repeat("what", 60)))]))
            .Message.ShouldContain("at most 48");
        Should.Throw<ArgumentException>(() => _model.Prepare([new VlmExample(zeros(3, 64, 64), "who is this ?")]))
            .Message.ShouldContain("ToModelInput");
        Should.Throw<ArgumentException>(() => _model.Prepare([new VlmExample(null, "  ")]));
        _model.Prepare([new VlmExample(null, "completely unseen words ?")]).TokenIds.data<long>().ToArray()
            .ShouldContain(WordTokenizer.Unknown);
    }

    public void Dispose()
    {
        _scope.Dispose();
        _model.Dispose();
    }
}
