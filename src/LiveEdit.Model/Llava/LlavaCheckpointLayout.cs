using LiveEdit.Model.HuggingFace;

namespace LiveEdit.Model.Llava;

/// <summary>
/// How LLaVA checkpoints name their tensors. The canonical names are the llava-1.5 layout that
/// <c>llava-hf/llava-1.5-7b-hf</c> ships (transformers before 4.52 saved it); transformers 4.52 and later save the
/// newer layout, which <see cref="Canonical"/> maps back. Names and shapes follow transformers'
/// <c>src/transformers/models/…</c> (read at commit 00d3cdbeaab26587a543f75df7997a53a6fb146b of huggingface/transformers;
/// docs/llava.md lists them):
/// <list type="bullet">
/// <item>llava/modeling_llava.py — <c>LlavaModel.__init__</c> (L169–L175): the submodules <c>vision_tower</c> (L171),
/// <c>multi_modal_projector</c> (L173), <c>language_model</c> (L174); <c>LlavaMultiModalProjector.__init__</c> (L112–L124):
/// <c>linear_1</c> [text hidden, vision hidden] (L116–L120) and <c>linear_2</c> [text hidden, text hidden] (L122–L124),
/// biases when <c>multimodal_projector_bias</c>;
/// <c>LlavaForConditionalGeneration._checkpoint_conversion_mapping</c> (L336–L341): <c>^language_model.model → model.language_model</c>,
/// <c>^vision_tower → model.vision_tower</c>, <c>^multi_modal_projector → model.multi_modal_projector</c>,
/// <c>^language_model.lm_head → lm_head</c> (the two layouts); <c>_tied_weights_keys = ["lm_head.weight"]</c> (L342);
/// <c>lm_head</c> [vocab, text hidden], no bias (L347).</item>
/// <item>clip/modeling_clip.py — <c>CLIPVisionModel.vision_model</c>; <c>CLIPVisionTransformer</c>: <c>embeddings</c>,
/// <c>pre_layrnorm</c> (HF's spelling), <c>encoder</c>, <c>post_layernorm</c>; <c>CLIPVisionEmbeddings</c>:
/// <c>class_embedding</c> [hidden], <c>patch_embedding</c> (Conv2d, bias=False) [hidden, 3, patch, patch],
/// <c>position_embedding</c> [patches + 1, hidden], the <c>position_ids</c> buffer (persistent=False in current
/// versions); <c>CLIPEncoder.layers</c>; <c>CLIPEncoderLayer</c>: <c>self_attn</c>, <c>layer_norm1</c>, <c>mlp</c>,
/// <c>layer_norm2</c>; <c>CLIPAttention</c>: <c>k_proj</c>, <c>v_proj</c>, <c>q_proj</c>, <c>out_proj</c> (with biases);
/// <c>CLIPMLP</c>: <c>fc1</c> [intermediate, hidden], <c>fc2</c> [hidden, intermediate].</item>
/// <item>siglip/modeling_siglip.py (read at commit 1c51a62f5861390e994db1464e8a51f6d7fbacbc) —
/// <c>SiglipVisionModel.vision_model</c> (L1148); <c>SiglipVisionTransformer</c> (L1062–L1067): <c>embeddings</c>,
/// <c>encoder</c>, <c>post_layernorm</c> (L1064), and <c>head</c> when <c>vision_use_head</c> (L1065–L1067);
/// <c>SiglipVisionEmbeddings</c>: <c>patch_embedding</c> (Conv2d with bias, L258–L264), <c>position_embedding</c>
/// [patches, hidden] (no class token, L266–L268); <c>SiglipEncoder.layers</c> (L847); <c>SiglipEncoderLayer</c>
/// (L618–L621), <c>SiglipAttention</c> (L373–L376) and <c>SiglipMLP</c> (L604–L605) named as CLIP's.</item>
/// <item>llama/modeling_llama.py — <c>LlamaForCausalLM</c>: <c>model</c>, <c>lm_head</c> [vocab, hidden];
/// <c>LlamaModel</c>: <c>embed_tokens</c>, <c>layers</c>, <c>norm</c>; <c>LlamaDecoderLayer</c>: <c>self_attn</c>,
/// <c>mlp</c>, <c>input_layernorm</c>, <c>post_attention_layernorm</c>; <c>LlamaAttention</c>: <c>q_proj</c>
/// [heads × head_dim, hidden], <c>k_proj</c>/<c>v_proj</c> [kv heads × head_dim, hidden], <c>o_proj</c>, biases when
/// <c>attention_bias</c> (o_proj too in LLaMA; llava-1.5 has none); <c>LlamaMLP</c>: <c>gate_proj</c>,
/// <c>up_proj</c> [intermediate, hidden], <c>down_proj</c> [hidden, intermediate].</item>
/// <item>qwen2/modeling_qwen2.py (read at commit 63bb723747035466e5339aea864b133f709b067d) — as LLaMA, with
/// <c>Qwen2Attention</c>'s q/k/v projections always biased (L134–L136) and <c>o_proj</c> without bias (L137);
/// <c>Qwen2MLP</c> (L40–L42), <c>Qwen2DecoderLayer</c> (L212–L216), <c>Qwen2Model</c> (L316–L320).</item>
/// </list>
/// </summary>
public sealed class LlavaCheckpointLayout(LlavaConfig config) : ICheckpointLayout
{
    private static readonly (string Newer, string Canonical)[] Prefixes =
    [
        ("model.language_model.", "language_model.model."),
        ("model.vision_tower.", "vision_tower."),
        ("model.multi_modal_projector.", "multi_modal_projector."),
        ("lm_head.", "language_model.lm_head."),
    ];

