using LiveEdit.Model.Llava;
using LiveEdit.Testing.Llava;
using Shouldly;
using Xunit;
using T = LiveEdit.Testing.Llava.TinyTokenizerFiles;

namespace LiveEdit.Model.Tests.Llava;

/// <summary>
/// LLaMA's SentencePiece tokenizer on the tiny tokenizer.model. Expected ids are derived by hand from the tiny
/// vocabulary: BPE merges the adjacent pair whose merged piece has the highest score ("▁t" 0, "he" −1, "▁the" −2, "▁c" −3,
/// "at" −4, "▁cat" −5, "is" −6, "▁is" −7, "▁a" −8, "▁W" −9, "ha" −10, "hat" −11, "▁What" −12, "th" −13, "▁th" −14,
/// "▁this" −15); characters without a piece fall back to their UTF-8 bytes, piece 3 + byte.
/// </summary>
public sealed class tokenizing_llama_text : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("liveedit-llama-tok-").FullName;

    private ITextTokenizer Load(bool legacy = true)
    {
        T.WriteLlama(_folder, legacy);
        return LlavaTokenizers.Load(_folder);
    }

    private static int P(string piece) => T.LlamaId(piece);

    [Fact]
    public void the_special_ids_are_those_of_llava_1_5()
    {
        var tok = Load();
        tok.BosId.ShouldBe(1);
        tok.EosId.ShouldBe(2);
        tok.PadId.ShouldBe(T.LlamaPadTokenId);
        tok.VocabSize.ShouldBe(T.LlamaPieces + 2);
        tok.ShouldBeOfType<SentencePieceTextTokenizer>().Prefix.ShouldBe(DummyPrefix.EverySegment);
    }

    [Fact]
    public void merges_follow_the_piece_scores()
    {
        var tok = Load();
        // "▁the": ▁t (0) first, then he (−1), then ▁t+he = ▁the. "▁cat": ▁c (−3), at (−4), ▁cat. "▁is": is, then ▁is.
        tok.Encode("the cat is a cat", addBos: true).ShouldBe([1, P("▁the"), P("▁cat"), P("▁is"), P("▁a"), P("▁cat")]);
        // "▁this": ▁t, is, ▁t+h = ▁th, ▁th+is = ▁this. "▁What": at (−4) before ▁W (−9), then hat, then ▁W+hat.
        tok.Encode("What is this", addBos: false).ShouldBe([P("▁What"), P("▁is"), P("▁this")]);
    }

    [Fact]
    public void the_llava_prompt_keeps_the_legacy_space_after_the_image_token()
    {
        var tok = Load();
        var ids = tok.Encode("USER: <image>\nWhat is this? ASSISTANT:", addBos: true);
        // As llava-1.5's tokenizer does ([1, 3148, 1001, 29901, 29871, 32000, 29871, 13, 5618, …]): every segment between
        // added tokens gets the dummy prefix, so "\nWhat" after <image> starts with a lone "▁" and the newline's byte piece
        // (3 + 0x0A = 13); without "▁" before it, "What" cannot use "▁What" and ends as W + hat.
        int[] expected =
        [
            1, P("▁"), P("U"), P("S"), P("E"), P("R"), P(":"), P("▁"), T.LlamaImageTokenId,
            P("▁"), 13, P("W"), P("hat"), P("▁is"), P("▁this"), P("?"),
            P("▁"), P("A"), P("S"), P("S"), P("I"), P("S"), P("T"), P("A"), P("N"), P("T"), P(":"),
        ];
        ids.ShouldBe(expected);
        T.LlamaImageTokenId.ShouldBe(3 + 256 + 16 + 69); // control and byte pieces, merged pieces, ▁ a–z A–Z 0–9 and six punctuation marks
    }

    [Fact]
    public void without_legacy_only_the_start_of_the_text_gets_the_dummy_prefix()
    {
        var tok = Load(legacy: false);
        tok.ShouldBeOfType<SentencePieceTextTokenizer>().Prefix.ShouldBe(DummyPrefix.FirstSegment);
        tok.Encode("USER: <image>\nWhat", addBos: false)
            .ShouldBe([P("▁"), P("U"), P("S"), P("E"), P("R"), P(":"), P("▁"), T.LlamaImageTokenId, 13, P("W"), P("hat")]);
    }

    [Fact]
    public void without_legacy_and_without_a_prefix_space_no_segment_gets_one()
    {
        T.WriteLlama(_folder, legacy: false);
        var config = Path.Combine(_folder, "tokenizer_config.json");
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"legacy\": false", "\"legacy\": false, \"add_prefix_space\": false", StringComparison.Ordinal));
        var tok = LlavaTokenizers.Load(_folder);
        tok.ShouldBeOfType<SentencePieceTextTokenizer>().Prefix.ShouldBe(DummyPrefix.Never);
        tok.Encode("the cat", addBos: false).ShouldBe([P("t"), P("he"), P("▁cat")]);
    }

    [Fact]
    public void a_tokenizer_json_with_a_prepend_normalizer_decides_over_the_legacy_flag()
    {
        T.WriteLlama(_folder, legacy: false);
        File.WriteAllText(Path.Combine(_folder, "tokenizer.json"),
            """{"normalizer":{"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"▁"},{"type":"Replace","pattern":{"String":" "},"content":"▁"}]},"pre_tokenizer":null,"model":{"type":"BPE"}}""");
        var tok = LlavaTokenizers.Load(_folder);
        tok.ShouldBeOfType<SentencePieceTextTokenizer>().Prefix.ShouldBe(DummyPrefix.EverySegment);
        tok.Encode("<image>\nW", addBos: false).ShouldBe([T.LlamaImageTokenId, P("▁"), 13, P("W")]);
    }

    [Fact]
    public void characters_without_a_piece_fall_back_to_their_utf8_bytes()
    {
        var tok = Load();
        // é = C3 A9; 猫 = E7 8C AB.
        tok.Encode("café 猫", addBos: false).ShouldBe([P("▁c"), P("a"), P("f"), 3 + 0xC3, 3 + 0xA9, P("▁"), 3 + 0xE7, 3 + 0x8C, 3 + 0xAB]);
    }

    [Fact]
    public void special_tokens_written_in_the_text_map_to_their_ids()
    {
        var tok = Load();
        tok.Encode("<s>a</s><pad><image><image>", addBos: false)
            .ShouldBe([1, P("▁a"), 2, T.LlamaPadTokenId, T.LlamaImageTokenId, T.LlamaImageTokenId]);
        // A near miss is plain text.
        tok.Encode("<imag>", addBos: false).ShouldNotContain(T.LlamaImageTokenId);
    }

    [Theory]
    [InlineData("the cat is a cat")]
    [InlineData("a  b   c ")]
    [InlineData(" leading space")]
    [InlineData("line one\nline two\ttab")]
    [InlineData("café 猫 naïve — ½ 🙂")]
    [InlineData("What is this? ASSISTANT: 42")]
    public void decoding_what_was_encoded_gives_the_text_back(string text)
    {
        var tok = Load();
        tok.Decode(tok.Encode(text, addBos: true)).ShouldBe(text);
        Load(legacy: false).Decode(tok.Encode(text, addBos: false)).ShouldBe(text);
    }

    [Fact]
    public void decoding_skips_special_tokens_and_ids_outside_the_vocabulary()
    {
        var tok = Load();
        var ids = new List<int> { 1, T.LlamaImageTokenId, T.LlamaPadTokenId, -5, T.LlamaVocabSize + 10 };
        ids.AddRange(tok.Encode("the cat", addBos: false));
        ids.Add(2);
        tok.Decode(ids).ShouldBe("the cat");
    }

    [Fact]
    public void a_folder_without_a_tokenizer_is_refused_with_what_was_expected()
    {
        var e = Should.Throw<LlavaFileException>(() => LlavaTokenizers.Load(_folder));
        e.Message.ShouldContain("tokenizer.model");
        e.Message.ShouldContain("vocab.json");
    }

    [Fact]
    public void a_tokenizer_model_that_is_not_a_model_proto_is_refused_naming_the_file()
    {
        T.WriteLlama(_folder);
        File.WriteAllBytes(Path.Combine(_folder, "tokenizer.model"), [0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 1, 2, 3]);
        var e = Should.Throw<LlavaFileException>(() => LlavaTokenizers.Load(_folder));
        e.FileName.ShouldEndWith("tokenizer.model");
    }

    [Fact]
    public void a_broken_tokenizer_config_is_refused_naming_the_file_and_field()
    {
        T.WriteLlama(_folder);
        var config = Path.Combine(_folder, "tokenizer_config.json");
        File.WriteAllText(config, "{\"added_tokens_decoder\": {\"x\": {\"content\": \"<image>\"}}}");
        Should.Throw<LlavaFileException>(() => LlavaTokenizers.Load(_folder)).Message.ShouldContain("added_tokens_decoder");
        File.WriteAllText(config, "{\"eos_token\": 3,");
        Should.Throw<LlavaFileException>(() => LlavaTokenizers.Load(_folder)).FileName.ShouldBe(config);
    }

    [Fact]
    public void two_tokens_claiming_one_id_are_refused()
    {
        T.WriteLlama(_folder);
        File.WriteAllText(Path.Combine(_folder, "added_tokens.json"), $"{{\"<image>\": {T.LlamaImageTokenId}, \"<video>\": {T.LlamaImageTokenId}}}");
        Should.Throw<LlavaFileException>(() => LlavaTokenizers.Load(_folder)).Message.ShouldContain("<video>");
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
