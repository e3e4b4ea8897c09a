using LiveEdit.Model.Llava;
using Shouldly;
using Xunit;
using T = LiveEdit.Testing.Llava.TinyTokenizerFiles;

namespace LiveEdit.Model.Tests.Llava;

public sealed class matching_inputs_to_the_config : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("liveedit-inputs-").FullName;

    private static LlavaConfig Config(int imageToken, int vocab, int imageSize) => new(
        new LlavaVisionConfig(VisionTowerKind.Clip, 8, 16, 2, 2, imageSize, 14, 1e-5, "quick_gelu"),
        new LlavaTextConfig(DecoderKind.Llama, 8, 16, 2, 2, 2, vocab, 1e-6, 10000, 64, false, false, "silu"),
        imageToken, "gelu", -2, "default", true);

    private void Verify(LlavaConfig config) =>
        LlavaTextInputs.Verify(config, LlavaTokenizers.Load(_folder), LlavaImageProcessor.Load(_folder), LlavaChatTemplate.For(_folder, config), _folder);

    [Fact]
    public void the_tiny_files_fit_a_config_that_matches_them()
    {
        T.WriteLlama(_folder);
        T.WriteClipPreprocessor(_folder, 28);
        Verify(Config(T.LlamaImageTokenId, T.LlamaVocabSize + 62, 28));
    }

    [Fact]
    public void every_mismatch_is_named_at_once()
    {
        T.WriteLlama(_folder);
        T.WriteClipPreprocessor(_folder, 28);
        var e = Should.Throw<LlavaFileException>(() => Verify(Config(32000, 300, 336)));
        e.Message.ShouldContain("image_token_index is 32000");
        e.Message.ShouldContain("embedding has 300 rows");
        e.Message.ShouldContain("padding id 345");
        e.Message.ShouldContain("image_size is 336");
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
