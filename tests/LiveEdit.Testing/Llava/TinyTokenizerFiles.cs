using System.Text;
using System.Text.Json;

namespace LiveEdit.Testing.Llava;

/// <summary>
/// Writes tiny tokenizer and preprocessor files in the exact formats LLaVA checkpoints ship: a SentencePiece
/// <c>tokenizer.model</c> (the ModelProto protobuf, serialised here) laid out as LLaMA's is — <c>&lt;unk&gt;</c>,
/// <c>&lt;s&gt;</c>, <c>&lt;/s&gt;</c>, the 256 byte-fallback pieces <c>&lt;0x00&gt;</c>…<c>&lt;0xFF&gt;</c>, then merged pieces by
/// score and single characters — with <c>&lt;image&gt;</c> and <c>&lt;pad&gt;</c> added after it as llava-1.5 adds them; and
/// Qwen2's byte-level <c>vocab.json</c> / <c>merges.txt</c> with its ChatML tokens and <c>&lt;image&gt;</c> added.
/// The vocabularies are small enough to derive token ids by hand.
/// </summary>
public static class TinyTokenizerFiles
{
    /// <summary>LLaMA's merged pieces in score order (highest first); ids follow the 259 control and byte pieces.</summary>
    public static readonly string[] LlamaMergedPieces =
        ["▁t", "he", "▁the", "▁c", "at", "▁cat", "is", "▁is", "▁a", "▁W", "ha", "hat", "▁What", "th", "▁th", "▁this"];

    /// <summary>LLaMA's single-character pieces, after the merged ones.</summary>
    public static readonly string LlamaCharacters = "▁abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:?.,!'";

    /// <summary>First id of the merged pieces: after &lt;unk&gt;, &lt;s&gt;, &lt;/s&gt; and 256 byte pieces.</summary>
    public const int LlamaFirstMergedId = 3 + 256;

    /// <summary>Pieces in the SentencePiece model.</summary>
    public static int LlamaPieces => LlamaFirstMergedId + LlamaMergedPieces.Length + LlamaCharacters.Length;

    /// <summary>Id of the <c>&lt;image&gt;</c> token (the first added token, as 32000 is in llava-1.5).</summary>
    public static int LlamaImageTokenId => LlamaPieces;

    /// <summary>Id of <c>&lt;pad&gt;</c> (32001 in llava-1.5).</summary>
    public static int LlamaPadTokenId => LlamaPieces + 1;

    /// <summary>Ids the LLaMA tokenizer can produce.</summary>
    public static int LlamaVocabSize => LlamaPieces + 2;

    /// <summary>Id of a LLaMA piece (merged piece or single character).</summary>
    public static int LlamaId(string piece)
    {
        var merged = Array.IndexOf(LlamaMergedPieces, piece);
        if (merged >= 0) return LlamaFirstMergedId + merged;
        if (piece.Length == 1 && LlamaCharacters.IndexOf(piece[0]) is var c and >= 0) return LlamaFirstMergedId + LlamaMergedPieces.Length + c;
        throw new ArgumentException($"no piece \"{piece}\"", nameof(piece));
    }

    /// <summary>Id of LLaMA's byte-fallback piece for <paramref name="b"/>.</summary>
    public static int LlamaByteId(byte b) => 3 + b;

    /// <summary>Qwen2's merges in rank order (each adds the merged token to the vocabulary, after the 256 byte tokens).</summary>
    public static readonly string[] Qwen2Merges =
        ["Ġ t", "h e", "Ġt he", "Ġ c", "a t", "Ġc at", "i s", "Ġ is", "W h", "Wh at", "t h", "Ġt h", "Ġth is", "Ġ Ġ"];

    /// <summary>Id of <c>&lt;|endoftext|&gt;</c> (151643 in Qwen2).</summary>
    public static int Qwen2EndOfTextId => 256 + Qwen2Merges.Length;

    /// <summary>Id of <c>&lt;|im_start|&gt;</c>.</summary>
    public static int Qwen2ImStartId => Qwen2EndOfTextId + 1;

    /// <summary>Id of <c>&lt;|im_end|&gt;</c> (the end of a ChatML turn: the chat model's eos).</summary>
    public static int Qwen2ImEndId => Qwen2EndOfTextId + 2;

    /// <summary>Id of <c>&lt;image&gt;</c> (151646 in llava-interleave-qwen).</summary>
    public static int Qwen2ImageTokenId => Qwen2EndOfTextId + 3;

    /// <summary>Ids the Qwen2 tokenizer can produce.</summary>
    public static int Qwen2VocabSize => Qwen2EndOfTextId + 4;

