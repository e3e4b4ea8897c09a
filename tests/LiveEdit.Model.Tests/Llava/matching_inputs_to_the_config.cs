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
        var (tokenizer, processor, template) = LlavaTextInputs.Load(_folder, Config(T.LlamaImageTokenId, T.LlamaVocabSize, 28));
        tokenizer.Encode(template.Format("What is this?", withImage: true), addBos: true).ShouldContain(T.LlamaImageTokenId);
        processor.OutputSize.ShouldBe(28);
    }

    [Fact]
    public void the_qwen2_files_fit_a_siglip_config()
    {
        T.WriteQwen2(_folder);
        T.WriteSiglipPreprocessor(_folder, 32);
        var config = Config(T.Qwen2ImageTokenId, T.Qwen2VocabSize, 32) with
        {
            Text = Config(0, T.Qwen2VocabSize, 32).Text with { Kind = DecoderKind.Qwen2, AttentionBias = true },
        };
        var (tokenizer, _, template) = LlavaTextInputs.Load(_folder, config);
        template.Form.ShouldBe(LlavaChatForm.ChatMl);
        tokenizer.BosId.ShouldBeNull();
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
