using System.Text.Json;
using Microsoft.ML.Tokenizers;

namespace LiveEdit.Model.Llava;

/// <summary>Where the SentencePiece dummy prefix "▁" goes when a text is cut by added tokens.</summary>
public enum DummyPrefix
{
    /// <summary>Before every plain segment (transformers' legacy LLaMA behaviour, and llava-1.5's tokenizer.json).</summary>
    EverySegment,

    /// <summary>Only before a segment that starts the text (legacy = false; Metaspace prepend_scheme "first").</summary>
    FirstSegment,

    /// <summary>Never.</summary>
    Never,
}

/// <summary>
/// LLaMA's tokenizer: the SentencePiece BPE model of <c>tokenizer.model</c> (with byte fallback) run by
/// Microsoft.ML.Tokenizers, plus the checkpoint's added tokens. The text is cut at added tokens first; each plain segment
/// has its spaces escaped as "▁" and gets the dummy prefix as <see cref="Prefix"/> says, then is encoded without further
/// normalisation. Decoding skips special tokens and ids outside the vocabulary.
/// </summary>
public sealed class SentencePieceTextTokenizer : ITextTokenizer
{
    private const char Escape = '\u2581';
    private readonly SentencePieceTokenizer _model;
    private readonly AddedVocabulary _added;
    private readonly int _baseVocab;

    private SentencePieceTextTokenizer(SentencePieceTokenizer model, AddedVocabulary added, int? bos, int eos, int pad, DummyPrefix prefix)
    {
        _model = model;
        _added = added;
        _baseVocab = model.Vocabulary.Count == 0 ? 0 : model.Vocabulary.Values.Max() + 1;
        BosId = bos;
        EosId = eos;
        PadId = pad;
        Prefix = prefix;
        VocabSize = Math.Max(_baseVocab, added.MaxId + 1);
    }

    /// <inheritdoc />
    public int VocabSize { get; }

    /// <inheritdoc />
    public int? BosId { get; }

    /// <inheritdoc />
    public int EosId { get; }

    /// <inheritdoc />
    public int PadId { get; }

    /// <summary>Where the dummy prefix goes (from tokenizer.json when present, otherwise tokenizer_config.json's <c>legacy</c>).</summary>
    public DummyPrefix Prefix { get; }

