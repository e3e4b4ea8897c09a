using LiveEdit.Model.HuggingFace;
using LiveEdit.Model.Llava;
using LiveEdit.Testing.Llava;
using Shouldly;
using Xunit;

namespace LiveEdit.Model.Tests.Llava;

public sealed class parsing_llava_configs
{
    // config.json of llava-hf/llava-1.5-7b-hf as published (fields the text and vision configs leave out take transformers' defaults).
    private const string Llava15_7B = """
        {
          "architectures": ["LlavaForConditionalGeneration"],
          "ignore_index": -100,
          "image_token_index": 32000,
          "model_type": "llava",
          "pad_token_id": 32001,
          "projector_hidden_act": "gelu",
          "text_config": {
            "_name_or_path": "lmsys/vicuna-7b-v1.5",
            "architectures": ["LlamaForCausalLM"],
            "max_position_embeddings": 4096,
            "model_type": "llama",
            "rms_norm_eps": 1e-05,
            "torch_dtype": "float16",
            "vocab_size": 32064
          },
          "tie_word_embeddings": false,
          "torch_dtype": "float16",
          "transformers_version": "4.36.0.dev0",
          "vision_config": {
            "hidden_size": 1024,
            "image_size": 336,
            "intermediate_size": 4096,
            "model_type": "clip_vision_model",
            "num_attention_heads": 16,
            "num_hidden_layers": 24,
            "patch_size": 14,
            "projection_dim": 768,
            "vocab_size": 32000
          },
          "vision_feature_layer": -2,
          "vision_feature_select_strategy": "default",
          "vocab_size": 32064
        }
        """;

    // config.json of llava-hf/llava-interleave-qwen-0.5b-hf.
    private const string InterleaveQwen05B = """
        {
          "architectures": ["LlavaForConditionalGeneration"],
          "ignore_index": -100,
          "image_token_index": 151646,
          "model_type": "llava",
          "projector_hidden_act": "gelu",
          "text_config": {
            "_name_or_path": "Qwen/Qwen1.5-0.5B-Chat",
            "architectures": ["Qwen2ForCausalLM"],
            "bos_token_id": 151643,
            "eos_token_id": 151645,
            "hidden_size": 1024,
            "intermediate_size": 2816,
            "max_position_embeddings": 32768,
            "max_window_layers": 21,
            "model_type": "qwen2",
            "num_attention_heads": 16,
            "num_hidden_layers": 24,
            "num_key_value_heads": 16,
            "rope_theta": 1000000.0,
            "sliding_window": 32768,
            "tie_word_embeddings": true,
            "torch_dtype": "bfloat16",
            "use_sliding_window": false,
            "vocab_size": 152000
          },
          "tie_word_embeddings": true,
          "torch_dtype": "float16",
          "transformers_version": "4.41.0.dev0",
          "vision_config": {
            "hidden_size": 1152,
            "image_size": 384,
            "intermediate_size": 4304,
            "model_type": "siglip_vision_model",
            "num_attention_heads": 16,
            "num_hidden_layers": 26,
            "patch_size": 14,
            "vision_use_head": false
          },
          "vision_feature_layer": -1,
          "vision_feature_select_strategy": "full"
        }
        """;

    [Fact]
    public void llava_1_5_7b_takes_the_llama_and_clip_defaults_for_what_it_leaves_out()
    {
        var c = LlavaConfig.Parse(Llava15_7B);
        c.Vision.ShouldBe(new LlavaVisionConfig(VisionTowerKind.Clip, 1024, 4096, 24, 16, 336, 14, 1e-5, "quick_gelu"));
        c.Text.ShouldBe(new LlavaTextConfig(DecoderKind.Llama, 4096, 11008, 32, 32, 32, 32064, 1e-5, 10000.0, 4096, false, false, "silu"));
        (c.ImageTokenIndex, c.ProjectorHiddenAct, c.VisionFeatureLayer, c.VisionFeatureSelectStrategy, c.MultimodalProjectorBias)
            .ShouldBe((32000, "gelu", -2, "default", true));
        c.ImageTokens.ShouldBe(576);
        LlavaCheckpointLayout.UsedVisionLayers(c).ShouldBe(23);
    }

