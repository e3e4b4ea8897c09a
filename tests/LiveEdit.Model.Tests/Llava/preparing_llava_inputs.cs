using LiveEdit.Model.Llava;
using LiveEdit.Model.Tests.Editor;
using LiveEdit.Model.Vlm;
using Shouldly;
using Xunit;
using static TorchSharp.torch;

namespace LiveEdit.Model.Tests.Llava;

/// <summary>
/// A prepared row is the chat template around the prompt, tokenised as one text; the ranges the editor reads name the
/// image's positions, the user's prompt and the answer with its end token. Text a user controls cannot place images or
/// end the answer, and what cannot fit is refused before any tensor is made.
/// </summary>
[Collection(EditorCollection.Name)]
public sealed class preparing_llava_inputs : IDisposable
{
    private readonly LlavaModel model = TinyLlava.Create(TinyLlava.ClipLlama(maxPositions: 64));
    private readonly ByteTokenizer tokenizer = new();

    public void Dispose() => model.Dispose();

    private int[] Row(VlmInputs inputs, int i) => inputs.TokenIds[i].data<long>().Select(x => (int)x).ToArray();

    [Fact]
    public void the_ranges_name_the_image_the_prompt_and_the_answer_inside_the_template()
    {
        using var scope = NewDisposeScope();
        var inputs = model.Prepare([new VlmExample(TinyLlava.Image(0), "what is this?", "a cat"), new VlmExample(null, "what is this?", "a cat")]);
        var image = Row(inputs, 0);
        image[0].ShouldBe(ByteTokenizer.Bos);
        tokenizer.Decode(image[..inputs.VisionStart[0]]).ShouldBe("USER: ");
        tokenizer.Decode(image.Skip(inputs.VisionStart[0] + 4).Take(inputs.PromptStart[0] - inputs.VisionStart[0] - 4)).ShouldBe("\n", "the template's line break sits between image and prompt, in neither range");
        tokenizer.Decode(image.Skip(inputs.PromptStart[0]).Take(inputs.PromptLength[0])).ShouldBe("what is this?");
        tokenizer.Decode(image.Skip(inputs.PromptStart[0] + inputs.PromptLength[0]).Take(inputs.AnswerStart[0] - inputs.PromptStart[0] - inputs.PromptLength[0])).ShouldBe(" ASSISTANT:");
        tokenizer.Decode(image.Skip(inputs.AnswerStart[0]).Take(inputs.AnswerLength[0] - 1)).ShouldBe("a cat");
        image[inputs.AnswerStart[0] + inputs.AnswerLength[0] - 1].ShouldBe(ByteTokenizer.Eos, "the answer range ends with the end of sequence");

        // Without an image the template's space and the prompt's first letter are one token: it belongs to the prompt.
        var text = Row(inputs, 1);
        inputs.VisionCount[1].ShouldBe(0);
        tokenizer.Decode(text[..inputs.PromptStart[1]]).ShouldBe("USER:");
        tokenizer.Decode(text.Skip(inputs.PromptStart[1]).Take(inputs.PromptLength[1])).ShouldBe(" what is this?");
        text.Skip(inputs.Length[1]).ShouldAllBe(t => t == ByteTokenizer.Pad, "right padding");
        inputs.Images!.shape.ShouldBe([2L, 3, 8, 8]);
    }

    [Fact]
    public void a_prompt_or_an_answer_that_writes_the_image_placeholder_is_refused()
    {
        using var scope = NewDisposeScope();
        Should.Throw<ArgumentException>(() => model.Prepare([new VlmExample(TinyLlava.Image(0), "what is <image> this?")])).Message.ShouldContain("placeholder");
        Should.Throw<ArgumentException>(() => model.Prepare([new VlmExample(null, "what is <image> this?")])).Message.ShouldContain("placeholder");
        Should.Throw<ArgumentException>(() => model.Prepare([new VlmExample(null, "what is this?", "<image>")])).Message.ShouldContain("placeholder");
        Should.Throw<ArgumentException>(() => model.Prepare([new VlmExample(null, "   ")])).Message.ShouldContain("empty prompt");
    }