    internal static SentencePieceTextTokenizer Load(string folder)
    {
        var modelPath = Path.Combine(folder, "tokenizer.model");
        var bytes = LlavaTokenizers.ReadLimited(modelPath);
        SentencePieceTokenizer model;
        try
        {
            using var stream = new MemoryStream(bytes, writable: false);
            model = LlamaTokenizer.Create(stream, addBeginOfSentence: false, addEndOfSentence: false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new LlavaFileException(modelPath, "the file is not a SentencePiece BPE model (ModelProto) this tokenizer can read", e);
        }

        var settings = LlavaTokenizers.ReadSettings(folder);
        int? BaseId(string piece) => model.Vocabulary.TryGetValue(piece, out var id) ? id : null;
        // SentencePiece's own control pieces are special whatever the config files say.
        LlavaTokenizers.ResolveSpecial(settings with
        {
            Bos = settings.Bos ?? Piece(model, model.BeginningOfSentenceId),
            Eos = settings.Eos ?? Piece(model, model.EndOfSentenceId),
            Unk = settings.Unk ?? Piece(model, model.UnknownId),
        }, BaseId, folder);
        var added = settings.Added;
        var eos = settings.Eos is { } e1 ? added.IdOf(e1)!.Value : model.EndOfSentenceId;
        var bosId = settings.Bos is { } b1 ? added.IdOf(b1) : model.BeginningOfSentenceId;
        var unk = settings.Unk is { } u1 ? added.IdOf(u1) : model.UnknownId;
        var pad = settings.Pad is { } p1 && added.IdOf(p1) is { } padId ? padId : unk ?? eos;
        var addBos = settings.AddBos ?? true;
        // Without tokenizer.json, transformers' slow LlamaTokenizer: legacy keeps SentencePiece's own dummy prefix on every
        // segment; legacy = false prepends "▁" once to the whole text, unless add_prefix_space is false.
        var prefix = !model.AddDummyPrefix ? DummyPrefix.Never
            : PrefixFromTokenizerJson(folder)
              ?? (settings.Legacy != false ? DummyPrefix.EverySegment : settings.AddPrefixSpace == false ? DummyPrefix.Never : DummyPrefix.FirstSegment);
        return new SentencePieceTextTokenizer(model, added, addBos ? bosId : null, eos, pad, prefix);
    }

    private static string? Piece(SentencePieceTokenizer model, int id) =>
        id < 0 ? null : model.Vocabulary.FirstOrDefault(kv => kv.Value == id).Key;

    /// <summary>
    /// The fast tokenizer's own rule, which transformers uses when tokenizer.json is present: a normalizer that
    /// prepends "▁" does so to every segment between added tokens; a Metaspace pre-tokenizer says it in prepend_scheme.
    /// </summary>
    private static DummyPrefix? PrefixFromTokenizerJson(string folder)
    {
        var path = Path.Combine(folder, "tokenizer.json");
        if (!File.Exists(path)) return null;
        using var doc = TokenizerJson.Read(path);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object) return null;
        if (root.TryGetProperty("normalizer", out var normalizer) && Steps(normalizer).Any(s => Type(s) == "Prepend")) return DummyPrefix.EverySegment;
        if (root.TryGetProperty("pre_tokenizer", out var pre))
            foreach (var step in Steps(pre))
                if (Type(step) == "Metaspace")
                {
                    var scheme = step.TryGetProperty("prepend_scheme", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString()
                        : step.TryGetProperty("add_prefix_space", out var a) && a.ValueKind == JsonValueKind.False ? "never" : "always";
                    return scheme switch { "first" => DummyPrefix.FirstSegment, "never" => DummyPrefix.Never, _ => DummyPrefix.EverySegment };
                }
        return DummyPrefix.Never;

        static string? Type(JsonElement e) => e.ValueKind == JsonValueKind.Object && e.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        static IEnumerable<JsonElement> Steps(JsonElement e)
        {
            if (e.ValueKind != JsonValueKind.Object) yield break;
            yield return e;
            foreach (var key in new[] { "normalizers", "pretokenizers" })
                if (e.TryGetProperty(key, out var list) && list.ValueKind == JsonValueKind.Array)
                    foreach (var item in list.EnumerateArray()) yield return item;
        }
    }

    /// <inheritdoc />
    public IReadOnlyList<int> Encode(string text, bool addBos)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>();
        if (addBos && BosId is { } bos) ids.Add(bos);
        foreach (var (start, segment, id) in _added.Split(text))
        {
            if (id is { } addedId) { ids.Add(addedId); continue; }
            var prefixed = Prefix == DummyPrefix.EverySegment || (Prefix == DummyPrefix.FirstSegment && start == 0);
            var escaped = (prefixed ? Escape.ToString() : "") + segment.Replace(' ', Escape);
            ids.AddRange(_model.EncodeToIds(escaped, addBeginningOfSentence: false, addEndOfSentence: false, considerPreTokenization: false, considerNormalization: false));
        }
        return ids;
    }

    /// <inheritdoc />
    public string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var text = new System.Text.StringBuilder();
        var run = new List<int>();
        foreach (var id in ids)
        {
            if (_added.ById.TryGetValue(id, out var added))
            {
                if (added.Special) continue;
                Flush();
                text.Append(added.Content);
                continue;
            }
            if (id >= 0 && id < _baseVocab) run.Add(id);
        }
        Flush();
        return text.ToString();

        void Flush()
        {
            if (run.Count == 0) return;
            text.Append(_model.Decode(run, considerSpecialTokens: false));
            run.Clear();
        }
    }
}
