using LiveEdit.Model.Images;
using LiveEdit.Model.Llava;
using LiveEdit.Model.Tests.Editor;
using LiveEdit.Model.Vlm;
using Shouldly;
using Xunit;
using static TorchSharp.torch;

namespace LiveEdit.Model.Tests.Llava;

/// <summary>
/// The vision tower's features are the hidden state the config names, with CLIP's class token dropped by the "default"
/// strategy; the placeholder expands to one position per vision token, and the features land there.
/// </summary>
[Collection(EditorCollection.Name)]
public sealed class reading_images_into_llava
{
    private static Tensor LayerNorm(Tensor x, Tensor w, Tensor b, double eps)
    {
        var mean = x.mean([-1L], keepdim: true);
        var variance = (x - mean).pow(2).mean([-1L], keepdim: true);
        return (x - mean) / (variance + eps).sqrt() * w + b;
    }

    /// <summary>The CLIP tower written out with matrix products: patches cut by hand, softmax attention, quick-GELU.</summary>
    private static Tensor ClipByHand(IReadOnlyDictionary<string, Tensor> w, LlavaVisionConfig c, Tensor image, int layersRun)
    {
        const string v = "vision_tower.vision_model.";
        var (p, g, d) = (c.PatchSize, c.ImageSize / c.PatchSize, c.HiddenSize);
        var patches = new List<Tensor>();
        for (var gy = 0; gy < g; gy++)
            for (var gx = 0; gx < g; gx++)
                patches.Add(image.narrow(1, gy * p, p).narrow(2, gx * p, p).reshape(-1));              // (channel, row, column)
        var x = stack(patches).matmul(w[v + "embeddings.patch_embedding.weight"].reshape(d, -1).t());  // [g², d]
        x = cat([w[v + "embeddings.class_embedding"].view(1, d), x], 0) + w[v + "embeddings.position_embedding.weight"];
        x = LayerNorm(x, w[v + "pre_layrnorm.weight"], w[v + "pre_layrnorm.bias"], c.LayerNormEps);
        var hd = d / c.Heads;
        for (var i = 0; i < layersRun; i++)
        {
            var l = $"{v}encoder.layers.{i}.";
            Tensor Linear(Tensor input, string name) => input.matmul(w[l + name + ".weight"].t()) + w[l + name + ".bias"];
            var h = LayerNorm(x, w[l + "layer_norm1.weight"], w[l + "layer_norm1.bias"], c.LayerNormEps);
            var (q, k, vv) = (Linear(h, "self_attn.q_proj"), Linear(h, "self_attn.k_proj"), Linear(h, "self_attn.v_proj"));
            var heads = new List<Tensor>();
            for (var head = 0; head < c.Heads; head++)
            {
                var (qh, kh, vh) = (q.narrow(1, head * hd, hd), k.narrow(1, head * hd, hd), vv.narrow(1, head * hd, hd));
                var scores = qh.matmul(kh.t()) / Math.Sqrt(hd);
                var e = (scores - scores.max(1, keepdim: true).values).exp();
                heads.Add((e / e.sum(1, keepdim: true)).matmul(vh));
            }
            x = x + Linear(cat(heads, 1), "self_attn.out_proj");
            var m = Linear(LayerNorm(x, w[l + "layer_norm2.weight"], w[l + "layer_norm2.bias"], c.LayerNormEps), "mlp.fc1");
            x = x + Linear(m / (1 + (-1.702 * m).exp()), "mlp.fc2");
        }
        return x;                                                                                    // [1 + g², d]
    }

    [Fact]
    public void clip_features_are_layer_minus_two_without_the_class_token()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var config = TinyLlava.ClipLlama();
        using var model = TinyLlava.Create(config, seed: 11);
        var w = model.NamedWeights().ToDictionary(x => x.Name, x => x.Tensor);
        var image = TinyLlava.Image(5);
        var features = model.Tower.forward(image.unsqueeze(0))[0];                                // [4, 16]
        features.shape.ShouldBe([4L, 16]);

        // hidden_states[−2] of a 3-layer tower is the output of its second layer: two layers run.
        var byHand = ClipByHand(w, config.Vision, image, layersRun: 2);
        (features - byHand.narrow(0, 1, 4)).abs().max().item<float>().ShouldBeLessThan(1e-5f, "patch tokens after two layers");
        (features - ClipByHand(w, config.Vision, image, layersRun: 3).narrow(0, 1, 4)).abs().max().item<float>().ShouldBeGreaterThan(1e-3f, "not the last layer");

        var full = config with { VisionFeatureSelectStrategy = "full" };
        full.ImageTokens.ShouldBe(5);
        using var keeping = TinyLlava.Create(full, seed: 11);
        var kept = keeping.Tower.forward(image.unsqueeze(0))[0];
        kept.shape.ShouldBe([5L, 16]);
        (kept - byHand).abs().max().item<float>().ShouldBeLessThan(1e-5f, "\"full\" keeps the class token in front");