    [Fact]
    public void llava_interleave_qwen_takes_the_qwen2_and_siglip_defaults_and_ties_its_head()
    {
        var c = LlavaConfig.Parse(InterleaveQwen05B);
        c.Vision.ShouldBe(new LlavaVisionConfig(VisionTowerKind.Siglip, 1152, 4304, 26, 16, 384, 14, 1e-6, "gelu_pytorch_tanh"));
        c.Text.ShouldBe(new LlavaTextConfig(DecoderKind.Qwen2, 1024, 2816, 24, 16, 16, 152000, 1e-6, 1e6, 32768, true, true, "silu"));
        (c.ImageTokenIndex, c.VisionFeatureLayer, c.VisionFeatureSelectStrategy).ShouldBe((151646, -1, "full"));
        c.ImageTokens.ShouldBe(729);
        LlavaCheckpointLayout.UsedVisionLayers(c).ShouldBe(26);
    }

    [Fact]
    public void the_tiny_configs_parse_to_tiny_sizes()
    {
        var llava = LlavaConfig.Parse(TinyLlavaCheckpoint.ConfigJson(new TinyLlavaOptions()));
        (llava.Vision.HiddenSize, llava.Vision.Layers, llava.PatchesPerSide, llava.ImageTokens).ShouldBe((32, 2, 2, 4));
        (llava.Text.HiddenSize, llava.Text.Layers, llava.Text.Heads, llava.Text.KeyValueHeads).ShouldBe((64, 2, 4, 2));
        llava.Text.VocabSize.ShouldBe(new TinyLlavaOptions().Vocab);
        llava.ImageTokenIndex.ShouldBe(TinyTokenizerFiles.LlamaImageTokenId);
        var qwen = LlavaConfig.Parse(TinyLlavaCheckpoint.ConfigJson(new TinyLlavaOptions(TinyLlavaFamily.InterleaveQwen)));
        (qwen.Text.Kind, qwen.Text.Layers, qwen.Text.TieWordEmbeddings, qwen.Text.AttentionBias, qwen.Text.RopeTheta).ShouldBe((DecoderKind.Qwen2, 3, true, true, 1e6));
        qwen.ImageTokens.ShouldBe(4);
    }

    [Fact]
    public void an_almost_empty_object_takes_every_default_of_transformers()
    {
        var c = LlavaConfig.Parse("""{"text_config":{"vocab_size":32064}}""");
        c.Vision.ShouldBe(new LlavaVisionConfig(VisionTowerKind.Clip, 768, 3072, 12, 12, 224, 32, 1e-5, "quick_gelu"));
        c.Text.ShouldBe(new LlavaTextConfig(DecoderKind.Llama, 4096, 11008, 32, 32, 32, 32064, 1e-6, 10000.0, 2048, false, false, "silu"));
        (c.ImageTokenIndex, c.ProjectorHiddenAct, c.VisionFeatureLayer, c.VisionFeatureSelectStrategy, c.MultimodalProjectorBias)
            .ShouldBe((32000, "gelu", -2, "default", true));
    }

    [Fact]
    public void the_default_image_token_outside_the_default_vocabulary_is_refused() =>
        Should.Throw<CheckpointFormatException>(() => LlavaConfig.Parse("{}")).Message
            .ShouldBe("config.json: image_token_index: 32000 is outside the vocabulary (text_config.vocab_size 32000)");

