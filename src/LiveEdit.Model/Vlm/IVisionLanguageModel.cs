using LiveEdit.Model.Images;
using TorchSharp;
using static TorchSharp.torch;

namespace LiveEdit.Model.Vlm;

/// <summary>
/// What LiveEdit needs from a frozen decoder-style VLM (docs/method.md, docs/model-plugins.md). A model owns its
/// preprocessing (<see cref="ImageInput"/>), its tokenizer (what <see cref="CheckEditText"/> and
/// <see cref="CheckQuery"/> judge), its device and its dtype; <see cref="VlmLoader"/> chooses the implementation from
/// configuration, so the hosts, workers and command line see only this interface.
/// The layout of one sequence is [vision tokens][prompt tokens][answer tokens][padding]: inputs with no
/// image have <see cref="VlmInputs.VisionCount"/> 0. All tensors follow the TorchSharp dispose-scope rules:
/// results belong to the caller's scope.
/// </summary>
public interface IVisionLanguageModel
{
    /// <summary>The model kind <see cref="VlmLoader"/> knows it by ("TinyVlm", "Llava").</summary>
    string Kind { get; }

    /// <summary>Where the weights live; every tensor LiveEdit creates for this model is created there.</summary>
    Device Device { get; }

    /// <summary>The weights' element type (activations follow it; LiveEdit's own modules and experts stay float32).</summary>
    ScalarType DType { get; }

    /// <summary>
    /// One decoded image (any size) → this model's own input tensor [3, H, W] on <see cref="Device"/>: resized,
    /// cropped and normalised as the model was trained. What <see cref="VlmExample.Image"/> then carries. The tensor
    /// belongs to the caller's dispose scope.
    /// </summary>
    Tensor ImageInput(RgbImage image);

    /// <summary>
    /// The first reason <paramref name="prompt"/> → <paramref name="target"/> can never become an expert of this model
    /// (a target it cannot say, text that does not fit), or null when it can. The proposal endpoint, the expert worker
    /// and the benchmark importer all ask this.
    /// </summary>
    EditTextProblem? CheckEditText(string prompt, string target);

    /// <summary>Why a query with <paramref name="prompt"/> cannot be answered (no room left for an answer), or null when it can.</summary>
    EditTextProblem? CheckQuery(string prompt, bool withImage);

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
    /// Encodes the images once and runs the whole prepared batch through the decoder once, keeping every layer's keys
    /// and values for <see cref="Step"/>. <paramref name="atEditLayer"/>, when given, rewrites layer l_e's output at
    /// every position ([B, L, d] → [B, L, d]), as in <see cref="Logits"/>. Returns each row's logits at its last real
    /// position (Length[i] − 1) [B, V] and a cache with room for <paramref name="maxNewTokens"/> more positions per row
    /// (never past the model's position table). The caller disposes the cache.
    /// </summary>
    (Tensor Logits, KvCache Cache) Prefill(VlmInputs inputs, int maxNewTokens, Func<Tensor, Tensor>? atEditLayer = null);

    /// <summary>
    /// Appends one token per row at the row's own next position (<see cref="KvCache.Positions"/>; rows of different
    /// lengths stay aligned) and returns the logits there [B, V]. <paramref name="nextTokenIds"/> [B] int64.
    /// <paramref name="atEditLayer"/> sees only the new positions ([B, 1, d] → [B, 1, d]): a rewrite that reads other
    /// positions than the ones it rewrites cannot be applied step by step (decode it with <see cref="Decoding.Recompute"/>).
    /// </summary>
    Tensor Step(KvCache cache, Tensor nextTokenIds, Func<Tensor, Tensor>? atEditLayer = null);

    /// <summary>
    /// Greedy decoding of an answer for each example (its answer, if any, is ignored). <paramref name="atEditLayer"/>
    /// rewrites layer l_e's output at every position. With <see cref="Decoding.Cached"/> (prefill once, then one token
    /// per step) it must rewrite each position on its own, apart from state it settles on its first call, which is the
    /// whole prompt; <see cref="Decoding.Recompute"/> runs the whole sequence ([B, L, d] → [B, L, d]) at every step.
    /// </summary>
    IReadOnlyList<string> GreedyAnswers(IReadOnlyList<VlmExample> examples, Func<Tensor, Tensor>? atEditLayer = null, int maxNewTokens = 8,
        Decoding decoding = Decoding.Cached);

    /// <summary>
    /// <see cref="GreedyAnswers"/> with their token ids (without the end-of-answer token) and, when <paramref name="keepLogits"/>,
    /// the logits [V] each of a row's steps chose from (the last one chose the end of the answer, when it did).
    /// </summary>
    GreedyDecoding GreedyDecode(IReadOnlyList<VlmExample> examples, Func<Tensor, Tensor>? atEditLayer = null, int maxNewTokens = 8,
        Decoding decoding = Decoding.Cached, bool keepLogits = false);

    /// <summary>SHA-256 (hex) of the frozen weights: experts record which base model made them.</summary>
    string WeightsSha256 { get; }
}

/// <summary>How greedy decoding runs the decoder.</summary>
public enum Decoding
{
    /// <summary>Prefill the prompt once, then one token per step with a <see cref="KvCache"/>.</summary>
    Cached,

    /// <summary>The whole sequence, vision encoder included, at every step (the reference the cache is tested against).</summary>
    Recompute,
}

/// <summary>Greedy answers as text and as token ids, and per row the logits each step chose from (null unless asked for).</summary>
public sealed record GreedyDecoding(IReadOnlyList<string> Answers, IReadOnlyList<int[]> Tokens, IReadOnlyList<IReadOnlyList<float[]>>? StepLogits);

/// <summary>One input: an image (or none), a prompt, and for teacher forcing the answer.</summary>
/// <param name="Image">The model's own image input [3, H, W] (<see cref="IVisionLanguageModel.ImageInput"/>), or null for a text-only input.</param>
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
