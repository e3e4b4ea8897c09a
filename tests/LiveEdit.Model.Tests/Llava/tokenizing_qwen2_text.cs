using LiveEdit.Model.Llava;
using Shouldly;
using Xunit;
using T = LiveEdit.Testing.Llava.TinyTokenizerFiles;

namespace LiveEdit.Model.Tests.Llava;

/// <summary>
/// Qwen2's byte-level BPE on the tiny vocab.json / merges.txt. Expected tokens are derived by hand: the pre-tokenizer
/// cuts words with their leading space (" is"), single digits and newline runs; inside a word the merge of lowest rank
/// applies first (Ġ t 0, h e 1, Ġt he 2, Ġ c 3, a t 4, Ġc at 5, i s 6, Ġ is 7, W h 8, Wh at 9, t h 10, Ġt h 11,
/// Ġth is 12, Ġ Ġ 13); bytes are written as GPT-2's printable characters (space Ġ, newline Ċ).
/// </summary>
public sealed class tokenizing_qwen2_text : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("liveedit-qwen-tok-").FullName;

    private ITextTokenizer Load()
    {
        T.WriteQwen2(_folder);
        return LlavaTokenizers.Load(_folder);
    }

    private static int Q(string token) => T.Qwen2Id(token);

    [Fact]
    public void the_special_ids_are_those_of_a_qwen2_chat_model()
    {
        var tok = Load();
        tok.ShouldBeOfType<ByteLevelBpeTextTokenizer>();
        tok.BosId.ShouldBeNull();
        tok.EosId.ShouldBe(T.Qwen2ImEndId);
        tok.PadId.ShouldBe(T.Qwen2EndOfTextId);
        tok.VocabSize.ShouldBe(256 + 14 + 4);
        // The byte alphabet is numbered as GPT-2's: "!" is 0, space (Ġ) 220, newline (Ċ) 198.
        Q("!").ShouldBe(0);
        Q("Ġ").ShouldBe(220);
        Q("Ċ").ShouldBe(198);
    }

    [Fact]
    public void merges_apply_by_rank_inside_each_pre_token()
    {
        var tok = Load();
        // "the": h e (1) before t h (10), leaving t + he. " What": a t, W h, Wh at; "Ġ What" is no merge, so Ġ stays alone.
        tok.Encode("the cat is What this", addBos: true)
            .ShouldBe([Q("t"), Q("he"), Q("Ġcat"), Q("Ġis"), Q("Ġ"), Q("What"), Q("Ġthis")]);
    }

    [Fact]
    public void the_chatml_prompt_maps_its_markers_and_the_image_token_to_their_ids()
    {
        var tok = Load();
        var prompt = LlavaChatTemplate.ChatMl.Format("What is this?", withImage: true);
        prompt.ShouldBe("<|im_start|>user\n<image>\nWhat is this?<|im_end|>\n<|im_start|>assistant\n");
        // "user" has no merge; "\n" is its own pre-token (Ċ); "What": a t (4) before W h (8), then Wh at (9);
        // " this": Ġ t (0), i s (6), Ġt h (11), Ġth is (12).
        tok.Encode(prompt, addBos: true).ShouldBe(
        [
            T.Qwen2ImStartId, Q("u"), Q("s"), Q("e"), Q("r"), Q("Ċ"), T.Qwen2ImageTokenId,
            Q("Ċ"), Q("What"), Q("Ġis"), Q("Ġthis"), Q("?"), T.Qwen2ImEndId, Q("Ċ"),
            T.Qwen2ImStartId, Q("a"), Q("s"), Q("s"), Q("is"), Q("t"), Q("a"), Q("n"), Q("t"), Q("Ċ"),
        ]);
    }

    [Fact]
    public void digits_are_split_one_by_one_and_spaces_before_a_space_stay_apart()
    {
        var tok = Load();
        // "\s+(?!\S)" takes the spaces before the last one; " 12" is then " " + "1" + "2"? No: " ?[^\s\p{L}\p{N}]+" does
        // not take digits, so the last space is a pre-token of its own before the digits.
        tok.Encode("a   12", addBos: false).ShouldBe([Q("a"), Q("ĠĠ"), Q("Ġ"), Q("1"), Q("2")]);
    }

    [Fact]
    public void non_ascii_text_is_encoded_as_its_utf8_bytes()
    {
        var tok = Load();
        // 猫 = E7 8C AB: E7 is printable (ç), 8C is not (mapped past 255), AB is printable («).
        tok.Encode("猫", addBos: false).ShouldBe([T.Qwen2ByteId(0xE7), T.Qwen2ByteId(0x8C), T.Qwen2ByteId(0xAB)]);
        T.Qwen2ByteId(0xE7).ShouldBe(106 + (0xE7 - 0xAE));
        T.Qwen2ByteId(0x8C).ShouldBe(188 + 33 + (0x8C - 0x7F));
    }

    [Theory]
    [InlineData("the cat is a cat")]
    [InlineData("a  b   c \n\n d")]
    [InlineData(" leading space")]
    [InlineData("café 猫 naïve — ½ 🙂 it's 2024")]
    public void decoding_what_was_encoded_gives_the_text_back(string text)
    {
        var tok = Load();
        tok.Decode(tok.Encode(text, addBos: false)).ShouldBe(text);
    }

    [Fact]
    public void decoding_skips_special_tokens_and_ids_outside_the_vocabulary()
    {
        var tok = Load();
        var ids = new List<int> { T.Qwen2ImStartId, T.Qwen2ImageTokenId, 99_999, -1 };
        ids.AddRange(tok.Encode("the cat", addBos: false));
        ids.Add(T.Qwen2ImEndId);
        ids.Add(T.Qwen2EndOfTextId);
        tok.Decode(ids).ShouldBe("the cat");
    }

    [Fact]
    public void a_tokenizer_json_alone_is_read_as_the_same_tokenizer()
    {
        T.WriteQwen2(_folder);
        var vocab = T.Qwen2Vocabulary();
        var json = new Dictionary<string, object?>
        {
            ["added_tokens"] = new object[]
            {
                new Dictionary<string, object> { ["id"] = T.Qwen2EndOfTextId, ["content"] = "<|endoftext|>", ["special"] = true },
                new Dictionary<string, object> { ["id"] = T.Qwen2ImStartId, ["content"] = "<|im_start|>", ["special"] = true },
                new Dictionary<string, object> { ["id"] = T.Qwen2ImEndId, ["content"] = "<|im_end|>", ["special"] = true },
                new Dictionary<string, object> { ["id"] = T.Qwen2ImageTokenId, ["content"] = "<image>", ["special"] = true },
            },
            ["normalizer"] = new Dictionary<string, object> { ["type"] = "NFC" },
            ["pre_tokenizer"] = new Dictionary<string, object>
            {
                ["type"] = "Sequence",
                ["pretokenizers"] = new object[]
                {
                    new Dictionary<string, object> { ["type"] = "Split", ["pattern"] = new Dictionary<string, string> { ["Regex"] = ByteLevelBpeTextTokenizer.Qwen2Pattern }, ["behavior"] = "Isolated" },
                    new Dictionary<string, object> { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["use_regex"] = false },
                },
            },
            ["model"] = new Dictionary<string, object> { ["type"] = "BPE", ["vocab"] = vocab, ["merges"] = T.Qwen2Merges },
        };
        var expected = LlavaTokenizers.Load(_folder).Encode("<|im_start|>user\n<image>\nWhat is this cat?", addBos: false);
        File.Delete(Path.Combine(_folder, "vocab.json"));
        File.Delete(Path.Combine(_folder, "merges.txt"));
        File.WriteAllText(Path.Combine(_folder, "tokenizer.json"), System.Text.Json.JsonSerializer.Serialize(json));
        var tok = LlavaTokenizers.Load(_folder);
        tok.Encode("<|im_start|>user\n<image>\nWhat is this cat?", addBos: false).ShouldBe(expected);
        tok.EosId.ShouldBe(T.Qwen2ImEndId);
    }

    [Fact]
    public void a_merge_line_that_is_not_two_tokens_is_refused_with_its_line()
    {
        T.WriteQwen2(_folder);
        File.AppendAllText(Path.Combine(_folder, "merges.txt"), "a b c\n");
        var e = Should.Throw<LlavaFileException>(() => LlavaTokenizers.Load(_folder));
        e.FileName.ShouldEndWith("merges.txt");
        e.Message.ShouldContain("merge 16");
    }

    [Fact]
    public void an_added_token_that_contradicts_the_vocabulary_is_refused()
    {
        T.WriteQwen2(_folder);
        var vocab = T.Qwen2Vocabulary();
        vocab["<image>"] = vocab.Count;
        File.WriteAllText(Path.Combine(_folder, "vocab.json"), System.Text.Json.JsonSerializer.Serialize(vocab));
        Should.Throw<LlavaFileException>(() => LlavaTokenizers.Load(_folder)).Message.ShouldContain("<image>");
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