    [Fact]
    public void the_newer_rope_parameters_give_rope_theta()
    {
        var c = LlavaConfig.Parse("""{"text_config":{"model_type":"qwen2","num_key_value_heads":null,"rope_parameters":{"rope_type":"default","rope_theta":500000.0}},"image_token_index":5}""");
        c.Text.RopeTheta.ShouldBe(500000.0);
        c.Text.KeyValueHeads.ShouldBe(32, "null means num_attention_heads");
        LlavaConfig.Parse("""{"text_config":{"model_type":"qwen2","num_attention_heads":8,"num_key_value_heads":null},"image_token_index":5}""")
            .Text.KeyValueHeads.ShouldBe(8);
    }

    [Theory]
    [InlineData("""{"image_token_index":5,"model_type":"llava_next"}""", "config.json: model_type: 'llava_next' is not supported")]
    [InlineData("""{"image_token_index":5,"vision_config":{"model_type":"dinov2"}}""", "config.json: vision_config.model_type: 'dinov2' is not supported")]
    [InlineData("""{"image_token_index":5,"vision_config":{"hidden_act":"gelu"}}""", "config.json: vision_config.hidden_act: 'gelu' is not supported")]
    [InlineData("""{"image_token_index":5,"vision_config":{"image_size":30,"patch_size":40}}""", "config.json: vision_config.patch_size: 40 is larger than image_size 30")]
    [InlineData("""{"image_token_index":5,"vision_config":{"hidden_size":-4}}""", "config.json: vision_config.hidden_size: -4 is not between 1")]
    [InlineData("""{"image_token_index":5,"text_config":{"model_type":"mistral"}}""", "config.json: text_config.model_type: 'mistral' is not supported")]
    [InlineData("""{"image_token_index":5,"text_config":{"num_key_value_heads":5}}""", "config.json: text_config.num_key_value_heads: 5 does not divide num_attention_heads 32")]
    [InlineData("""{"image_token_index":5,"text_config":{"hidden_act":"gelu"}}""", "config.json: text_config.hidden_act: 'gelu' is not supported")]
    [InlineData("""{"image_token_index":5,"text_config":{"rope_scaling":{"rope_type":"linear","factor":2.0}}}""", "config.json: text_config.rope_scaling.rope_type: 'linear' is not supported")]
    [InlineData("""{"text_config":{"model_type":"qwen2","num_key_value_heads":4,"use_sliding_window":true},"image_token_index":5}""", "config.json: text_config.use_sliding_window: true is not supported")]
    [InlineData("""{"image_token_index":5,"text_config":{"head_dim":64,"hidden_size":512,"num_attention_heads":4,"num_key_value_heads":4}}""", "config.json: text_config.head_dim: 64 differs")]
    [InlineData("""{"image_token_index":5,"text_config":{"hidden_size":"4096"}}""", "config.json: text_config.hidden_size: \"4096\" is not an integer")]
    [InlineData("""{"image_token_index":5,"projector_hidden_act":"relu"}""", "config.json: projector_hidden_act: 'relu' is not supported")]
    [InlineData("""{"image_token_index":5,"vision_feature_select_strategy":"cls"}""", "config.json: vision_feature_select_strategy: 'cls' is not one of default, full")]
    [InlineData("""{"image_token_index":5,"vision_feature_layer":[-2,-5]}""", "config.json: vision_feature_layer: a list of layers is not supported")]
    [InlineData("""{"image_token_index":5,"vision_feature_layer":-14}""", "config.json: vision_feature_layer: -14 does not index the tower's 13 hidden states")]
    [InlineData("""{"image_token_index":40000}""", "config.json: image_token_index: 40000 is outside the vocabulary")]
    [InlineData("""{"text_config":[1]}""", "config.json: text_config: is not an object")]
    [InlineData("""{"text_config":{""", "config.json: not valid JSON")]
    public void an_unsupported_or_impossible_value_is_refused_naming_its_field(string json, string message)
    {
        Should.Throw<CheckpointFormatException>(() => LlavaConfig.Parse(json)).Message.ShouldStartWith(message);
    }
}