    /// <summary>The configuration whose tied head and feature layer decide what is ignored.</summary>
    public LlavaConfig Config { get; } = config;

    /// <inheritdoc />
    public string Canonical(string fileKey)
    {
        foreach (var (newer, canonical) in Prefixes)
        {
            if (fileKey.StartsWith(newer, StringComparison.Ordinal)) return canonical + fileKey[newer.Length..];
        }
        return fileKey;
    }

    /// <inheritdoc />
    public string? IgnoredBecause(string name)
    {
        const string vision = "vision_tower.vision_model.";
        if (name.StartsWith(vision + "post_layernorm.", StringComparison.Ordinal))
            return "the tower's post-layernorm applies only to its last output and pooled output; LLaVA reads a hidden state of the encoder before it";
        if (name.StartsWith(vision + "head.", StringComparison.Ordinal))
            return "SigLIP's attention-pooling head makes the pooled output, which LLaVA does not read";
        if (name == vision + "embeddings.position_ids")
            return "a buffer of position indices that older transformers saved; positions are 0…patches−1 (+1) by construction";
        if (name.StartsWith("language_model.model.layers.", StringComparison.Ordinal) && name.EndsWith(".self_attn.rotary_emb.inv_freq", StringComparison.Ordinal))
            return "a buffer of rotary frequencies that older transformers saved; they follow from rope_theta";
        if (name == "language_model.lm_head.weight" && Config.Text.TieWordEmbeddings)
            return "tie_word_embeddings: the head is the token embedding";
        if (name.StartsWith(vision + "encoder.layers.", StringComparison.Ordinal)
            && int.TryParse(name.AsSpan((vision + "encoder.layers.").Length).ToString().Split('.')[0], out var layer)
            && layer >= UsedVisionLayers(Config))
            return $"vision layer {layer} runs after hidden state {Config.VisionFeatureLayer}, which the projector reads";
        return null;
    }

    /// <summary>How many encoder layers run before the hidden state the projector reads.</summary>
    public static int UsedVisionLayers(LlavaConfig config) =>
        config.VisionFeatureLayer >= 0 ? config.VisionFeatureLayer : config.Vision.Layers + 1 + config.VisionFeatureLayer;

