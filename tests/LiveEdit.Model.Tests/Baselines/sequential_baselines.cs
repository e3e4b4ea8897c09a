using LiveEdit.Model.Runtime;
using LiveEdit.Model.Tests.Editor;
using LiveEdit.Model.Vlm;
using LiveEdit.Research.Baselines;
using LiveEdit.Research.Editing;
using LiveEdit.Research.World;
using Shouldly;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LiveEdit.Model.Tests.Baselines;

/// <summary>The three baselines on the committed TinyVLM and a few SynthWorld edits (evaluation split).</summary>
[Collection(EditorCollection.Name)]
public sealed class sequential_baselines(ITestOutputHelper output)
{
    private static (TinyVlm Model, IReadOnlyList<EditSample> Cases) Setup(int cases)
    {
        TorchRuntime.Configure(threads: 1, seed: 0);
        var model = TinyVlm.Load(the_committed_checkpoint.Folder());
        var world = new SynthWorld(WorldConfig.Default);
        return (model, world.EditCases(EditSplit.EditorEval, cases, seed: 3).Select(EditSample.From).ToList());
    }

    /// <summary>Per row: the share of answer tokens the teacher-forced logits predict.</summary>
    private static double TargetAccuracy(Tensor logits, VlmInputs inputs, IEnumerable<int> rows)
    {
        var argmax = logits.argmax(-1);
        double hits = 0, total = 0;
        foreach (var i in rows)
            for (var j = 0; j < inputs.AnswerLength[i]; j++)
            {
                total++;
                if (argmax[i, inputs.AnswerStart[i] + j - 1].item<long>() == inputs.TokenIds[i, inputs.AnswerStart[i] + j].item<long>()) hits++;
            }
        return hits / total;
    }

    private static float[] Values(Tensor t) => t.contiguous().data<float>().ToArray();

    [Theory]
    [InlineData("ft-l")]
    [InlineData("lora")]
    [InlineData("grace")]
    public void each_baseline_changes_its_edited_answers_and_reset_restores_the_base_bit_for_bit(string method)
    {
        var (model, cases) = Setup(4);
        using var scope = NewDisposeScope();
        var rows = cases.Select(c => c.Edit.ToExample())
            .Concat(cases.Select(c => c.ImageLocality.ToExample()))
            .Concat(cases.Select(c => c.TextLocality.ToExample())).ToList();
        var inputs = model.Prepare(rows);
        var edited = Enumerable.Range(0, cases.Count).ToList();
        var baseLogits = Values(model.Logits(inputs));

        using var editor = BaselineMethods.Create(method, model);
        var before = TargetAccuracy(editor.Logits(inputs), inputs, edited);
        foreach (var c in cases) editor.Apply(c.Edit.ToExample());
        editor.Edits.ShouldBe(4);
        var after = TargetAccuracy(editor.Logits(inputs), inputs, edited);
        output.WriteLine($"{method}: edited-target token accuracy {before:P0} → {after:P0}");
        after.ShouldBeGreaterThan(before, "the edits change the edited answers towards their targets");

        editor.Reset();
        editor.Edits.ShouldBe(0);
        Values(editor.Logits(inputs)).ShouldBe(baseLogits, "after Reset the model is the base model, bit for bit");
        Values(model.Logits(inputs)).ShouldBe(baseLogits, "the base model itself is unchanged");
    }

    [Theory]
    [InlineData("ft-l")]
    [InlineData("lora")]
    [InlineData("grace")]
    public void edits_and_queries_leave_no_tensor_behind(string method)
    {
        var (model, cases) = Setup(6);
        using var editor = BaselineMethods.Create(method, model);
        void Round(EditSample c)
        {
            using var scope = NewDisposeScope();
            editor.Apply(c.Edit.ToExample());
            editor.Logits(model.Prepare([c.Edit.ToExample(), c.ImageGenerality.ToExample(), c.TextLocality.ToExample()]));
            editor.Answers([c.Edit.ToExample(withAnswer: false)]);
        }
        Round(cases[0]);
        Round(cases[1]);
        var live = TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount;
        foreach (var c in cases.Skip(2)) Round(c);
        TorchSharp.DisposeScopeManager.Statistics.ThreadTotalLiveCount.ShouldBe(live, "four more edits and queries keep the same number of live tensors");
    }

