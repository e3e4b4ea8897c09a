using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace LiveEdit.Model.Llava;

/// <summary>
/// Qwen2's tokenizer: byte-level BPE (<c>vocab.json</c> + <c>merges.txt</c>, or a byte-level <c>tokenizer.json</c>) run by
/// Microsoft.ML.Tokenizers, plus the checkpoint's added tokens. The text is cut at added tokens first; each plain segment
/// is split by Qwen2's pre-tokenizer expression before the merges. Qwen2 also NFC-normalises the text; that step is left
/// out because the hosts run with invariant globalisation, where .NET does not compose characters: text already in NFC
/// (nearly all text) gives the same ids, decomposed accents do not. Decoding skips special tokens and
/// ids outside the vocabulary, and restores the UTF-8 bytes.
/// </summary>
public sealed class ByteLevelBpeTextTokenizer : ITextTokenizer
{
    /// <summary>Qwen2's pre-tokenizer expression (transformers' tokenization_qwen2 PRETOKENIZE_REGEX).</summary>
    public const string Qwen2Pattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private readonly BpeTokenizer _model;
    private readonly AddedVocabulary _added;
    private readonly HashSet<int> _known;

    private ByteLevelBpeTextTokenizer(BpeTokenizer model, Dictionary<string, int> vocab, AddedVocabulary added, int? bos, int eos, int pad)
    {
        _model = model;
        _added = added;
        _known = [.. vocab.Values];
        var baseVocab = vocab.Values.Max() + 1;
        BosId = bos;
        EosId = eos;
        PadId = pad;
        VocabSize = Math.Max(baseVocab, added.MaxId + 1);
    }

    /// <inheritdoc />
    public int VocabSize { get; }

    /// <inheritdoc />
    public int? BosId { get; }

    /// <inheritdoc />
    public int EosId { get; }

    /// <inheritdoc />
    public int PadId { get; }

    internal static ByteLevelBpeTextTokenizer LoadVocabAndMerges(string folder)
    {
        var vocabPath = Path.Combine(folder, "vocab.json");
        var mergesPath = Path.Combine(folder, "merges.txt");
        Dictionary<string, int> vocab;
        using (var doc = TokenizerJson.Read(vocabPath)) vocab = ReadVocab(doc.RootElement, vocabPath);
        var merges = ReadMergesText(Encoding.UTF8.GetString(LlavaTokenizers.ReadLimited(mergesPath)), mergesPath);
        return Create(folder, vocab, merges, Qwen2Pattern, vocabPath, mergesPath, extraAdded: null);
    }

    internal static ByteLevelBpeTextTokenizer LoadTokenizerJson(string folder)
    {
        var path = Path.Combine(folder, "tokenizer.json");
        using var doc = TokenizerJson.Read(path);
        var root = doc.RootElement;
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
            throw new LlavaFileException(path, "the file has no \"model\" object");
        var type = model.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        if (type != "BPE") throw new LlavaFileException(path, $"model.type is \"{type}\"; only a byte-level BPE tokenizer.json is read (give tokenizer.model for LLaMA)");
        string? pattern = null;
        var byteLevel = false;
        if (root.TryGetProperty("pre_tokenizer", out var pre))
            foreach (var step in Steps(pre))
            {
                var stepType = step.TryGetProperty("type", out var st) && st.ValueKind == JsonValueKind.String ? st.GetString() : null;
                if (stepType == "ByteLevel") byteLevel = true;
                if (stepType == "Split" && step.TryGetProperty("pattern", out var p) && p.ValueKind == JsonValueKind.Object
                    && p.TryGetProperty("Regex", out var regex) && regex.ValueKind == JsonValueKind.String)
                    pattern = regex.GetString();
            }
        if (!byteLevel) throw new LlavaFileException(path, "pre_tokenizer is not byte-level; only a byte-level BPE tokenizer.json is read (give tokenizer.model for LLaMA)");
        if (!model.TryGetProperty("vocab", out var vocabJson)) throw new LlavaFileException(path, "model.vocab is missing");
        var vocab = ReadVocab(vocabJson, path + " model.vocab");
        if (!model.TryGetProperty("merges", out var mergesJson) || mergesJson.ValueKind != JsonValueKind.Array) throw new LlavaFileException(path, "model.merges must be a list");
        var merges = new List<string>();
        foreach (var m in mergesJson.EnumerateArray())
        {
            merges.Add(m.ValueKind switch
            {
                JsonValueKind.String => CheckMerge(m.GetString()!, path, merges.Count),
                JsonValueKind.Array when m.GetArrayLength() == 2 && m[0].ValueKind == JsonValueKind.String && m[1].ValueKind == JsonValueKind.String
                    => m[0].GetString() + " " + m[1].GetString(),
                _ => throw new LlavaFileException(path, $"model.merges[{merges.Count}] must be \"a b\" or [\"a\", \"b\"]"),
            });
        }
        var extra = new List<(string, int, bool)>();
        if (root.TryGetProperty("added_tokens", out var list) && list.ValueKind == JsonValueKind.Array)
            foreach (var item in list.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.Object || !item.TryGetProperty("id", out var id) || !id.TryGetInt32(out var idValue)
                    || !item.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.String)
                    throw new LlavaFileException(path, "added_tokens must hold objects with an integer \"id\" and a string \"content\"");
                extra.Add((content.GetString()!, idValue, TokenizerJson.Bool(item, "special", path) ?? false));
            }
        return Create(folder, vocab, merges, pattern ?? Qwen2Pattern, path, path, extra);

