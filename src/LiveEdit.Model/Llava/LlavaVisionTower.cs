using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LiveEdit.Model.Llava;

// Field names are the checkpoint's: TorchSharp names parameters after the fields that hold them, so the parameter
// names of these modules are exactly the Hugging Face keys under `vision_tower.`.

/// <summary>
/// The vision tower, CLIP ViT or SigLIP ViT (<c>vision_tower.vision_model.…</c>): patch embedding, (CLIP) class token
/// and pre-norm, pre-LN encoder layers; the features are a chosen hidden state, not the final output.
/// </summary>
internal sealed class LlavaVisionTower : nn.Module<Tensor, Tensor>
{
    private readonly VisionTransformer vision_model;

    public LlavaVisionTower(LlavaConfig config, Device device, ScalarType dtype) : base("vision_tower")
    {
        vision_model = new VisionTransformer(config.Vision, device, dtype);
        RegisterComponents();
        var layers = config.Vision.Layers;
        // transformers commit 00d3cdbeaab26587a543f75df7997a53a6fb146b src/transformers/models/llava/modeling_llava.py
        // L220–L227 (LlavaModel.get_image_features): the tower runs with output_hidden_states, the feature is
        // hidden_states[vision_feature_layer], and "default" drops position 0 ([:, 1:]).
        // transformers commit 1c51a62f5861390e994db1464e8a51f6d7fbacbc src/transformers/models/siglip/modeling_siglip.py
        // L887–L914 (SiglipEncoder.forward): the same for SigLIP, each layer's input collected (L893) and the last output (L914).
        // hidden_states[0] is the embedding output (after CLIP's pre-norm), hidden_states[k] the output of layer k − 1,
        // so feature layer f ≥ 0 is reached after f layers and f < 0 after layers + 1 + f.
        LayersRun = config.VisionFeatureLayer >= 0 ? config.VisionFeatureLayer : layers + 1 + config.VisionFeatureLayer;
        if (LayersRun < 0 || LayersRun > layers)
            throw new ArgumentException($"vision_feature_layer {config.VisionFeatureLayer} is outside the tower's hidden states (−{layers + 1} … {layers})");
        DropClassToken = config.VisionFeatureSelectStrategy == "default";
    }

    /// <summary>Encoder layers run to reach the feature layer.</summary>
    public int LayersRun { get; }

    /// <summary>True when the "default" strategy drops position 0 (CLIP's class token).</summary>
    public bool DropClassToken { get; }

    /// <summary>The modules, for tests that run them by hand.</summary>
    public VisionTransformer Model => vision_model;

    /// <summary>Pixels [n, 3, S, S] → features [n, N, Hv] (the selected hidden state, class token dropped by "default").</summary>
    public override Tensor forward(Tensor pixels)
    {
        using var scope = NewDisposeScope();
        var h = vision_model.Embed(pixels);
        for (var i = 0; i < LayersRun; i++) h = vision_model.Layer(i).forward(h);
        if (DropClassToken) h = h.narrow(1, 1, h.shape[1] - 1);
        return h.MoveToOuterDisposeScope();
    }
}

// transformers commit 1c51a62f5861390e994db1464e8a51f6d7fbacbc src/transformers/models/siglip/modeling_siglip.py
// L1056–L1067 (SiglipVisionTransformer.__init__: embeddings, encoder, post_layernorm L1064, head when vision_use_head
// L1065–L1067) and L1089–L1110 (forward: post_layernorm only on last_hidden_state L1098–L1099; the hidden_states
// returned at L1108 are the encoder's, without it).
/// <summary><c>vision_model</c>: embeddings, CLIP's <c>pre_layrnorm</c>, the encoder and <c>post_layernorm</c> (kept, unused).</summary>
internal sealed class VisionTransformer : nn.Module
{
    private readonly VisionEmbeddings embeddings;
    private readonly LayerNorm? pre_layrnorm;
    private readonly VisionEncoder encoder;
    private readonly LayerNorm post_layernorm;

    public VisionTransformer(LlavaVisionConfig config, Device device, ScalarType dtype) : base("vision_model")
    {
        embeddings = new VisionEmbeddings(config, device, dtype);
        if (config.Kind == VisionTowerKind.Clip) pre_layrnorm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps, device: device, dtype: dtype);
        encoder = new VisionEncoder(config, device, dtype);
        post_layernorm = nn.LayerNorm(config.HiddenSize, config.LayerNormEps, device: device, dtype: dtype);
        RegisterComponents();
    }

    /// <summary>hidden_states[0]: patch (and class) embeddings plus positions, through CLIP's pre-norm. [n, N(+1), Hv]</summary>
    public Tensor Embed(Tensor pixels)
    {
        using var scope = NewDisposeScope();
        var h = embeddings.forward(pixels);
        if (pre_layrnorm is not null) h = pre_layrnorm.forward(h);
        return h.MoveToOuterDisposeScope();
    }

    /// <summary>Encoder layer <paramref name="i"/>.</summary>
    public VisionEncoderLayer Layer(int i) => encoder.Layers[i];

    /// <summary>The unused final norm (present in checkpoints).</summary>
    public LayerNorm PostLayerNorm => post_layernorm;
}