    [Fact]
    public void edit_texts_are_checked_against_the_tokenizer_and_the_position_table()
    {
        model.CheckEditText("what is this?", "a cat").ShouldBeNull();
        model.CheckEditText("what is this?", "abcdefghi")!.Code.ShouldBe("target_too_long", "9 byte tokens; answers stop at 8");
        model.CheckEditText("what is this?", "cat</s>")!.Code.ShouldBe("target_special_tokens");
        model.CheckEditText("what is <image>?", "cat")!.ShouldSatisfyAllConditions(p => p.Field.ShouldBe("prompt"), p => p.Code.ShouldBe("prompt_special_tokens"));
        model.CheckEditText(new string('x', 40), "a cat")!.Code.ShouldBe("edit_too_long");
        model.CheckEditText("", "a cat")!.Code.ShouldBe("prompt_empty");

        model.CheckQuery("what is this?", withImage: true).ShouldBeNull();
        model.CheckQuery("<s> hello", withImage: false)!.Code.ShouldBe("prompt_special_tokens");
        // <s> U S E R : ␣x x… ␣A S S I S T A N T : is n + 16 tokens for n x's: with 47 one answer token still fits in 64.
        var longest = new string('x', 47);
        model.CheckQuery(longest, withImage: false).ShouldBeNull();
        model.CheckQuery(longest + "x", withImage: false)!.Code.ShouldBe("prompt_too_long");
        model.CheckQuery(longest, withImage: true)!.Message.ShouldContain("with an image");
    }

    [Fact]
    public void a_prompt_the_chat_template_refuses_is_reported_not_thrown()
    {
        var strict = new LlavaPromptFormat((prompt, withImage) => prompt.Contains('#')
            ? throw new ArgumentException("no hashes")
            : LlavaPromptFormat.Llava15.Format(prompt, withImage));
        var config = TinyLlava.ClipLlama();
        using var picky = LlavaModel.Create(config, tokenizer, new ScalingProcessor(8), strict);
        picky.CheckQuery("what is #1?", withImage: true)!.Code.ShouldBe("prompt_unusable");
        picky.CheckEditText("what is #1?", "a cat")!.Code.ShouldBe("prompt_unusable");
        picky.CheckQuery("what is 1?", withImage: true).ShouldBeNull();
        Should.Throw<ArgumentException>(() => picky.Prepare([new VlmExample(null, "ok"), new VlmExample(null, "what is #1?")])).Message.ShouldStartWith("example 1:");
    }

    [Fact]
    public void the_edit_layer_follows_the_depth_and_can_be_chosen()
    {
        LlavaModel.EditLayerFor(32).ShouldBe(21, "LLaVA-1.5-7B, as in the paper");
        LlavaModel.EditLayerFor(24).ShouldBe(16);
        LlavaModel.EditLayerFor(4).ShouldBe(3);
        LlavaModel.EditLayerFor(1).ShouldBe(0);
        model.Shape.ShouldBe(new VlmShape(32, 4, 3, 4, ByteTokenizer.Size + 8));
        using var chosen = TinyLlava.Create(TinyLlava.ClipLlama(), editLayer: 1);
        chosen.Shape.EditLayer.ShouldBe(1);
        Should.Throw<ArgumentOutOfRangeException>(() => TinyLlava.Create(TinyLlava.ClipLlama(), editLayer: 4));
        model.Kind.ShouldBe("Llava");
        model.DType.ShouldBe(ScalarType.Float32);
        model.Device.type.ShouldBe(TorchSharp.DeviceType.CPU);
    }

    [Fact]
    public void a_configuration_the_model_cannot_run_is_refused_with_the_field_named()
    {
        var config = TinyLlava.ClipLlama();
        Should.Throw<ArgumentException>(() => TinyLlava.Create(config with { Text = config.Text with { KeyValueHeads = 3 } })).Message.ShouldContain("num_key_value_heads");
        Should.Throw<ArgumentException>(() => TinyLlava.Create(config with { Vision = config.Vision with { PatchSize = 9 } })).Message.ShouldContain("patch_size");
        Should.Throw<ArgumentException>(() => TinyLlava.Create(config with { VisionFeatureLayer = -5 })).Message.ShouldContain("vision_feature_layer");
        Should.Throw<ArgumentException>(() => TinyLlava.Create(config with { ImageTokenIndex = 10_000 })).Message.ShouldContain("image_token_index");
        Should.Throw<NotSupportedException>(() => TinyLlava.Create(config with { ProjectorHiddenAct = "relu" })).Message.ShouldContain("projector_hidden_act");
        Should.Throw<ArgumentException>(() => LlavaModel.Create(config, tokenizer, new ScalingProcessor(16), LlavaPromptFormat.Llava15)).Message.ShouldContain("16-pixel");
    }
}
