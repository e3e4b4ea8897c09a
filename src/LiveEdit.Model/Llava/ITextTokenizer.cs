namespace LiveEdit.Model.Llava;

/// <summary>
/// A checkpoint's own tokenizer (LLaMA's SentencePiece model or Qwen2's byte-level BPE), as the model reads and writes
/// text. Implementations are loaded from the checkpoint folder's tokenizer files.
/// </summary>
public interface ITextTokenizer
{
    /// <summary>Ids the tokenizer can produce (may be less than the model's embedding rows).</summary>
    int VocabSize { get; }

    /// <summary>Beginning-of-sequence id, or null when the tokenizer adds none (Qwen2).</summary>
    int? BosId { get; }

    /// <summary>End-of-sequence id: greedy decoding stops when it is chosen.</summary>
    int EosId { get; }

    /// <summary>Id used to pad a batch (never attended to).</summary>
    int PadId { get; }

    /// <summary>
    /// Token ids of <paramref name="text"/>; special tokens written literally in it (such as <c>&lt;image&gt;</c>) map to
    /// their ids. <paramref name="addBos"/>: prefix <see cref="BosId"/> when there is one.
    /// </summary>
    IReadOnlyList<int> Encode(string text, bool addBos);

    /// <summary>The text of <paramref name="ids"/>, special tokens skipped.</summary>
    string Decode(IEnumerable<int> ids);
}