// transformers commit 000f1ffdbf1ce6190cc8863af9a2fff817590937 src/transformers/models/clip/modeling_clip.py
// L143–L163 (CLIPVisionEmbeddings.__init__: class_embedding L150, patch_embedding with bias=False L152–L158, position_embedding
// with patches + 1 rows L160–L162) and L206–L222 (forward: conv, flatten, class token first, plus positions).
// transformers commit 1c51a62f5861390e994db1464e8a51f6d7fbacbc src/transformers/models/siglip/modeling_siglip.py
// L250–L269 (SiglipVisionEmbeddings.__init__: patch_embedding Conv2d with its default bias and padding="valid" L258–L264,
// position_embedding with one row per patch and no class token L266–L268) and L309–L318 (forward: conv, flatten,
// transpose L311–L312, plus positions L317).
/// <summary><c>embeddings</c>: the patch convolution, CLIP's class token and the learned position table.</summary>
internal sealed class VisionEmbeddings : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d patch_embedding;
    private readonly Parameter? class_embedding;
    private readonly Embedding position_embedding;

    public VisionEmbeddings(LlavaVisionConfig config, Device device, ScalarType dtype) : base("embeddings")
    {
        var clip = config.Kind == VisionTowerKind.Clip;
        var patches = (config.ImageSize / config.PatchSize) * (config.ImageSize / config.PatchSize);
        patch_embedding = nn.Conv2d(3, config.HiddenSize, config.PatchSize, stride: config.PatchSize, bias: !clip, device: device, dtype: dtype);
        if (clip) class_embedding = nn.Parameter(zeros(config.HiddenSize, dtype: dtype, device: device));
        position_embedding = nn.Embedding(patches + (clip ? 1 : 0), config.HiddenSize, device: device, dtype: dtype);
        RegisterComponents();
    }

    /// <summary>Pixels [n, 3, S, S] → [n, (1 +) patches, Hv]: the class token first (CLIP), then patches row by row.</summary>
    public override Tensor forward(Tensor pixels)
    {
        using var scope = NewDisposeScope();
        var weight = patch_embedding.weight!;
        var x = patch_embedding.forward(pixels.to(weight.dtype, weight.device));        // [n, Hv, g, g]
        x = x.flatten(2).transpose(1, 2);                                               // [n, g², Hv]
        if (class_embedding is not null)
            x = cat([class_embedding.view(1, 1, -1).expand(x.shape[0], 1, -1), x], 1);  // [n, 1 + g², Hv]
        x = x + position_embedding.weight!.unsqueeze(0);
        return x.MoveToOuterDisposeScope();
    }
}

// transformers commit 1c51a62f5861390e994db1464e8a51f6d7fbacbc src/transformers/models/siglip/modeling_siglip.py L847 (SiglipEncoder.layers).
/// <summary><c>encoder</c>: the stack of <c>layers</c>.</summary>
internal sealed class VisionEncoder : nn.Module
{
    private readonly ModuleList<VisionEncoderLayer> layers;

    public VisionEncoder(LlavaVisionConfig config, Device device, ScalarType dtype) : base("encoder")
    {
        layers = nn.ModuleList(Enumerable.Range(0, config.Layers).Select(_ => new VisionEncoderLayer(config, device, dtype)).ToArray());
        RegisterComponents();
    }

    public ModuleList<VisionEncoderLayer> Layers => layers;
}

// transformers commit 000f1ffdbf1ce6190cc8863af9a2fff817590937 src/transformers/models/clip/modeling_clip.py
// L363–L393 (CLIPEncoderLayer: layer_norm1, self_attn, residual; layer_norm2, mlp, residual).
// transformers commit 1c51a62f5861390e994db1464e8a51f6d7fbacbc src/transformers/models/siglip/modeling_siglip.py
// L614–L621 (SiglipEncoderLayer.__init__: self_attn, layer_norm1, mlp, layer_norm2) and L640–L653 (forward: the same two
// pre-LN residual blocks).
/// <summary>One pre-LN encoder layer: x + Attn(LN₁(x)), then x + MLP(LN₂(x)); bidirectional attention with biases.</summary>
internal sealed class VisionEncoderLayer : nn.Module<Tensor, Tensor>
{
    private readonly VisionAttention self_attn;
    private readonly LayerNorm layer_norm1;
    private readonly VisionMlp mlp;
    private readonly LayerNorm layer_norm2;

    public VisionEncoderLayer(LlavaVisionConfig config, Device device, ScalarType dtype) : base("layer")
    {
        self_attn = new VisionAttention(config, device, dtype);
        layer_norm1 = nn.LayerNorm(config.HiddenSize, config.LayerNormEps, device: device, dtype: dtype);
        mlp = new VisionMlp(config, device, dtype);
        layer_norm2 = nn.LayerNorm(config.HiddenSize, config.LayerNormEps, device: device, dtype: dtype);
        RegisterComponents();
    }