    /// <summary>GPT-2's byte → printable character table, which byte-level BPE vocabularies are written in.</summary>
    public static char ByteChar(byte b) => ByteChars.Value[b];

    /// <summary>Id of a Qwen2 token written in byte characters (a single byte character or a merged token).</summary>
    public static int Qwen2Id(string token)
    {
        var vocab = Qwen2Vocabulary();
        return vocab.TryGetValue(token, out var id) ? id : throw new ArgumentException($"no token \"{token}\"", nameof(token));
    }

    /// <summary>Id of Qwen2's single-byte token for <paramref name="b"/>.</summary>
    public static int Qwen2ByteId(byte b) => Qwen2Id(ByteChar(b).ToString());

    private static readonly Lazy<char[]> ByteChars = new(() =>
    {
        var printable = new List<int>();
        for (var c = '!'; c <= '~'; c++) printable.Add(c);
        for (var c = '¡'; c <= '¬'; c++) printable.Add(c);
        for (var c = '®'; c <= 'ÿ'; c++) printable.Add(c);
        var table = new char[256];
        var n = 0;
        for (var b = 0; b < 256; b++) table[b] = printable.Contains(b) ? (char)b : (char)(256 + n++);
        return table;
    });

    /// <summary>The byte tokens in the order GPT-2 and Qwen2 number them: printable bytes first, then the rest.</summary>
    private static IEnumerable<char> ByteTokensInIdOrder()
    {
        var printable = new List<int>();
        for (var c = '!'; c <= '~'; c++) printable.Add(c);
        for (var c = '¡'; c <= '¬'; c++) printable.Add(c);
        for (var c = '®'; c <= 'ÿ'; c++) printable.Add(c);
        foreach (var b in printable) yield return ByteChar((byte)b);
        for (var b = 0; b < 256; b++) if (!printable.Contains(b)) yield return ByteChar((byte)b);
    }