    [Fact]
    public void grace_leaves_text_only_inputs_untouched_even_when_every_key_is_in_range()
    {
        var (model, cases) = Setup(4);
        using var scope = NewDisposeScope();
        // The edits' own prompts without their image, and the text-locality questions.
        var textOnly = cases.Select(c => new VlmExample(null, c.Edit.Prompt, c.Edit.Answer))
            .Concat(cases.Select(c => c.TextLocality.ToExample())).ToList();
        var inputs = model.Prepare(textOnly);
        var baseLogits = Values(model.Logits(inputs));
        using var grace = new GraceCodebook(model, new GraceConfig(Epsilon: 1e6));
        foreach (var c in cases) grace.Apply(c.Edit.ToExample());
        Values(grace.Logits(inputs)).ShouldBe(baseLogits);
        grace.Answers(textOnly).ShouldBe(model.GreedyAnswers(textOnly.Select(e => e with { Answer = null }).ToList()));
    }

    [Fact]
    public void grace_re_editing_the_same_input_lets_the_later_target_win()
    {
        var (model, cases) = Setup(2);
        using var scope = NewDisposeScope();
        var first = cases[0].Edit.ToExample();
        var second = first with { Answer = cases[1].Edit.Answer == first.Answer ? "zzz" : cases[1].Edit.Answer };
        using var grace = new GraceCodebook(model);
        grace.Apply(first);
        grace.Answers([first]).ShouldBe([first.Answer!]);
        grace.Apply(second);
        grace.Answers([first]).ShouldBe([second.Answer!]);
        grace.Entries.ShouldBe(1, "the same key edited again keeps one entry, with the later value");
    }

    [Fact]
    public void the_evaluation_measures_each_checkpoint_with_no_filter_figures()
    {
        var (model, cases) = Setup(6);
        using var grace = new GraceCodebook(model);
        var evaluation = new BaselineEvaluation(model, grace, cases) { Log = output.WriteLine };
        var rows = evaluation.Lifelong([1, 3, 6], maxEvalCases: 6);
        rows.Select(r => r.Edits).ShouldBe([1, 3, 6]);
        rows.Select(r => r.Protocol).ShouldBe(["lifelong@1", "lifelong@3", "lifelong@6"]);
        foreach (var r in rows)
        {
            double.IsNaN(r.FilterPrecision).ShouldBeTrue();
            double.IsNaN(r.FilterRecall).ShouldBeTrue();
            r.TLoc.ShouldBe(100, "GRACE never touches text-only inputs");
            r.Rel.ShouldBeGreaterThan(50);
        }
        evaluation.EditMsPerEdit.ShouldBeGreaterThan(0);
        var chunks = evaluation.Chunks(chunkSize: 2, maxCases: 6);
        chunks.Protocol.ShouldBe("chunks T=2");
        chunks.Cases.ShouldBe(6, "three chunks of two edits, each measured after its own two edits");
        grace.Edits.ShouldBe(0, "the chunk protocol resets after the last chunk");
    }

    [Fact]
    public void an_unknown_method_is_rejected_with_the_known_names()
    {
        var (model, _) = Setup(1);
        var error = Should.Throw<ArgumentException>(() => BaselineMethods.Create("rome", model));
        error.Message.ShouldContain("'rome'");
        error.Message.ShouldContain("ft-l, lora, grace");
    }

    [Fact]
    public void ft_l_needs_a_model_that_exposes_its_edit_layer_mlp()
    {
        TorchRuntime.Configure(threads: 1, seed: 0);
        var random = new RandomTinyVlm(seed: 1);
        Should.Throw<ArgumentException>(() => new LayerFineTuning(random)).Message.ShouldContain(nameof(IEditLayerMlp));
    }
}
