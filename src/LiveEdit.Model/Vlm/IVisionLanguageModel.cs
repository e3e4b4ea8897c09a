using TorchSharp;
using static TorchSharp.torch;

namespace LiveEdit.Model.Vlm;

/// <summary>
/// What LiveEdit needs from a frozen decoder-style VLM (docs/method.md). TinyVLM implements it; a
/// LLaVA-style model (CLIP ViT + projector + Llama from a safetensors folder) can implement it later.
/// The layout of one sequence is [vision tokens][prompt tokens][answer tokens][padding]: inputs with no
/// image have <see cref="VlmInputs.VisionCount"/> 0. All tensors follow the TorchSharp dispose-scope rules:
/// results belong to the caller's scope.
/// </summary>
public interface IVisionLanguageModel
{
    /// <summary>Sizes LiveEdit reads: LM width d, vision token count N_v, edit layer l_e, vocabulary.</summary>
    VlmShape Shape { get; }

    /// <summary>Tokenises and pads a batch; images are [3, H, W] float tensors in [0, 1] (null: text only).</summary>
    VlmInputs Prepare(IReadOnlyList<VlmExample> examples);

    /// <summary>Hidden states at the output of decoder layer l_e. [B, L, d]</summary>
    Tensor HiddenAtEditLayer(VlmInputs inputs);

    /// <summary>
    /// Runs the decoder from the output of layer l_e with <paramref name="hiddenAtEditLayer"/> in place of the
    /// model's own, to the vocabulary logits. [B, L, d] → [B, L, V]
    /// </summary>
    Tensor LogitsFromEditLayer(VlmInputs inputs, Tensor hiddenAtEditLayer);

    /// <summary>Full forward; <paramref name="atEditLayer"/>, when given, rewrites layer l_e's output. [B, L, V]</summary>
    Tensor Logits(VlmInputs inputs, Func<Tensor, Tensor>? atEditLayer = null);

    /// <summary>
    /// Greedy decoding of an answer for each example (its answer, if any, is ignored). <paramref name="atEditLayer"/>
    /// is applied to layer l_e's output at every step ([B, L, d] → [B, L, d]).
    /// </summary>
    IReadOnlyList<string> GreedyAnswers(IReadOnlyList<VlmExample> examples, Func<Tensor, Tensor>? atEditLayer = null, int maxNewTokens = 8);

    /// <summary>SHA-256 (hex) of the frozen weights: experts record which base model made them.</summary>
    string WeightsSha256 { get; }
}

/// <summary>One input: an image (or none), a prompt, and for teacher forcing the answer.</summary>
/// <param name="Image">[3, H, W] float32 in [0, 1], or null for a text-only input.</param>
public sealed record VlmExample(Tensor? Image, string Prompt, string? Answer = null);

/// <summary>Model sizes that LiveEdit's modules are built from.</summary>
/// <param name="HiddenSize">d, the LM width.</param>
/// <param name="VisionTokens">N_v, vision tokens per image.</param>
/// <param name="EditLayer">l_e, the decoder layer (0-based) whose output is edited.</param>
/// <param name="Layers">Decoder layer count.</param>
/// <param name="VocabSize">Vocabulary size.</param>
public sealed record VlmShape(int HiddenSize, int VisionTokens, int EditLayer, int Layers, int VocabSize);

/// <summary>
/// A prepared batch. Per example i: vision tokens at [VisionStart[i], VisionStart[i]+VisionCount[i]),
/// prompt at [PromptStart[i], +PromptLength[i]), answer at [AnswerStart[i], +AnswerLength[i]) (length 0
/// when no answer was given). Positions past Length[i] are padding.
/// Teacher forcing: logits at position t predict token t+1, so answer token j is scored at position
/// AnswerStart[i] + j − 1. The answer range includes the model's end-of-answer token when it has one
/// (TinyVLM appends &lt;eos&gt;: AnswerLength = answer words + 1), so scoring the whole range also scores
/// "stop here", which is what greedy decoding needs to reproduce the answer exactly.
/// </summary>
public sealed record VlmInputs(
    Tensor TokenIds,            // [B, L] int64 (vision positions hold a placeholder id)
    Tensor? Images,             // [B, 3, H, W] float32, zeros for text-only rows; null when no row has an image
    int[] VisionStart, int[] VisionCount,
    int[] PromptStart, int[] PromptLength,
    int[] AnswerStart, int[] AnswerLength,
    int[] Length)
{
    /// <summary>Batch size.</summary>
    public int Count => Length.Length;

    /// <summary>True when example i has an image.</summary>
    public bool HasImage(int i) => VisionCount[i] > 0;
}