    /// <summary>Qwen2's vocab.json content: byte tokens then merged tokens.</summary>
    public static Dictionary<string, int> Qwen2Vocabulary()
    {
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var c in ByteTokensInIdOrder()) vocab[c.ToString()] = vocab.Count;
        foreach (var merge in Qwen2Merges) vocab[merge.Replace(" ", "", StringComparison.Ordinal)] = vocab.Count;
        return vocab;
    }

    /// <summary>
    /// Writes LLaMA's tokenizer files as llava-hf/llava-1.5-7b-hf has them: tokenizer.model, tokenizer_config.json
    /// (add_bos_token, the added tokens with their ids, <paramref name="legacy"/>), added_tokens.json,
    /// special_tokens_map.json and chat_template.json.
    /// </summary>
    public static void WriteLlama(string folder, bool legacy = true, bool chatTemplate = true)
    {
        Directory.CreateDirectory(folder);
        File.WriteAllBytes(Path.Combine(folder, "tokenizer.model"), LlamaModelProto());
        var image = LlamaImageTokenId;
        var pad = LlamaPadTokenId;
        WriteJson(folder, "tokenizer_config.json", new Dictionary<string, object?>
        {
            ["add_bos_token"] = true,
            ["add_eos_token"] = false,
            ["added_tokens_decoder"] = new Dictionary<string, object>
            {
                ["0"] = Added("<unk>"),
                ["1"] = Added("<s>"),
                ["2"] = Added("</s>"),
                [image.ToString(System.Globalization.CultureInfo.InvariantCulture)] = Added("<image>"),
                [pad.ToString(System.Globalization.CultureInfo.InvariantCulture)] = Added("<pad>"),
            },
            ["bos_token"] = "<s>",
            ["clean_up_tokenization_spaces"] = false,
            ["eos_token"] = "</s>",
            ["legacy"] = legacy,
            ["model_max_length"] = 4096,
            ["pad_token"] = "<pad>",
            ["padding_side"] = "left",
            ["processor_class"] = "LlavaProcessor",
            ["sp_model_kwargs"] = new Dictionary<string, object>(),
            ["tokenizer_class"] = "LlamaTokenizer",
            ["unk_token"] = "<unk>",
            ["use_default_system_prompt"] = false,
        });
        WriteJson(folder, "added_tokens.json", new Dictionary<string, object> { ["<image>"] = image, ["<pad>"] = pad });
        WriteJson(folder, "special_tokens_map.json", new Dictionary<string, object>
        {
            ["bos_token"] = Added("<s>"), ["eos_token"] = Added("</s>"), ["pad_token"] = Added("<pad>"), ["unk_token"] = Added("<unk>"),
        });
        if (chatTemplate) WriteJson(folder, "chat_template.json", new Dictionary<string, object> { ["chat_template"] = LlavaVicunaChatTemplate });
    }

    /// <summary>
    /// Writes Qwen2's tokenizer files as llava-hf/llava-interleave-qwen-0.5b-hf has them: vocab.json, merges.txt,
    /// tokenizer_config.json (no bos, eos &lt;|im_end|&gt;, pad &lt;|endoftext|&gt;, the added tokens), added_tokens.json,
    /// special_tokens_map.json and chat_template.json.
    /// </summary>
    public static void WriteQwen2(string folder, bool chatTemplate = true)
    {
        Directory.CreateDirectory(folder);
        WriteJson(folder, "vocab.json", Qwen2Vocabulary());
        File.WriteAllText(Path.Combine(folder, "merges.txt"), "#version: 0.2\n" + string.Join("\n", Qwen2Merges) + "\n", new UTF8Encoding(false));
        string Id(int id) => id.ToString(System.Globalization.CultureInfo.InvariantCulture);
        WriteJson(folder, "tokenizer_config.json", new Dictionary<string, object?>
        {
            ["add_prefix_space"] = false,
            ["added_tokens_decoder"] = new Dictionary<string, object>
            {
                [Id(Qwen2EndOfTextId)] = Added("<|endoftext|>"),
                [Id(Qwen2ImStartId)] = Added("<|im_start|>"),
                [Id(Qwen2ImEndId)] = Added("<|im_end|>"),
                [Id(Qwen2ImageTokenId)] = Added("<image>"),
            },
            ["additional_special_tokens"] = new[] { "<|im_start|>", "<|im_end|>" },
            ["bos_token"] = null,
            ["clean_up_tokenization_spaces"] = false,
            ["eos_token"] = "<|im_end|>",
            ["errors"] = "replace",
            ["model_max_length"] = 32768,
            ["pad_token"] = "<|endoftext|>",
            ["padding_side"] = "left",
            ["processor_class"] = "LlavaProcessor",
            ["split_special_tokens"] = false,
            ["tokenizer_class"] = "Qwen2Tokenizer",
            ["unk_token"] = null,
        });
        WriteJson(folder, "added_tokens.json", new Dictionary<string, object>
        {
            ["<image>"] = Qwen2ImageTokenId, ["<|endoftext|>"] = Qwen2EndOfTextId, ["<|im_end|>"] = Qwen2ImEndId, ["<|im_start|>"] = Qwen2ImStartId,
        });
        WriteJson(folder, "special_tokens_map.json", new Dictionary<string, object>
        {
            ["additional_special_tokens"] = new[] { "<|im_start|>", "<|im_end|>" },
            ["eos_token"] = Added("<|im_end|>"),
            ["pad_token"] = Added("<|endoftext|>"),
        });
        if (chatTemplate) WriteJson(folder, "chat_template.json", new Dictionary<string, object> { ["chat_template"] = LlavaInterleaveChatTemplate });
    }

    /// <summary>llava-hf's llava-1.5 chat template (chat_template.json).</summary>
    public const string LlavaVicunaChatTemplate =
        "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}{% endif %}{# Render all images first #}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>\\n' }}{% endfor %}{# Render all text next #}{% if message['role'] != 'assistant' %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ content['text'] + ' '}}{% endfor %}{% else %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{% generation %}{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}";

    /// <summary>llava-hf's llava-interleave-qwen chat template (ChatML; chat_template.json).</summary>
    public const string LlavaInterleaveChatTemplate =
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n'}}{# Render all images first #}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>' }}{% endfor %}{# Render all text next #}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}{{ '\\n' + content['text'] }}{% endfor %}{{'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

    /// <summary>
    /// Writes a CLIPImageProcessor preprocessor_config.json as llava-1.5's (OpenAI CLIP mean and std, bicubic, resize
    /// the shortest edge to <paramref name="size"/>, centre crop <paramref name="size"/>²); <paramref name="pad"/> adds
    /// LLaVA's pad-to-square (<c>do_pad</c>).
    /// </summary>
    public static void WriteClipPreprocessor(string folder, int size, bool pad = false)
    {
        Directory.CreateDirectory(folder);
        var config = new Dictionary<string, object>
        {
            ["crop_size"] = new Dictionary<string, int> { ["height"] = size, ["width"] = size },
            ["do_center_crop"] = true,
            ["do_convert_rgb"] = true,
            ["do_normalize"] = true,
            ["do_rescale"] = true,
            ["do_resize"] = true,
            ["image_mean"] = new[] { 0.48145466, 0.4578275, 0.40821073 },
            ["image_processor_type"] = pad ? "LlavaImageProcessor" : "CLIPImageProcessor",
            ["image_std"] = new[] { 0.26862954, 0.26130258, 0.27577711 },
            ["processor_class"] = "LlavaProcessor",
            ["resample"] = 3,
            ["rescale_factor"] = 0.00392156862745098,
            ["size"] = new Dictionary<string, int> { ["shortest_edge"] = size },
        };
        if (pad) config["do_pad"] = true;
        WriteJson(folder, "preprocessor_config.json", config);
    }

    /// <summary>Writes a SiglipImageProcessor preprocessor_config.json as llava-interleave-qwen's (size² bicubic, mean and std 0.5).</summary>
    public static void WriteSiglipPreprocessor(string folder, int size)
    {
        Directory.CreateDirectory(folder);
        WriteJson(folder, "preprocessor_config.json", new Dictionary<string, object>
        {
            ["do_convert_rgb"] = true,
            ["do_normalize"] = true,
            ["do_rescale"] = true,
            ["do_resize"] = true,
            ["image_mean"] = new[] { 0.5, 0.5, 0.5 },
            ["image_processor_type"] = "SiglipImageProcessor",
            ["image_std"] = new[] { 0.5, 0.5, 0.5 },
            ["processor_class"] = "LlavaProcessor",
            ["resample"] = 3,
            ["rescale_factor"] = 0.00392156862745098,
            ["size"] = new Dictionary<string, int> { ["height"] = size, ["width"] = size },
        });
    }

    private static Dictionary<string, object> Added(string content) => new()
    {
        ["content"] = content, ["lstrip"] = false, ["normalized"] = false, ["rstrip"] = false, ["single_word"] = false, ["special"] = true,
    };

    private static void WriteJson(string folder, string name, object value) =>
        File.WriteAllText(Path.Combine(folder, name), JsonSerializer.Serialize(value, new JsonSerializerOptions { WriteIndented = true }), new UTF8Encoding(false));

    /// <summary>The tiny LLaMA SentencePiece model as the ModelProto protobuf bytes of a tokenizer.model file.</summary>
    public static byte[] LlamaModelProto()
    {
        var model = new ProtoWriter();
        void Piece(string piece, float score, int type)
        {
            var p = new ProtoWriter();
            p.String(1, piece);
            p.Float(2, score);
            p.Varint(3, (ulong)type);
            model.Message(1, p);
        }
        const int Normal = 1, Unknown = 2, Control = 3, Byte = 6;
        Piece("<unk>", 0, Unknown);
        Piece("<s>", 0, Control);
        Piece("</s>", 0, Control);
        for (var b = 0; b < 256; b++) Piece($"<0x{b:X2}>", 0, Byte);
        for (var i = 0; i < LlamaMergedPieces.Length; i++) Piece(LlamaMergedPieces[i], -i, Normal);
        for (var i = 0; i < LlamaCharacters.Length; i++) Piece(LlamaCharacters[i].ToString(), -1000 - i, Normal);

        var trainer = new ProtoWriter();
        trainer.Varint(3, 2); // model_type BPE
        trainer.Varint(4, (ulong)LlamaPieces); // vocab_size
        trainer.Varint(35, 1); // byte_fallback
        trainer.Varint(40, 0); // unk_id
        trainer.Varint(41, 1); // bos_id
        trainer.Varint(42, 2); // eos_id
        trainer.Varint(43, ulong.MaxValue); // pad_id = -1 (int32 negatives are ten-byte varints)
        model.Message(2, trainer);

        var normalizer = new ProtoWriter();
        normalizer.String(1, "identity");
        normalizer.Varint(3, 1); // add_dummy_prefix
        normalizer.Varint(4, 0); // remove_extra_whitespaces
        normalizer.Varint(5, 1); // escape_whitespaces
        model.Message(3, normalizer);
        return model.ToArray();
    }

    /// <summary>The few protobuf wire types a ModelProto needs.</summary>
    private sealed class ProtoWriter
    {
        private readonly MemoryStream _out = new();

        public void Varint(int field, ulong value) { Tag(field, 0); Raw(value); }

        public void Float(int field, float value)
        {
            Tag(field, 5);
            Span<byte> b = stackalloc byte[4];
            System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(b, value);
            _out.Write(b);
        }

        public void String(int field, string value) => Bytes(field, Encoding.UTF8.GetBytes(value));

        public void Message(int field, ProtoWriter message) => Bytes(field, message.ToArray());

        public byte[] ToArray() => _out.ToArray();

        private void Bytes(int field, byte[] value) { Tag(field, 2); Raw((ulong)value.Length); _out.Write(value); }

        private void Tag(int field, int wireType) => Raw(((ulong)field << 3) | (uint)wireType);

        private void Raw(ulong value)
        {
            while (value >= 0x80) { _out.WriteByte((byte)(value | 0x80)); value >>= 7; }
            _out.WriteByte((byte)value);
        }
    }
}
