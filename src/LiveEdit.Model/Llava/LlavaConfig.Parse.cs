using System.Globalization;
using System.Text.Json;
using LiveEdit.Model.HuggingFace;

namespace LiveEdit.Model.Llava;

public sealed partial record LlavaConfig
{
    /// <summary>
    /// Reads a Hugging Face LLaVA <c>config.json</c>. Absent fields take the defaults transformers gives them
    /// (configuration_llava.py, configuration_clip.py / configuration_siglip.py, configuration_llama.py /
    /// configuration_qwen2.py); a value this implementation does not support, or a size that cannot work, is refused
    /// with a <see cref="CheckpointFormatException"/> naming the field. Fields it does not read are ignored.
    /// </summary>
    public static LlavaConfig Parse(string json)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 16, CommentHandling = JsonCommentHandling.Skip });
        }
        catch (JsonException e)
        {
            throw new CheckpointFormatException($"config.json: not valid JSON ({e.Message})", e);
        }
        using (doc)
        {
            var root = new Fields(doc.RootElement, "");
            var modelType = root.String("model_type", "llava");
            if (modelType != "llava") throw root.Refuse("model_type", $"'{modelType}' is not supported (supported: llava)");

            var vision = ParseVision(root.Object("vision_config"));
            var text = ParseText(root.Object("text_config"), root.Bool("tie_word_embeddings", false));

            var imageToken = root.Has("image_token_index") ? root.Int("image_token_index", 32000) : root.Int("image_token_id", 32000);
            if (imageToken < 0 || imageToken >= text.VocabSize)
                throw root.Refuse("image_token_index", $"{imageToken} is outside the vocabulary (text_config.vocab_size {text.VocabSize})");
            var act = root.String("projector_hidden_act", "gelu");
            if (act != "gelu") throw root.Refuse("projector_hidden_act", $"'{act}' is not supported (supported: gelu)");
            var strategy = root.String("vision_feature_select_strategy", "default");
            if (strategy is not ("default" or "full")) throw root.Refuse("vision_feature_select_strategy", $"'{strategy}' is not one of default, full");
            if (root.Has("vision_feature_layer") && doc.RootElement.GetProperty("vision_feature_layer").ValueKind == JsonValueKind.Array)
                throw root.Refuse("vision_feature_layer", "a list of layers is not supported (one layer index)");
            var featureLayer = root.Int("vision_feature_layer", -2);
            // hidden_states holds the embeddings' output and then each layer's: Layers + 1 entries, indexed from either end.
            if (featureLayer < -(vision.Layers + 1) || featureLayer > vision.Layers)
                throw root.Refuse("vision_feature_layer", $"{featureLayer} does not index the tower's {vision.Layers + 1} hidden states");
            var projectorBias = root.Bool("multimodal_projector_bias", true);
            return new LlavaConfig(vision, text, imageToken, act, featureLayer, strategy, projectorBias);
        }
    }

    private static LlavaVisionConfig ParseVision(Fields f)
    {
        var type = f.String("model_type", "clip_vision_model");
        var kind = type switch
        {
            "clip_vision_model" => VisionTowerKind.Clip,
            "siglip_vision_model" => VisionTowerKind.Siglip,
            _ => throw f.Refuse("model_type", $"'{type}' is not supported (supported: clip_vision_model, siglip_vision_model)"),
        };
        // Defaults of CLIPVisionConfig and SiglipVisionConfig.
        var clip = kind == VisionTowerKind.Clip;
        var hidden = f.Positive("hidden_size", 768, 65536);
        var intermediate = f.Positive("intermediate_size", 3072, 1 << 20);
        var layers = f.Positive("num_hidden_layers", 12, 1024);
        var heads = f.Positive("num_attention_heads", 12, 4096);
        var imageSize = f.Positive("image_size", 224, 8192);
        var patch = f.Positive("patch_size", clip ? 32 : 16, 8192);
        var channels = f.Positive("num_channels", 3, 16);
        var eps = f.Double("layer_norm_eps", clip ? 1e-5 : 1e-6);
        var act = f.String("hidden_act", clip ? "quick_gelu" : "gelu_pytorch_tanh");
        var expectedAct = clip ? "quick_gelu" : "gelu_pytorch_tanh";
        if (act != expectedAct) throw f.Refuse("hidden_act", $"'{act}' is not supported for {type} (supported: {expectedAct})");
        if (channels != 3) throw f.Refuse("num_channels", $"{channels} is not supported (RGB: 3)");
        if (hidden % heads != 0) throw f.Refuse("num_attention_heads", $"{heads} does not divide hidden_size {hidden}");
        // A remainder is legal: the patch convolution has no padding and drops it (SigLIP so400m: 384 / 14 → 27 patches a side).
        if (patch > imageSize) throw f.Refuse("patch_size", $"{patch} is larger than image_size {imageSize}");
        if (!(eps > 0 && eps < 1)) throw f.Refuse("layer_norm_eps", $"{eps} is not in (0, 1)");
        return new LlavaVisionConfig(kind, hidden, intermediate, layers, heads, imageSize, patch, eps, act);
    }

    private static LlavaTextConfig ParseText(Fields f, bool topLevelTie)
    {
        var type = f.String("model_type", "llama");
        var kind = type switch
        {
            "llama" => DecoderKind.Llama,
            "qwen2" => DecoderKind.Qwen2,
            _ => throw f.Refuse("model_type", $"'{type}' is not supported (supported: llama, qwen2)"),
        };
        // Defaults of LlamaConfig and Qwen2Config.
        var llama = kind == DecoderKind.Llama;
        var vocab = f.Positive("vocab_size", llama ? 32000 : 151936, 1 << 23);
        var hidden = f.Positive("hidden_size", 4096, 65536);
        var intermediate = f.Positive("intermediate_size", llama ? 11008 : 22016, 1 << 20);
        var layers = f.Positive("num_hidden_layers", 32, 1024);
        var heads = f.Positive("num_attention_heads", 32, 4096);
        // LlamaConfig: None → num_attention_heads; Qwen2Config: 32 unless given (None → num_attention_heads).
        var kvHeads = f.IsNullOrAbsent("num_key_value_heads") ? (llama ? heads : f.Has("num_key_value_heads") ? heads : 32)
            : f.Positive("num_key_value_heads", heads, 4096);
        var eps = f.Double("rms_norm_eps", 1e-6);
        var maxPositions = f.Positive("max_position_embeddings", llama ? 2048 : 32768, 1 << 24);
        var act = f.String("hidden_act", "silu");
        var tie = f.Bool("tie_word_embeddings", false) || topLevelTie;
        var attentionBias = llama ? f.Bool("attention_bias", false) : true;

        if (act != "silu") throw f.Refuse("hidden_act", $"'{act}' is not supported (supported: silu)");
        if (hidden % heads != 0) throw f.Refuse("num_attention_heads", $"{heads} does not divide hidden_size {hidden}");
        if (heads % kvHeads != 0) throw f.Refuse("num_key_value_heads", $"{kvHeads} does not divide num_attention_heads {heads}");
        if ((hidden / heads) % 2 != 0) throw f.Refuse("hidden_size", $"head width {hidden / heads} is odd; rotary embeddings need it even");
        if (!(eps > 0 && eps < 1)) throw f.Refuse("rms_norm_eps", $"{eps} is not in (0, 1)");
        if (llama && f.Bool("mlp_bias", false)) throw f.Refuse("mlp_bias", "true is not supported");
        if (llama && !f.IsNullOrAbsent("head_dim") && f.Positive("head_dim", hidden / heads, 65536) != hidden / heads)
            throw f.Refuse("head_dim", $"{f.Int("head_dim", 0)} differs from hidden_size / num_attention_heads ({hidden / heads}); not supported");
        if (!llama && f.Bool("use_sliding_window", false)) throw f.Refuse("use_sliding_window", "true is not supported (full attention only)");

        var theta = f.Double("rope_theta", 10000.0);
        if (!f.IsNullOrAbsent("rope_scaling")) RequireDefaultRope(f.Object("rope_scaling"), "rope_scaling");
        if (!f.IsNullOrAbsent("rope_parameters"))
        {
            var rope = f.Object("rope_parameters");
            RequireDefaultRope(rope, "rope_parameters");
            theta = rope.Double("rope_theta", theta);
        }
        if (!(theta > 1)) throw f.Refuse("rope_theta", $"{theta} is not above 1");
        return new LlavaTextConfig(kind, hidden, intermediate, layers, heads, kvHeads, vocab, eps, theta, maxPositions,
            attentionBias, tie, act);
    }

    private static void RequireDefaultRope(Fields rope, string name)
    {
        var ropeType = rope.Has("rope_type") ? rope.String("rope_type", "default") : rope.String("type", "default");
        if (ropeType != "default") throw rope.Refuse(rope.Has("rope_type") ? "rope_type" : "type", $"'{ropeType}' is not supported in {name} (supported: default)");
    }

    /// <summary>Typed reads of one JSON object's fields, each refusal naming the field's full path.</summary>
    private readonly struct Fields(JsonElement element, string path)
    {
        public bool Has(string name) => element.ValueKind == JsonValueKind.Object && element.TryGetProperty(name, out _);

        public bool IsNullOrAbsent(string name) => !element.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null;

        public CheckpointFormatException Refuse(string name, string why) => new($"config.json: {path}{name}: {why}");

        public Fields Object(string name)
        {
            if (!element.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return new Fields(EmptyObject, path + name + ".");
            if (v.ValueKind != JsonValueKind.Object) throw Refuse(name, "is not an object");
            return new Fields(v, path + name + ".");
        }

        public string String(string name, string fallback)
        {
            if (IsNullOrAbsent(name)) return fallback;
            var v = element.GetProperty(name);
            return v.ValueKind == JsonValueKind.String ? v.GetString()! : throw Refuse(name, $"{v.GetRawText()} is not a string");
        }

        public bool Bool(string name, bool fallback)
        {
            if (IsNullOrAbsent(name)) return fallback;
            var v = element.GetProperty(name);
            return v.ValueKind switch
            {
                JsonValueKind.True => true,
                JsonValueKind.False => false,
                _ => throw Refuse(name, $"{v.GetRawText()} is not true or false"),
            };
        }

        public int Int(string name, int fallback)
        {
            if (IsNullOrAbsent(name)) return fallback;
            var v = element.GetProperty(name);
            return v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out var i) ? i : throw Refuse(name, $"{v.GetRawText()} is not an integer");
        }

        public int Positive(string name, int fallback, int max)
        {
            var i = Int(name, fallback);
            return i >= 1 && i <= max ? i : throw Refuse(name, $"{i} is not between 1 and {max.ToString(CultureInfo.InvariantCulture)}");
        }

        public double Double(string name, double fallback)
        {
            if (IsNullOrAbsent(name)) return fallback;
            var v = element.GetProperty(name);
            return v.ValueKind == JsonValueKind.Number && v.TryGetDouble(out var d) && double.IsFinite(d) ? d : throw Refuse(name, $"{v.GetRawText()} is not a number");
        }

        private static readonly JsonElement EmptyObject = JsonDocument.Parse("{}").RootElement;
    }
}
