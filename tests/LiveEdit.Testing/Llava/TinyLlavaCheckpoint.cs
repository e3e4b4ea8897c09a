using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace LiveEdit.Testing.Llava;

/// <summary>Which public LLaVA checkpoint a tiny one imitates.</summary>
public enum TinyLlavaFamily
{
    /// <summary><c>llava-hf/llava-1.5-7b-hf</c>: CLIP ViT, LLaMA, vision feature layer −2, class token dropped.</summary>
    Llava15,

    /// <summary><c>llava-hf/llava-interleave-qwen-0.5b-hf</c>: SigLIP, Qwen2, feature layer −1, "full", tied head.</summary>
    InterleaveQwen,
}

/// <summary>The element type on disk.</summary>
public enum TinyDType
{
    F32,
    F16,
    BF16,
}

/// <summary>Which key layout the files use.</summary>
public enum TinyKeyLayout
{
    /// <summary><c>language_model.model.…</c>, <c>vision_tower.…</c> (llava-hf as published).</summary>
    Original,

    /// <summary><c>model.language_model.…</c>, <c>model.vision_tower.…</c>, <c>lm_head.weight</c> (transformers ≥ 4.52).</summary>
    Newer,
}

/// <summary>What to write.</summary>
/// <param name="VocabSize">
/// Embedding rows; by default the tiny tokenizer's ids with its added tokens, rounded up to a multiple of 8 as the public
/// checkpoints pad theirs (32002 → 32064, 151647 → 152000).
/// </param>
/// <param name="ImageTokenIndex">The image token id; by default the tokenizer's <c>&lt;image&gt;</c>.</param>
/// <param name="WithTokenizer">Write the tokenizer files (<see cref="TinyTokenizerFiles"/>).</param>
public sealed record TinyLlavaOptions(
    TinyLlavaFamily Family = TinyLlavaFamily.Llava15,
    TinyDType DType = TinyDType.F32,
    bool Sharded = false,
    TinyKeyLayout Layout = TinyKeyLayout.Original,
    int Seed = 1,
    int? VocabSize = null,
    int? ImageTokenIndex = null,
    bool WithTokenizer = true)
{
    /// <summary>Embedding rows written.</summary>
    public int Vocab => VocabSize ?? (Family == TinyLlavaFamily.Llava15
        ? RoundUp(TinyTokenizerFiles.LlamaVocabSize)
        : RoundUp(TinyTokenizerFiles.Qwen2VocabSize));

    /// <summary>The image token id written to config.json.</summary>
    public int ImageToken => ImageTokenIndex ?? (Family == TinyLlavaFamily.Llava15
        ? TinyTokenizerFiles.LlamaImageTokenId
        : TinyTokenizerFiles.Qwen2ImageTokenId);

    private static int RoundUp(int n) => (n + 7) / 8 * 8;
}

/// <summary>One tensor of a tiny checkpoint: its name as the files spell it, its shape and its values.</summary>
public sealed record TinyTensor(string Name, long[] Shape, float[] Values);

/// <summary>
/// Writes tiny random LLaVA checkpoints in the exact Hugging Face layout: config.json with the fields of the public
/// <c>llava-hf/llava-1.5-7b-hf</c> and <c>llava-hf/llava-interleave-qwen-0.5b-hf</c> configs at tiny sizes, the tensors
/// those checkpoints carry under their names (post-layernorm included), one <c>model.safetensors</c> or shards with a
/// <c>model.safetensors.index.json</c>, and <c>preprocessor_config.json</c>. Each tensor's values depend only on the seed
/// and its canonical name, and lie on the bfloat16 grid within float16's normal range, so F32, F16 and BF16 files and
/// both key layouts hold the same numbers. The safetensors writing here is independent of the library's reader.
/// </summary>
public static class TinyLlavaCheckpoint
{
    /// <summary>Vision tower sizes: hidden 32, 2 layers, 2 heads, image 28, patch 14 (4 patches).</summary>
    public const int VisionHidden = 32, VisionIntermediate = 64, VisionLayers = 2, VisionHeads = 2, ImageSize = 28, PatchSize = 14;

