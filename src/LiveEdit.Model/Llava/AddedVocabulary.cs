namespace LiveEdit.Model.Llava;

/// <summary>
/// The tokens a checkpoint adds on top of its base vocabulary (<c>&lt;image&gt;</c>, <c>&lt;pad&gt;</c>, ChatML markers, and
/// the named special tokens such as <c>&lt;s&gt;</c>): they are cut out of the text before the base tokenizer sees it, so a
/// literal <c>&lt;image&gt;</c> becomes its one id, as Hugging Face's tokenizers do. At each position the longest added token
/// that starts there wins.
/// </summary>
internal sealed class AddedVocabulary
{
    private readonly Dictionary<string, (int Id, bool Special)> _byContent = new(StringComparer.Ordinal);
    private readonly Dictionary<int, (string Content, bool Special)> _byId = new();
    private readonly Dictionary<char, List<string>> _byFirstChar = new();

    public IReadOnlyDictionary<int, (string Content, bool Special)> ById => _byId;

    public int MaxId => _byId.Count == 0 ? -1 : _byId.Keys.Max();

    public bool Contains(string content) => _byContent.ContainsKey(content);

    public int? IdOf(string content) => _byContent.TryGetValue(content, out var e) ? e.Id : null;

    public void Add(string content, int id, bool special, string file)
    {
        if (string.IsNullOrEmpty(content)) throw new LlavaFileException(file, $"added token {id} has no content");
        if (id < 0) throw new LlavaFileException(file, $"added token \"{content}\" has the negative id {id}");
        if (_byContent.TryGetValue(content, out var existing))
        {
            if (existing.Id != id) throw new LlavaFileException(file, $"added token \"{content}\" has id {id} here and {existing.Id} elsewhere");
            if (special && !existing.Special) { _byContent[content] = (id, true); _byId[id] = (content, true); }
            return;
        }
        if (_byId.TryGetValue(id, out var other)) throw new LlavaFileException(file, $"id {id} is given to both \"{other.Content}\" and \"{content}\"");
        _byContent[content] = (id, special);
        _byId[id] = (content, special);
        if (!_byFirstChar.TryGetValue(content[0], out var list)) _byFirstChar[content[0]] = list = [];
        list.Add(content);
        list.Sort((a, b) => b.Length.CompareTo(a.Length));
    }

    public void MarkSpecial(string content)
    {
        if (_byContent.TryGetValue(content, out var e) && !e.Special)
        {
            _byContent[content] = (e.Id, true);
            _byId[e.Id] = (content, true);
        }
    }

    /// <summary>The text cut into plain segments (Id null) and added tokens (Id set), in order; empty segments left out.</summary>
    public List<(int Start, string Text, int? Id)> Split(string text)
    {
        var parts = new List<(int, string, int?)>();
        var plainStart = 0;
        var i = 0;
        while (i < text.Length)
        {
            string? match = null;
            if (_byFirstChar.TryGetValue(text[i], out var candidates))
                foreach (var c in candidates)
                    if (string.CompareOrdinal(text, i, c, 0, c.Length) == 0) { match = c; break; }
            if (match is null) { i++; continue; }
            if (i > plainStart) parts.Add((plainStart, text[plainStart..i], null));
            parts.Add((i, match, _byContent[match].Id));
            i += match.Length;
            plainStart = i;
        }
        if (plainStart < text.Length) parts.Add((plainStart, text[plainStart..], null));
        return parts;
    }
}