    /// <summary>
    /// Every tensor a LLaVA model of <paramref name="config"/> binds, with its shape, in canonical names: the vision
    /// tower (all its encoder layers and its post-layernorm), the projector, the decoder and, unless tied, the head.
    /// </summary>
    public static IReadOnlyList<(string Name, long[] Shape)> Expected(LlavaConfig config)
    {
        var list = new List<(string, long[])>();
        var v = config.Vision;
        var t = config.Text;
        const string vm = "vision_tower.vision_model.";
        long hv = v.HiddenSize, iv = v.IntermediateSize, patches = (long)config.PatchesPerSide * config.PatchesPerSide;
        var clip = v.Kind == VisionTowerKind.Clip;
        if (clip) list.Add((vm + "embeddings.class_embedding", [hv]));
        list.Add((vm + "embeddings.patch_embedding.weight", [hv, 3, v.PatchSize, v.PatchSize]));
        if (!clip) list.Add((vm + "embeddings.patch_embedding.bias", [hv]));
        list.Add((vm + "embeddings.position_embedding.weight", [patches + (clip ? 1 : 0), hv]));
        if (clip)
        {
            list.Add((vm + "pre_layrnorm.weight", [hv]));
            list.Add((vm + "pre_layrnorm.bias", [hv]));
        }
        for (var i = 0; i < v.Layers; i++)
        {
            var p = $"{vm}encoder.layers.{i}.";
            foreach (var proj in new[] { "k_proj", "v_proj", "q_proj", "out_proj" })
            {
                list.Add((p + $"self_attn.{proj}.weight", [hv, hv]));
                list.Add((p + $"self_attn.{proj}.bias", [hv]));
            }
            list.Add((p + "layer_norm1.weight", [hv]));
            list.Add((p + "layer_norm1.bias", [hv]));
            list.Add((p + "mlp.fc1.weight", [iv, hv]));
            list.Add((p + "mlp.fc1.bias", [iv]));
            list.Add((p + "mlp.fc2.weight", [hv, iv]));
            list.Add((p + "mlp.fc2.bias", [hv]));
            list.Add((p + "layer_norm2.weight", [hv]));
            list.Add((p + "layer_norm2.bias", [hv]));
        }
        list.Add((vm + "post_layernorm.weight", [hv]));
        list.Add((vm + "post_layernorm.bias", [hv]));

        long ht = t.HiddenSize, it = t.IntermediateSize, hd = t.HeadDim;
        list.Add(("multi_modal_projector.linear_1.weight", [ht, hv]));
        if (config.MultimodalProjectorBias) list.Add(("multi_modal_projector.linear_1.bias", [ht]));
        list.Add(("multi_modal_projector.linear_2.weight", [ht, ht]));
        if (config.MultimodalProjectorBias) list.Add(("multi_modal_projector.linear_2.bias", [ht]));

        const string lm = "language_model.model.";
        list.Add((lm + "embed_tokens.weight", [t.VocabSize, ht]));
        for (var i = 0; i < t.Layers; i++)
        {
            var p = $"{lm}layers.{i}.";
            list.Add((p + "self_attn.q_proj.weight", [t.Heads * hd, ht]));
            if (t.AttentionBias) list.Add((p + "self_attn.q_proj.bias", [t.Heads * hd]));
            list.Add((p + "self_attn.k_proj.weight", [t.KeyValueHeads * hd, ht]));
            if (t.AttentionBias) list.Add((p + "self_attn.k_proj.bias", [t.KeyValueHeads * hd]));
            list.Add((p + "self_attn.v_proj.weight", [t.KeyValueHeads * hd, ht]));
            if (t.AttentionBias) list.Add((p + "self_attn.v_proj.bias", [t.KeyValueHeads * hd]));
            list.Add((p + "self_attn.o_proj.weight", [ht, t.Heads * hd]));
            if (t.AttentionBias && t.Kind == DecoderKind.Llama) list.Add((p + "self_attn.o_proj.bias", [ht]));
            list.Add((p + "mlp.gate_proj.weight", [it, ht]));
            list.Add((p + "mlp.up_proj.weight", [it, ht]));
            list.Add((p + "mlp.down_proj.weight", [ht, it]));
            list.Add((p + "input_layernorm.weight", [ht]));
            list.Add((p + "post_attention_layernorm.weight", [ht]));
        }
        list.Add((lm + "norm.weight", [ht]));
        if (!t.TieWordEmbeddings) list.Add(("language_model.lm_head.weight", [t.VocabSize, ht]));
        return list;
    }
}
