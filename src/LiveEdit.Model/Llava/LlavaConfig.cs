namespace LiveEdit.Model.Llava;

/// <summary>Which vision tower a LLaVA-family checkpoint uses.</summary>
public enum VisionTowerKind
{
    /// <summary>CLIP ViT: pre-LN, a class token, quick-GELU.</summary>
    Clip,

    /// <summary>SigLIP ViT: no class token, tanh-approximated GELU.</summary>
    Siglip,
}

/// <summary>Which decoder a LLaVA-family checkpoint uses.</summary>
public enum DecoderKind
{
    /// <summary>LLaMA: RMSNorm, RoPE, SwiGLU, grouped KV heads, no q/k/v biases.</summary>
    Llama,

    /// <summary>Qwen2: as LLaMA, with biases on the q, k and v projections.</summary>
    Qwen2,
}

/// <summary>
/// The fields of a Hugging Face LLaVA <c>config.json</c> that the model is built from (docs/llava.md). Parsed by
/// <c>LlavaConfig.Parse</c>; sizes are validated there.
/// </summary>
/// <param name="Vision">The vision tower (<c>vision_config</c>).</param>
/// <param name="Text">The decoder (<c>text_config</c>).</param>
/// <param name="ImageTokenIndex"><c>image_token_index</c>: the token id each image placeholder carries.</param>
/// <param name="ProjectorHiddenAct"><c>projector_hidden_act</c> (only "gelu" is supported: exact erf GELU).</param>
/// <param name="VisionFeatureLayer"><c>vision_feature_layer</c>: which hidden state of the tower the projector reads (−2: the output of the second-to-last layer).</param>
/// <param name="VisionFeatureSelectStrategy"><c>vision_feature_select_strategy</c>: "default" drops the class token, "full" keeps it.</param>
/// <param name="MultimodalProjectorBias"><c>multimodal_projector_bias</c> (true unless the file says otherwise).</param>
public sealed partial record LlavaConfig(
    LlavaVisionConfig Vision,
    LlavaTextConfig Text,
    int ImageTokenIndex,
    string ProjectorHiddenAct,
    int VisionFeatureLayer,
    string VisionFeatureSelectStrategy,
    bool MultimodalProjectorBias)
{
    /// <summary>Patches per side of the square input.</summary>
    public int PatchesPerSide => Vision.ImageSize / Vision.PatchSize;

    /// <summary>
    /// Vision tokens one image becomes in the decoder: every patch, plus the class token for CLIP when the strategy is
    /// "full".
    /// </summary>
    public int ImageTokens => PatchesPerSide * PatchesPerSide +
        (Vision.Kind == VisionTowerKind.Clip && VisionFeatureSelectStrategy == "full" ? 1 : 0);
}

/// <summary>The vision tower's <c>vision_config</c>.</summary>
/// <param name="Kind">CLIP or SigLIP (from <c>model_type</c>: clip_vision_model / siglip_vision_model).</param>
/// <param name="HiddenSize"><c>hidden_size</c>.</param>
/// <param name="IntermediateSize"><c>intermediate_size</c>.</param>
/// <param name="Layers"><c>num_hidden_layers</c>.</param>
/// <param name="Heads"><c>num_attention_heads</c>.</param>
/// <param name="ImageSize"><c>image_size</c>: side of the square input in pixels.</param>
/// <param name="PatchSize"><c>patch_size</c>.</param>
/// <param name="LayerNormEps"><c>layer_norm_eps</c>.</param>
/// <param name="HiddenAct"><c>hidden_act</c>: "quick_gelu" (CLIP) or "gelu_pytorch_tanh" (SigLIP).</param>
public sealed record LlavaVisionConfig(
    VisionTowerKind Kind,
    int HiddenSize,
    int IntermediateSize,
    int Layers,
    int Heads,
    int ImageSize,
    int PatchSize,
    double LayerNormEps,
    string HiddenAct);

/// <summary>The decoder's <c>text_config</c>.</summary>
/// <param name="Kind">LLaMA or Qwen2 (from <c>model_type</c>).</param>
/// <param name="HiddenSize"><c>hidden_size</c>.</param>
/// <param name="IntermediateSize"><c>intermediate_size</c>.</param>
/// <param name="Layers"><c>num_hidden_layers</c>.</param>
/// <param name="Heads"><c>num_attention_heads</c>.</param>
/// <param name="KeyValueHeads"><c>num_key_value_heads</c> (defaults to <paramref name="Heads"/>).</param>
/// <param name="VocabSize"><c>vocab_size</c>.</param>
/// <param name="RmsNormEps"><c>rms_norm_eps</c>.</param>
/// <param name="RopeTheta"><c>rope_theta</c>.</param>
/// <param name="MaxPositionEmbeddings"><c>max_position_embeddings</c>.</param>
/// <param name="AttentionBias">Biases on q, k, v (Qwen2: always; LLaMA: <c>attention_bias</c>, default false).</param>
/// <param name="TieWordEmbeddings"><c>tie_word_embeddings</c>: the LM head reuses the token embedding.</param>
/// <param name="HiddenAct"><c>hidden_act</c> ("silu").</param>
public sealed record LlavaTextConfig(
    DecoderKind Kind,
    int HiddenSize,
    int IntermediateSize,
    int Layers,
    int Heads,
    int KeyValueHeads,
    int VocabSize,
    double RmsNormEps,
    double RopeTheta,
    int MaxPositionEmbeddings,
    bool AttentionBias,
    bool TieWordEmbeddings,
    string HiddenAct)
{
    /// <summary>Width of one attention head.</summary>
    public int HeadDim => HiddenSize / Heads;
}