    /// <summary>Decoder sizes: hidden 64, 4 heads, 2 key/value heads; 2 layers (LLaMA) or 3 (Qwen2).</summary>
    public const int TextHidden = 64, TextIntermediate = 128, TextHeads = 4, TextKeyValueHeads = 2;

    /// <summary>Writes the checkpoint into <paramref name="folder"/> (created); <paramref name="edit"/> may change the tensor list first.</summary>
    public static string Write(string folder, TinyLlavaOptions options, Action<List<TinyTensor>>? edit = null)
    {
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "config.json"), ConfigJson(options));
        File.WriteAllText(Path.Combine(folder, "preprocessor_config.json"), PreprocessorJson(options.Family));
        if (options.WithTokenizer && options.Family == TinyLlavaFamily.Llava15) TinyTokenizerFiles.WriteLlama(folder);
        else if (options.WithTokenizer) TinyTokenizerFiles.WriteQwen2(folder);
        var tensors = Tensors(options);
        edit?.Invoke(tensors);
        if (!options.Sharded)
        {
            WriteSafetensors(Path.Combine(folder, "model.safetensors"), tensors, options.DType);
            return folder;
        }
        // Two shards split near half the bytes, as save_pretrained's max_shard_size would.
        var total = tensors.Sum(t => t.Values.LongLength);
        long running = 0;
        var first = tensors.TakeWhile(t => (running += t.Values.LongLength) <= total / 2).ToList();
        var shards = new[] { first, tensors.Skip(first.Count).ToList() };
        var map = new SortedDictionary<string, string>(StringComparer.Ordinal);
        for (var s = 0; s < shards.Length; s++)
        {
            var name = $"model-{s + 1:D5}-of-{shards.Length:D5}.safetensors";
            WriteSafetensors(Path.Combine(folder, name), shards[s], options.DType);
            foreach (var t in shards[s]) map[t.Name] = name;
        }
        var index = new JsonObject
        {
            ["metadata"] = new JsonObject { ["total_size"] = total * ElementSize(options.DType) },
            ["weight_map"] = new JsonObject(map.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)JsonValue.Create(p.Value)))),
        };
        File.WriteAllText(Path.Combine(folder, "model.safetensors.index.json"), index.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return folder;
    }

    /// <summary>config.json: the public config's fields at tiny sizes.</summary>
    public static string ConfigJson(TinyLlavaOptions o)
    {
        JsonObject config = o.Family == TinyLlavaFamily.Llava15
            ? new JsonObject
            {
                ["architectures"] = new JsonArray("LlavaForConditionalGeneration"),
                ["ignore_index"] = -100,
                ["image_token_index"] = o.ImageToken,
                ["model_type"] = "llava",
                ["pad_token_id"] = TinyTokenizerFiles.LlamaPadTokenId,
                ["projector_hidden_act"] = "gelu",
                ["text_config"] = new JsonObject
                {
                    ["_name_or_path"] = "lmsys/vicuna-7b-v1.5",
                    ["architectures"] = new JsonArray("LlamaForCausalLM"),
                    ["hidden_size"] = TextHidden,
                    ["intermediate_size"] = TextIntermediate,
                    ["max_position_embeddings"] = 256,
                    ["model_type"] = "llama",
                    ["num_attention_heads"] = TextHeads,
                    ["num_hidden_layers"] = 2,
                    ["num_key_value_heads"] = TextKeyValueHeads,
                    ["rms_norm_eps"] = 1e-05,
                    ["torch_dtype"] = "float16",
                    ["vocab_size"] = o.Vocab,
                },
                ["tie_word_embeddings"] = false,
                ["torch_dtype"] = "float16",
                ["transformers_version"] = "4.36.0.dev0",
                ["vision_config"] = new JsonObject
                {
                    ["hidden_size"] = VisionHidden,
                    ["image_size"] = ImageSize,
                    ["intermediate_size"] = VisionIntermediate,
                    ["model_type"] = "clip_vision_model",
                    ["num_attention_heads"] = VisionHeads,
                    ["num_hidden_layers"] = VisionLayers,
                    ["patch_size"] = PatchSize,
                    ["projection_dim"] = 24,
                    ["vocab_size"] = 32000,
                },
                ["vision_feature_layer"] = -2,
                ["vision_feature_select_strategy"] = "default",
                ["vocab_size"] = o.Vocab,
            }
            : new JsonObject
            {
                ["architectures"] = new JsonArray("LlavaForConditionalGeneration"),
                ["ignore_index"] = -100,
                ["image_token_index"] = o.ImageToken,
                ["model_type"] = "llava",
                ["projector_hidden_act"] = "gelu",
                ["text_config"] = new JsonObject
                {
                    ["_name_or_path"] = "Qwen/Qwen1.5-0.5B-Chat",
                    ["architectures"] = new JsonArray("Qwen2ForCausalLM"),
                    ["bos_token_id"] = TinyTokenizerFiles.Qwen2EndOfTextId,
                    ["eos_token_id"] = TinyTokenizerFiles.Qwen2ImEndId,
                    ["hidden_size"] = TextHidden,
                    ["intermediate_size"] = TextIntermediate,
                    ["max_position_embeddings"] = 512,
                    ["max_window_layers"] = 3,
                    ["model_type"] = "qwen2",
                    ["num_attention_heads"] = TextHeads,
                    ["num_hidden_layers"] = 3,
                    ["num_key_value_heads"] = TextKeyValueHeads,
                    ["rope_theta"] = 1000000.0,
                    ["sliding_window"] = 512,
                    ["tie_word_embeddings"] = true,
                    ["torch_dtype"] = "bfloat16",
                    ["use_sliding_window"] = false,
                    ["vocab_size"] = o.Vocab,
                },
                ["tie_word_embeddings"] = true,
                ["torch_dtype"] = "float16",
                ["transformers_version"] = "4.41.0.dev0",
                ["vision_config"] = new JsonObject
                {
                    ["hidden_size"] = VisionHidden,
                    ["image_size"] = ImageSize,
                    ["intermediate_size"] = VisionIntermediate,
                    ["model_type"] = "siglip_vision_model",
                    ["num_attention_heads"] = VisionHeads,
                    ["num_hidden_layers"] = VisionLayers,
                    ["patch_size"] = PatchSize,
                    ["vision_use_head"] = false,
                },
                ["vision_feature_layer"] = -1,
                ["vision_feature_select_strategy"] = "full",
            };
        return config.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>preprocessor_config.json of the family at image size 28.</summary>
    public static string PreprocessorJson(TinyLlavaFamily family)
    {
        JsonObject p = family == TinyLlavaFamily.Llava15
            ? new JsonObject
            {
                ["crop_size"] = new JsonObject { ["height"] = ImageSize, ["width"] = ImageSize },
                ["do_center_crop"] = true,
                ["do_convert_rgb"] = true,
                ["do_normalize"] = true,
                ["do_rescale"] = true,
                ["do_resize"] = true,
                ["image_mean"] = new JsonArray(0.48145466, 0.4578275, 0.40821073),
                ["image_processor_type"] = "CLIPImageProcessor",
                ["image_std"] = new JsonArray(0.26862954, 0.26130258, 0.27577711),
                ["processor_class"] = "LlavaProcessor",
                ["resample"] = 3,
                ["rescale_factor"] = 0.00392156862745098,
                ["size"] = new JsonObject { ["shortest_edge"] = ImageSize },
            }
            : new JsonObject
            {
                ["do_normalize"] = true,
                ["do_rescale"] = true,
                ["do_resize"] = true,
                ["image_mean"] = new JsonArray(0.5, 0.5, 0.5),
                ["image_processor_type"] = "SiglipImageProcessor",
                ["image_std"] = new JsonArray(0.5, 0.5, 0.5),
                ["processor_class"] = "LlavaProcessor",
                ["resample"] = 3,
                ["rescale_factor"] = 0.00392156862745098,
                ["size"] = new JsonObject { ["height"] = ImageSize, ["width"] = ImageSize },
            };
        return p.ToJsonString(new JsonSerializerOptions { WriteIndented = true });
    }

    /// <summary>Every tensor the checkpoint holds, named in the options' layout, in a fixed order.</summary>
    public static List<TinyTensor> Tensors(TinyLlavaOptions o)
    {
        var list = new List<TinyTensor>();
        var clip = o.Family == TinyLlavaFamily.Llava15;
        void Add(string canonical, long[] shape, Kind kind) =>
            list.Add(new TinyTensor(InLayout(canonical, o.Layout), shape, Values(o.Seed, canonical, shape, kind)));

        const string vm = "vision_tower.vision_model.";
        long hv = VisionHidden, iv = VisionIntermediate, patches = (ImageSize / PatchSize) * (ImageSize / PatchSize);
        if (clip) Add(vm + "embeddings.class_embedding", [hv], Kind.Weight);
        Add(vm + "embeddings.patch_embedding.weight", [hv, 3, PatchSize, PatchSize], Kind.Weight);
        if (!clip) Add(vm + "embeddings.patch_embedding.bias", [hv], Kind.Bias);
        Add(vm + "embeddings.position_embedding.weight", [patches + (clip ? 1 : 0), hv], Kind.Weight);
        if (clip)
        {
            Add(vm + "pre_layrnorm.weight", [hv], Kind.NormWeight);
            Add(vm + "pre_layrnorm.bias", [hv], Kind.Bias);
        }
        for (var i = 0; i < VisionLayers; i++)
        {
            var p = $"{vm}encoder.layers.{i}.";
            foreach (var proj in new[] { "k_proj", "v_proj", "q_proj", "out_proj" })
            {
                Add(p + $"self_attn.{proj}.weight", [hv, hv], Kind.Weight);
                Add(p + $"self_attn.{proj}.bias", [hv], Kind.Bias);
            }
            Add(p + "layer_norm1.weight", [hv], Kind.NormWeight);
            Add(p + "layer_norm1.bias", [hv], Kind.Bias);
            Add(p + "mlp.fc1.weight", [iv, hv], Kind.Weight);
            Add(p + "mlp.fc1.bias", [iv], Kind.Bias);
            Add(p + "mlp.fc2.weight", [hv, iv], Kind.Weight);
            Add(p + "mlp.fc2.bias", [hv], Kind.Bias);
            Add(p + "layer_norm2.weight", [hv], Kind.NormWeight);
            Add(p + "layer_norm2.bias", [hv], Kind.Bias);
        }
        Add(vm + "post_layernorm.weight", [hv], Kind.NormWeight);
        Add(vm + "post_layernorm.bias", [hv], Kind.Bias);

        long ht = TextHidden, it = TextIntermediate, hd = TextHidden / TextHeads;
        Add("multi_modal_projector.linear_1.weight", [ht, hv], Kind.Weight);
        Add("multi_modal_projector.linear_1.bias", [ht], Kind.Bias);
        Add("multi_modal_projector.linear_2.weight", [ht, ht], Kind.Weight);
        Add("multi_modal_projector.linear_2.bias", [ht], Kind.Bias);

        const string lm = "language_model.model.";
        Add(lm + "embed_tokens.weight", [o.Vocab, ht], Kind.Embedding);
        var layers = clip ? 2 : 3;
        for (var i = 0; i < layers; i++)
        {
            var p = $"{lm}layers.{i}.";
            Add(p + "self_attn.q_proj.weight", [TextHeads * hd, ht], Kind.Weight);
            if (!clip) Add(p + "self_attn.q_proj.bias", [TextHeads * hd], Kind.Bias);
            Add(p + "self_attn.k_proj.weight", [TextKeyValueHeads * hd, ht], Kind.Weight);
            if (!clip) Add(p + "self_attn.k_proj.bias", [TextKeyValueHeads * hd], Kind.Bias);
            Add(p + "self_attn.v_proj.weight", [TextKeyValueHeads * hd, ht], Kind.Weight);
            if (!clip) Add(p + "self_attn.v_proj.bias", [TextKeyValueHeads * hd], Kind.Bias);
            Add(p + "self_attn.o_proj.weight", [ht, TextHeads * hd], Kind.Weight);
            Add(p + "mlp.gate_proj.weight", [it, ht], Kind.Weight);
            Add(p + "mlp.up_proj.weight", [it, ht], Kind.Weight);
            Add(p + "mlp.down_proj.weight", [ht, it], Kind.Weight);
            Add(p + "input_layernorm.weight", [ht], Kind.NormWeight);
            Add(p + "post_attention_layernorm.weight", [ht], Kind.NormWeight);
        }
        Add(lm + "norm.weight", [ht], Kind.NormWeight);
        if (clip) Add("language_model.lm_head.weight", [o.Vocab, ht], Kind.Weight);
        return list;
    }

    /// <summary>A canonical (original-layout) name as <paramref name="layout"/> spells it.</summary>
    public static string InLayout(string canonical, TinyKeyLayout layout)
    {
        if (layout == TinyKeyLayout.Original) return canonical;
        foreach (var (from, to) in new[]
                 {
                     ("language_model.model.", "model.language_model."), ("language_model.lm_head.", "lm_head."),
                     ("vision_tower.", "model.vision_tower."), ("multi_modal_projector.", "model.multi_modal_projector."),
                 })
        {
            if (canonical.StartsWith(from, StringComparison.Ordinal)) return to + canonical[from.Length..];
        }
        return canonical;
    }

    private enum Kind
    {
        Weight,
        Bias,
        NormWeight,
        Embedding,
    }

    private static float[] Values(int seed, string canonical, long[] shape, Kind kind)
    {
        var n = shape.Aggregate(1L, (a, b) => a * b);
        var random = new Random(unchecked(seed * 1_000_003 ^ (int)Fnv1a(canonical)));
        var (mean, std) = kind switch
        {
            Kind.Weight => (0.0, 0.1),
            Kind.Bias => (0.0, 0.05),
            Kind.NormWeight => (1.0, 0.1),
            _ => (0.0, 0.5),
        };
        var values = new float[n];
        for (var i = 0; i < n; i++)
        {
            var u1 = 1.0 - random.NextDouble();
            var u2 = random.NextDouble();
            var g = Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
            values[i] = OnSharedGrid((float)(mean + std * g));
        }
        return values;
    }

    // Rounded to bfloat16 (nearest, ties to even) and kept out of float16's subnormal range: exact in F32, F16 and BF16.
    private static float OnSharedGrid(float v)
    {
        var bits = BitConverter.SingleToUInt32Bits(v);
        bits = (bits + 0x7FFFu + ((bits >> 16) & 1u)) & 0xFFFF0000u;
        var r = BitConverter.UInt32BitsToSingle(bits);
        return Math.Abs(r) < 1.0f / 16384 ? 0f : r;
    }

    private static uint Fnv1a(string s)
    {
        var h = 2166136261u;
        foreach (var b in Encoding.UTF8.GetBytes(s)) h = unchecked((h ^ b) * 16777619u);
        return h;
    }

    private static int ElementSize(TinyDType d) => d == TinyDType.F32 ? 4 : 2;

    /// <summary>Writes a safetensors file: 8-byte little-endian header length, JSON header padded with spaces, raw data.</summary>
    public static void WriteSafetensors(string path, IReadOnlyList<TinyTensor> tensors, TinyDType dtype)
    {
        var size = ElementSize(dtype);
        var header = new JsonObject { ["__metadata__"] = new JsonObject { ["format"] = "pt" } };
        long offset = 0;
        foreach (var t in tensors)
        {
            var bytes = t.Values.LongLength * size;
            header[t.Name] = new JsonObject
            {
                ["dtype"] = dtype.ToString(),
                ["shape"] = new JsonArray(t.Shape.Select(d => (JsonNode?)JsonValue.Create(d)).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + bytes),
            };
            offset += bytes;
        }
        var text = Encoding.UTF8.GetBytes(header.ToJsonString());
        var padded = new byte[(text.Length + 7) / 8 * 8];
        Array.Fill(padded, (byte)' ');
        text.CopyTo(padded, 0);
        using var stream = File.Create(path);
        var prefix = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(prefix, (ulong)padded.Length);
        stream.Write(prefix);
        stream.Write(padded);
        var buffer = new byte[size];
        foreach (var t in tensors)
        {
            foreach (var v in t.Values)
            {
                switch (dtype)
                {
                    case TinyDType.F32: BinaryPrimitives.WriteSingleLittleEndian(buffer, v); break;
                    case TinyDType.F16: BinaryPrimitives.WriteHalfLittleEndian(buffer, (Half)v); break;
                    default: BinaryPrimitives.WriteUInt16LittleEndian(buffer, (ushort)(BitConverter.SingleToUInt32Bits(v) >> 16)); break;
                }
                stream.Write(buffer);
            }
        }
    }
}
