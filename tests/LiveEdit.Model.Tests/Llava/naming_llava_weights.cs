using LiveEdit.Model.Llava;
using LiveEdit.Model.Tests.Editor;
using Shouldly;
using Xunit;
using static TorchSharp.torch;

namespace LiveEdit.Model.Tests.Llava;

/// <summary>
/// The model's parameters carry the llava-1.5 checkpoint keys with the checkpoint's shapes, in a fixed order, and the
/// weights hash is a function of those tensors alone.
/// </summary>
[Collection(EditorCollection.Name)]
public sealed class naming_llava_weights
{
    [Fact]
    public void a_clip_llama_model_has_exactly_the_llava_1_5_keys_and_shapes()
    {
        var config = TinyLlava.ClipLlama(textLayers: 1) with { Vision = TinyLlava.ClipLlama().Vision with { Layers = 1 } };
        using var model = TinyLlava.Create(config);
        const string v = "vision_tower.vision_model.", l = "language_model.model.";
        var vocab = config.Text.VocabSize;
        (string, long[])[] expected =
        [
            (v + "embeddings.patch_embedding.weight", [16, 3, 4, 4]),
            (v + "embeddings.class_embedding", [16]),
            (v + "embeddings.position_embedding.weight", [5, 16]),
            (v + "pre_layrnorm.weight", [16]), (v + "pre_layrnorm.bias", [16]),
            (v + "encoder.layers.0.self_attn.q_proj.weight", [16, 16]), (v + "encoder.layers.0.self_attn.q_proj.bias", [16]),
            (v + "encoder.layers.0.self_attn.k_proj.weight", [16, 16]), (v + "encoder.layers.0.self_attn.k_proj.bias", [16]),
            (v + "encoder.layers.0.self_attn.v_proj.weight", [16, 16]), (v + "encoder.layers.0.self_attn.v_proj.bias", [16]),
            (v + "encoder.layers.0.self_attn.out_proj.weight", [16, 16]), (v + "encoder.layers.0.self_attn.out_proj.bias", [16]),
            (v + "encoder.layers.0.layer_norm1.weight", [16]), (v + "encoder.layers.0.layer_norm1.bias", [16]),
            (v + "encoder.layers.0.mlp.fc1.weight", [32, 16]), (v + "encoder.layers.0.mlp.fc1.bias", [32]),
            (v + "encoder.layers.0.mlp.fc2.weight", [16, 32]), (v + "encoder.layers.0.mlp.fc2.bias", [16]),
            (v + "encoder.layers.0.layer_norm2.weight", [16]), (v + "encoder.layers.0.layer_norm2.bias", [16]),
            (v + "post_layernorm.weight", [16]), (v + "post_layernorm.bias", [16]),
            ("multi_modal_projector.linear_1.weight", [32, 16]), ("multi_modal_projector.linear_1.bias", [32]),
            ("multi_modal_projector.linear_2.weight", [32, 32]), ("multi_modal_projector.linear_2.bias", [32]),
            (l + "embed_tokens.weight", [vocab, 32]),
            (l + "layers.0.self_attn.q_proj.weight", [32, 32]),
            (l + "layers.0.self_attn.k_proj.weight", [16, 32]),
            (l + "layers.0.self_attn.v_proj.weight", [16, 32]),
            (l + "layers.0.self_attn.o_proj.weight", [32, 32]),
            (l + "layers.0.mlp.gate_proj.weight", [64, 32]),
            (l + "layers.0.mlp.up_proj.weight", [64, 32]),
            (l + "layers.0.mlp.down_proj.weight", [32, 64]),
            (l + "layers.0.input_layernorm.weight", [32]),
            (l + "layers.0.post_attention_layernorm.weight", [32]),
            (l + "norm.weight", [32]),
            ("language_model.lm_head.weight", [vocab, 32]),
        ];
        var named = model.NamedWeights();
        named.Select(w => w.Name).ShouldBe(expected.Select(e => e.Item1));
        foreach (var ((name, tensor), (_, shape)) in named.Zip(expected)) tensor.shape.ShouldBe(shape, name);
        LlavaModel.CanonicalNames(config).ShouldBe(expected.Select(e => e.Item1));
    }

    [Fact]
    public void a_siglip_qwen2_model_has_a_patch_bias_qkv_biases_no_class_token_and_a_tied_head()
    {
        var config = TinyLlava.SiglipQwen2();
        using var model = TinyLlava.Create(config);
        var names = model.NamedWeights().Select(w => w.Name).ToArray();
        names.ShouldContain("vision_tower.vision_model.embeddings.patch_embedding.bias");
        names.ShouldNotContain("vision_tower.vision_model.embeddings.class_embedding");
        names.ShouldNotContain(n => n.Contains("pre_layrnorm"));
        names.Single(n => n == "vision_tower.vision_model.embeddings.position_embedding.weight").ShouldNotBeNull();
        model.NamedWeights().Single(w => w.Name.EndsWith("position_embedding.weight")).Tensor.shape.ShouldBe([4L, 16]);
        foreach (var p in new[] { "q_proj", "k_proj", "v_proj" })
            names.ShouldContain($"language_model.model.layers.2.self_attn.{p}.bias");
        names.ShouldNotContain("language_model.model.layers.0.self_attn.o_proj.bias");
        names.ShouldNotContain("language_model.lm_head.weight", "the head is the embedding when tied");
        model.NamedWeights().Single(w => w.Name == "language_model.model.layers.0.self_attn.k_proj.weight").Tensor.shape.ShouldBe([8L, 32], "one KV head of width 8");
    }

    [Fact]
    public void the_weights_hash_follows_the_seed_and_the_tensors()
    {
        using var a = TinyLlava.Create(TinyLlava.ClipLlama(), seed: 7);
        using var b = TinyLlava.Create(TinyLlava.ClipLlama(), seed: 7);
        using var c = TinyLlava.Create(TinyLlava.ClipLlama(), seed: 8);
        a.WeightsSha256.ShouldBe(b.WeightsSha256);
        a.WeightsSha256.ShouldNotBe(c.WeightsSha256);
        a.WeightsSha256.Length.ShouldBe(64);
        foreach (var ((name, x), (_, y)) in a.NamedWeights().Zip(b.NamedWeights())) x.equal(y).all().item<bool>().ShouldBeTrue(name);

        var before = b.WeightsSha256;
        using (no_grad()) b.NamedWeights()[^1].Tensor[0, 0].add_(1e-3);
        b.WeightsSha256.ShouldBe(before, "computed once");
        b.WeightsChanged();
        b.WeightsSha256.ShouldNotBe(before, "one changed element changes the hash");
    }
}