        static IEnumerable<JsonElement> Steps(JsonElement e)
        {
            if (e.ValueKind != JsonValueKind.Object) yield break;
            yield return e;
            if (e.TryGetProperty("pretokenizers", out var l) && l.ValueKind == JsonValueKind.Array)
                foreach (var item in l.EnumerateArray()) yield return item;
        }
    }

    private static ByteLevelBpeTextTokenizer Create(string folder, Dictionary<string, int> vocab, List<string> merges, string pattern,
        string vocabFile, string mergesFile, List<(string Content, int Id, bool Special)>? extraAdded)
    {
        var settings = LlavaTokenizers.ReadSettings(folder);
        if (extraAdded is not null)
            foreach (var (content, id, special) in extraAdded) settings.Added.Add(content, id, special, vocabFile);
        // Added tokens live in the added vocabulary only: the merges must never produce them from plain text.
        foreach (var (id, (content, _)) in settings.Added.ById)
            if (vocab.TryGetValue(content, out var inVocab) && inVocab != id)
                throw new LlavaFileException(vocabFile, $"\"{content}\" has id {inVocab} in the vocabulary and {id} as an added token");
        LlavaTokenizers.ResolveSpecial(settings, s => vocab.TryGetValue(s, out var id) ? id : null, folder);
        var added = settings.Added;
        if (settings.Eos is null) throw new LlavaFileException(Path.Combine(folder, "tokenizer_config.json"), "eos_token is not set");
        var eos = added.IdOf(settings.Eos)!.Value;
        var pad = settings.Pad is { } p && added.IdOf(p) is { } padId ? padId : eos;
        var bos = settings.AddBos == true && settings.Bos is { } b ? added.IdOf(b) : null;

        Regex regex;
        try { regex = new Regex(pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1)); }
        catch (ArgumentException e) { throw new LlavaFileException(vocabFile, "the pre-tokenizer expression is not a valid regular expression", e); }

        BpeTokenizer model;
        try
        {
            model = BpeTokenizer.Create(new BpeOptions(vocab)
            {
                Merges = merges,
                ByteLevel = true,
                PreTokenizer = new RegexPreTokenizer(regex, null),
            });
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new LlavaFileException(mergesFile, "the vocabulary and merges do not form a byte-level BPE model: " + e.GetType().Name, e);
        }
        return new ByteLevelBpeTextTokenizer(model, vocab, added, bos, eos, pad);
    }

    private static Dictionary<string, int> ReadVocab(JsonElement root, string file)
    {
        if (root.ValueKind != JsonValueKind.Object) throw new LlavaFileException(file, "the vocabulary must be an object of token → id");
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        var ids = new HashSet<int>();
        foreach (var entry in root.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt32(out var id) || id < 0)
                throw new LlavaFileException(file, $"\"{entry.Name}\" must map to a non-negative integer id");
            if (!ids.Add(id)) throw new LlavaFileException(file, $"id {id} is given to more than one token");
            vocab[entry.Name] = id;
        }
        if (vocab.Count == 0) throw new LlavaFileException(file, "the vocabulary is empty");
        return vocab;
    }

    private static List<string> ReadMergesText(string text, string file)
    {
        var merges = new List<string>();
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd('\r');
            if (line.Length == 0 || (i == 0 && line.StartsWith("#version", StringComparison.Ordinal))) continue;
            merges.Add(CheckMerge(line, file, i + 1));
        }
        return merges;
    }

    private static string CheckMerge(string line, string file, int number)
    {
        var space = line.IndexOf(' ');
        if (space <= 0 || space == line.Length - 1 || line.IndexOf(' ', space + 1) >= 0)
            throw new LlavaFileException(file, $"merge {number} (\"{(line.Length > 40 ? line[..40] + "…" : line)}\") is not two tokens separated by one space");
        return line;
    }

    /// <inheritdoc />
    public IReadOnlyList<int> Encode(string text, bool addBos)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>();
        if (addBos && BosId is { } bos) ids.Add(bos);
        foreach (var (_, segment, id) in _added.Split(text))
        {
            if (id is { } addedId) { ids.Add(addedId); continue; }
            ids.AddRange(_model.EncodeToIds(segment));
        }
        return ids;
    }

    /// <inheritdoc />
    public string Decode(IEnumerable<int> ids)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var text = new StringBuilder();
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
            if (_known.Contains(id)) run.Add(id);
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