        // The projector: linear_1, exact GELU, linear_2.
        var h = features.matmul(w["multi_modal_projector.linear_1.weight"].t()) + w["multi_modal_projector.linear_1.bias"];
        h = 0.5 * h * (1 + special.erf(h / Math.Sqrt(2)));
        h = h.matmul(w["multi_modal_projector.linear_2.weight"].t()) + w["multi_modal_projector.linear_2.bias"];
        (model.ImageFeatures(image.unsqueeze(0))[0] - h).abs().max().item<float>().ShouldBeLessThan(1e-5f);
    }

    [Fact]
    public void siglip_features_keep_every_patch_and_have_no_class_token()
    {
        using var scope = NewDisposeScope();
        using var model = TinyLlava.Create(TinyLlava.SiglipQwen2(), seed: 2);
        model.ImageTokens.ShouldBe(4, "an 8-pixel image in 4-pixel patches");
        model.Tower.LayersRun.ShouldBe(2, "feature layer −1 is the last of two layers");
        model.Tower.forward(TinyLlava.Image(0).unsqueeze(0)).shape.ShouldBe([1L, 4, 16]);
        Should.Throw<ArgumentException>(() => TinyLlava.Create(TinyLlava.SiglipQwen2() with { VisionFeatureSelectStrategy = "default" }))
            .Message.ShouldContain("SigLIP");
    }

    [Fact]
    public void the_image_placeholder_becomes_one_position_per_vision_token()
    {
        using var scope = NewDisposeScope();
        using var model = TinyLlava.Create(TinyLlava.ClipLlama());
        var inputs = model.Prepare([new VlmExample(TinyLlava.Image(0), "what is this?", "a cat"), new VlmExample(null, "what is this?")]);
        var ids = inputs.TokenIds.data<long>().ToArray();
        var l = (int)inputs.TokenIds.shape[1];
        ids.Take(l).Count(t => t == ByteTokenizer.Image).ShouldBe(4, "2×2 patches, class token dropped");
        ids.Skip(l).Take(l).Count(t => t == ByteTokenizer.Image).ShouldBe(0);
        inputs.VisionCount.ShouldBe([4, 0]);
        for (var t = 0; t < 4; t++) ids[inputs.VisionStart[0] + t].ShouldBe(ByteTokenizer.Image);
        // <s> U S E R : ␣ <image>×4 \n w h a t ␣i s ␣t h i s ? ␣A S S I S T A N T : | a ␣c a t </s>   (␣x: one merged token)
        // <s> U S E R : ␣w h a t ␣i s ␣t h i s ? ␣A S S I S T A N T :
        inputs.Length.ShouldBe([1 + 5 + 1 + 4 + 1 + 11 + 10 + 5, 1 + 5 + 11 + 10]);
        inputs.AnswerStart[0].ShouldBe(33);
        inputs.AnswerLength.ShouldBe([5, 0]);
    }

    [Fact]
    public void image_features_reach_the_vision_positions_and_only_later_positions_see_them()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var model = TinyLlava.Create(TinyLlava.ClipLlama(), seed: 3);
        var a = model.Prepare([new VlmExample(TinyLlava.Image(1), "what is this?")]);
        var b = model.Prepare([new VlmExample(TinyLlava.Image(2), "what is this?")]);
        var (ha, hb) = (model.HiddenAtEditLayer(a), model.HiddenAtEditLayer(b));
        var start = a.VisionStart[0];
        start.ShouldBeGreaterThan(0, "the template's prefix comes first");
        (ha.narrow(1, 0, start) - hb.narrow(1, 0, start)).abs().max().item<float>().ShouldBe(0f, "causal: the prefix never sees the image");
        (ha.narrow(1, start, 1) - hb.narrow(1, start, 1)).abs().max().item<float>().ShouldBeGreaterThan(1e-3f);
        (ha.narrow(1, a.PromptStart[0], 1) - hb.narrow(1, a.PromptStart[0], 1)).abs().max().item<float>().ShouldBeGreaterThan(1e-3f);
    }

    [Fact]
    public void image_input_runs_the_checkpoints_processor_onto_the_models_device()
    {
        using var scope = NewDisposeScope();
        using var model = TinyLlava.Create(TinyLlava.ClipLlama());
        var pixels = new byte[8 * 8 * 3];
        for (var i = 0; i < pixels.Length; i++) pixels[i] = (byte)(i * 7);
        var input = model.ImageInput(new RgbImage(8, 8, pixels));
        input.shape.ShouldBe([3L, 8, 8]);
        input.dtype.ShouldBe(ScalarType.Float32);
        input.device_type.ShouldBe(model.Device.type);
        input[0, 0, 1].item<float>().ShouldBe(21f / 255 * 2 - 1, 1e-6, "red of pixel (0, 1): byte 3·7 = 21, scaled to [−1, 1]");
        Should.Throw<ArgumentException>(() => model.Prepare([new VlmExample(zeros(3, 16, 16), "what is this?")])).Message.ShouldContain("ImageInput");
    }
}
