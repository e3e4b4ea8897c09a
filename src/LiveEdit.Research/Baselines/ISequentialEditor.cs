using LiveEdit.Model.Vlm;
using static TorchSharp.torch;

namespace LiveEdit.Research.Baselines;

/// <summary>
/// A baseline editor (docs/method.md) that applies edits one after another to a frozen base VLM and answers with
/// everything applied so far. Unlike LiveEdit's experts, an edit cannot be taken back one at a time: only
/// <see cref="Reset"/> returns to the base model. Deterministic for a fixed thread count; not thread-safe; while it
/// exists it owns the base model (FT-L changes the model's weights in place and restores them on Reset/Dispose).
/// </summary>
public interface ISequentialEditor : IDisposable
{
    /// <summary>The method's short name (<c>ft-l</c>, <c>lora</c>, <c>grace</c>).</summary>
    string Method { get; }

    /// <summary>Edits applied since the last <see cref="Reset"/>.</summary>
    int Edits { get; }

    /// <summary>
    /// What the edits occupy: codebook entries for GRACE; for the weight-editing methods the edits applied. Reported
    /// in the "active experts" column of the metrics.
    /// </summary>
    int Entries { get; }

    /// <summary>Applies one edit: <paramref name="edit"/> holds the image, the prompt and the new target as its answer.</summary>
    void Apply(VlmExample edit);

    /// <summary>Teacher-forced logits with every applied edit in effect, without gradients. [B, L, V] (caller's scope)</summary>
    Tensor Logits(VlmInputs inputs);

    /// <summary>Greedy answers with every applied edit in effect (the examples' answers are ignored).</summary>
    IReadOnlyList<string> Answers(IReadOnlyList<VlmExample> examples, int maxNewTokens = 8);

    /// <summary>Forgets every edit: afterwards logits equal the base model's bit for bit.</summary>
    void Reset();
}