    /// <summary>[n, N, Hv] → [n, N, Hv]</summary>
    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        x = x + self_attn.forward(layer_norm1.forward(x));
        x = x + mlp.forward(layer_norm2.forward(x));
        return x.MoveToOuterDisposeScope();
    }
}

// transformers commit 000f1ffdbf1ce6190cc8863af9a2fff817590937 src/transformers/models/clip/modeling_clip.py
// L300 (scale = head_dim^−0.5), L304–L307 (k, v, q, out_proj with biases), L265–L283 (softmax(scale·QKᵀ)·V, no mask).
// transformers commit 1c51a62f5861390e994db1464e8a51f6d7fbacbc src/transformers/models/siglip/modeling_siglip.py
// L370 (scale = head_dim^−0.5), L373–L376 (k, v, q, out_proj with biases), L386–L428 (SiglipAttention.forward: heads
// L392–L394, softmax(scale·QKᵀ)·V L397–L415, merged heads through out_proj L423–L426); the vision tower passes no mask
// (L1091–L1096).
/// <summary><c>self_attn</c>: multi-head attention over all positions, scaled by 1/√head width, biases on every projection.</summary>
internal sealed class VisionAttention : nn.Module<Tensor, Tensor>
{
    private readonly Linear q_proj, k_proj, v_proj, out_proj;
    private readonly int heads;

    public VisionAttention(LlavaVisionConfig config, Device device, ScalarType dtype) : base("self_attn")
    {
        heads = config.Heads;
        q_proj = nn.Linear(config.HiddenSize, config.HiddenSize, device: device, dtype: dtype);
        k_proj = nn.Linear(config.HiddenSize, config.HiddenSize, device: device, dtype: dtype);
        v_proj = nn.Linear(config.HiddenSize, config.HiddenSize, device: device, dtype: dtype);
        out_proj = nn.Linear(config.HiddenSize, config.HiddenSize, device: device, dtype: dtype);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var (n, l, d) = (x.shape[0], x.shape[1], x.shape[2]);
        Tensor Heads(Linear proj) => proj.forward(x).view(n, l, heads, d / heads).transpose(1, 2);   // [n, h, N, hd]
        var attended = nn.functional.scaled_dot_product_attention(Heads(q_proj), Heads(k_proj), Heads(v_proj));
        return out_proj.forward(attended.transpose(1, 2).reshape(n, l, d)).MoveToOuterDisposeScope();
    }
}

// transformers commit 000f1ffdbf1ce6190cc8863af9a2fff817590937 src/transformers/models/clip/modeling_clip.py
// L348–L360 (CLIPMLP: fc1, ACT2FN[hidden_act], fc2).
// transformers commit 1c51a62f5861390e994db1464e8a51f6d7fbacbc src/transformers/models/siglip/modeling_siglip.py
// L599–L611 (SiglipMLP: activation_fn = ACT2FN[hidden_act] L603, fc1 and fc2 with biases L604–L605, forward L607–L611).
/// <summary><c>mlp</c>: fc1 → the tower's activation (quick-GELU for CLIP, tanh-GELU for SigLIP) → fc2.</summary>
internal sealed class VisionMlp : nn.Module<Tensor, Tensor>
{
    private readonly Linear fc1, fc2;
    private readonly Func<Tensor, Tensor> activation;

    public VisionMlp(LlavaVisionConfig config, Device device, ScalarType dtype) : base("mlp")
    {
        fc1 = nn.Linear(config.HiddenSize, config.IntermediateSize, device: device, dtype: dtype);
        fc2 = nn.Linear(config.IntermediateSize, config.HiddenSize, device: device, dtype: dtype);
        activation = LlavaOps.Activation(config.HiddenAct);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        return fc2.forward(activation(fc1.forward(x))).MoveToOuterDisposeScope();
    }
}

// transformers commit 00d3cdbeaab26587a543f75df7997a53a6fb146b src/transformers/models/llava/modeling_llava.py
// L111–L130 (LlavaMultiModalProjector: linear_1, ACT2FN[projector_hidden_act], linear_2), applied to the selected
// features at L235.
/// <summary><c>multi_modal_projector</c>: linear_1 → exact GELU → linear_2.</summary>
internal sealed class LlavaProjector : nn.Module<Tensor, Tensor>
{
    private readonly Linear linear_1, linear_2;

    public LlavaProjector(LlavaConfig config, Device device, ScalarType dtype) : base("multi_modal_projector")
    {
        if (config.ProjectorHiddenAct != "gelu")
            throw new NotSupportedException($"projector_hidden_act '{config.ProjectorHiddenAct}' is not supported (gelu)");
        linear_1 = nn.Linear(config.Vision.HiddenSize, config.Text.HiddenSize, hasBias: config.MultimodalProjectorBias, device: device, dtype: dtype);
        linear_2 = nn.Linear(config.Text.HiddenSize, config.Text.HiddenSize, hasBias: config.MultimodalProjectorBias, device: device, dtype: dtype);
        RegisterComponents();
    }

    public override Tensor forward(Tensor features)
    {
        using var scope = NewDisposeScope();
        return linear_2.forward(LlavaOps.Gelu(linear_1.forward(features))).MoveToOuterDisposeScope();
    }
}
