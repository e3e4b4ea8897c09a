using LiveEdit.Model.Llava;
using LiveEdit.Model.Tests.Editor;
using LiveEdit.Model.Vlm;
using LiveEdit.Testing.Llava;
using Shouldly;
using Xunit;
using static TorchSharp.torch;

namespace LiveEdit.Model.Tests.Llava;

/// <summary>
/// A tiny checkpoint in the Hugging Face layout, loaded with its own tokenizer, image processor and chat template,
/// decodes with the cache as the full recompute does, and its prepared ranges find the prompt inside the template.
/// </summary>
[Collection(EditorCollection.Name)]
public sealed class decoding_loaded_llava_checkpoints : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("liveedit-llava-decode-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Theory]
    [InlineData(TinyLlavaFamily.Llava15)]
    [InlineData(TinyLlavaFamily.InterleaveQwen)]
    public void a_loaded_checkpoint_decodes_with_the_cache_as_with_a_full_recompute(TinyLlavaFamily family)
    {
        var folder = TinyLlavaCheckpoint.Write(Path.Combine(dir, family.ToString()), new TinyLlavaOptions(family, Seed: 3));
        using var model = LlavaLoader.Load(folder);
        using var scope = NewDisposeScope();
        var side = model.Config.Vision.ImageSize;
        var image = randn([3, side, side], generator: new Generator(5));
        VlmExample[] queries = [new(image, "what is this?"), new(null, "hello"), new(image, "what colour is the thing on the left?")];

        var cached = model.GreedyDecode(queries, maxNewTokens: 6, keepLogits: true);
        var recomputed = model.GreedyDecode(queries, maxNewTokens: 6, decoding: Decoding.Recompute, keepLogits: true);
        decoding_llava_with_a_kv_cache.ShouldAgree(cached, recomputed, family.ToString());

        var inputs = model.Prepare([new VlmExample(image, "what is this?", "a cat")]);
        var ids = inputs.TokenIds[0].data<long>().Select(x => (int)x).ToArray();
        model.Tokenizer.Decode(ids.Skip(inputs.PromptStart[0]).Take(inputs.PromptLength[0])).Trim().ShouldBe("what is this?");
        ids.Skip(inputs.VisionStart[0]).Take(inputs.VisionCount[0]).ShouldAllBe(t => t == model.Config.ImageTokenIndex);
        inputs.VisionCount[0].ShouldBe(model.Config.ImageTokens);
        ids[inputs.AnswerStart[0] + inputs.AnswerLength[0] - 1].ShouldBe(model.Tokenizer.EosId);
        model.Tokenizer.Decode(ids.Skip(inputs.AnswerStart[0]).Take(inputs.AnswerLength[0] - 1)).Trim().ShouldBe("a cat");
        Should.Throw<ArgumentException>(() => model.Prepare([new VlmExample(image, "what is <image>?")]));
    }
}
