using System.Text.Json;

namespace LiveEdit.Model.Vlm;

/// <summary>
/// Word-level tokenizer fitted to a closed vocabulary (SynthWorld's). Text is lower-cased; "?", "." and ","
/// are separate tokens; an unknown word maps to &lt;unk&gt; (so any user prompt can be read).
/// </summary>
public sealed class WordTokenizer
{
    /// <summary>Padding id.</summary>
    public const int Pad = 0;
    /// <summary>Unknown-word id.</summary>
    public const int Unknown = 1;
    /// <summary>End-of-answer id: every teacher-forced answer ends with it and greedy decoding stops at it.</summary>
    public const int EndOfAnswer = 2;
    /// <summary>Placeholder id held by vision positions.</summary>
    public const int Image = 3;

    private static readonly string[] Specials = ["<pad>", "<unk>", "<eos>", "<img>"];
    private readonly Dictionary<string, int> _ids;

    /// <summary>Builds a tokenizer whose ids are the specials followed by <paramref name="words"/> in order.</summary>
    public WordTokenizer(IEnumerable<string> words)
    {
        var list = Specials.ToList();
        foreach (var w in words)
        {
            var word = w.ToLowerInvariant();
            if (!list.Contains(word)) list.Add(word);
        }
        Words = list;
        _ids = list.Select((w, i) => (w, i)).ToDictionary(x => x.w, x => x.i, StringComparer.Ordinal);
    }

    /// <summary>Id → word.</summary>
    public IReadOnlyList<string> Words { get; }

    /// <summary>Vocabulary size.</summary>
    public int Count => Words.Count;

    /// <summary>Word ids of a text (no end token).</summary>
    public int[] Encode(string text) =>
        Split(text).Select(w => _ids.TryGetValue(w, out var id) ? id : Unknown).ToArray();

    /// <summary>True when every word of <paramref name="text"/> is in the vocabulary.</summary>
    public bool Covers(string text) => Split(text).All(_ids.ContainsKey);

    /// <summary>Words of the ids, joined by spaces (specials dropped).</summary>
    public string Decode(IEnumerable<int> ids) =>
        string.Join(' ', ids.Where(i => i >= Specials.Length && i < Words.Count).Select(i => Words[i]));

    /// <summary>Lower-cased words with punctuation split off.</summary>
    public static IEnumerable<string> Split(string text) =>
        text.ToLowerInvariant().Replace("?", " ? ").Replace(".", " . ").Replace(",", " , ")
            .Split([' ', '\t', '\n', '\r'], StringSplitOptions.RemoveEmptyEntries);

    /// <summary>JSON: the word list in id order.</summary>
    public string ToJson() => JsonSerializer.Serialize(Words, new JsonSerializerOptions { WriteIndented = false });

    /// <summary>Reads <see cref="ToJson"/>'s output.</summary>
    public static WordTokenizer FromJson(string json)
    {
        var words = JsonSerializer.Deserialize<string[]>(json) ?? throw new InvalidDataException("tokenizer JSON is empty");
        if (words.Length < Specials.Length || !words.Take(Specials.Length).SequenceEqual(Specials))
            throw new InvalidDataException("tokenizer JSON does not start with the special tokens");
        return new WordTokenizer(words.Skip(Specials.Length));
    }
}
