using System.Text.Json;

namespace LiveEdit.Model.Llava;

/// <summary>Loads a LLaVA-family checkpoint's tokenizer from its folder (docs/llava-text.md).</summary>
public static class LlavaTokenizers
{
    /// <summary>Largest tokenizer.model, vocab.json or merges.txt read (LLaMA's tokenizer.model is 0.5 MB, Qwen2's files a few MB).</summary>
    public const long MaxFileBytes = 64_000_000;

    /// <summary>
    /// The tokenizer in <paramref name="folder"/>: LLaMA's SentencePiece <c>tokenizer.model</c> when present, otherwise
    /// Qwen2's byte-level BPE from <c>vocab.json</c> + <c>merges.txt</c>, otherwise a byte-level BPE <c>tokenizer.json</c>.
    /// Added tokens come from <c>tokenizer_config.json</c> (<c>added_tokens_decoder</c>), <c>added_tokens.json</c> and the
    /// named special tokens (<c>special_tokens_map.json</c>). Throws <see cref="LlavaFileException"/> naming the file
    /// and field when the folder holds no usable tokenizer.
    /// </summary>
    public static ITextTokenizer Load(string folder)
    {
        ArgumentException.ThrowIfNullOrEmpty(folder);
        if (!Directory.Exists(folder)) throw new LlavaFileException(folder, "the checkpoint folder does not exist");
        if (File.Exists(Path.Combine(folder, "tokenizer.model"))) return SentencePieceTextTokenizer.Load(folder);
        if (File.Exists(Path.Combine(folder, "vocab.json")) && File.Exists(Path.Combine(folder, "merges.txt"))) return ByteLevelBpeTextTokenizer.LoadVocabAndMerges(folder);
        if (File.Exists(Path.Combine(folder, "tokenizer.json"))) return ByteLevelBpeTextTokenizer.LoadTokenizerJson(folder);
        throw new LlavaFileException(folder,
            "no tokenizer found: expected tokenizer.model (LLaMA's SentencePiece), vocab.json with merges.txt (Qwen2's byte-level BPE) or tokenizer.json");
    }

    internal static byte[] ReadLimited(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists) throw new LlavaFileException(path, "the file does not exist");
        if (info.Length > MaxFileBytes) throw new LlavaFileException(path, $"the file is larger than {MaxFileBytes / 1_000_000} MB");
        return File.ReadAllBytes(path);
    }

    /// <summary>What tokenizer_config.json, added_tokens.json and special_tokens_map.json say, merged.</summary>
    internal sealed record TokenizerSettings(
        AddedVocabulary Added,
        string? Bos, string? Eos, string? Unk, string? Pad,
        bool? AddBos, bool? Legacy, bool? AddPrefixSpace,
        IReadOnlyList<string> NamedSpecial);

    internal static TokenizerSettings ReadSettings(string folder)
    {
        var added = new AddedVocabulary();
        string? bos = null, eos = null, unk = null, pad = null;
        bool? addBos = null, legacy = null, addPrefixSpace = null;
        var named = new List<string>();

        // special_tokens_map.json first; tokenizer_config.json overrides it, as transformers does.
        var mapPath = Path.Combine(folder, "special_tokens_map.json");
        using (var map = TokenizerJson.ReadIfPresent(mapPath))
        {
            if (map is not null)
            {
                var root = map.RootElement;
                bos = TokenizerJson.TokenText(root, "bos_token", mapPath);
                eos = TokenizerJson.TokenText(root, "eos_token", mapPath);
                unk = TokenizerJson.TokenText(root, "unk_token", mapPath);
                pad = TokenizerJson.TokenText(root, "pad_token", mapPath);
                named.AddRange(AdditionalSpecial(root, mapPath));
            }
        }

        var configPath = Path.Combine(folder, "tokenizer_config.json");
        using (var config = TokenizerJson.ReadIfPresent(configPath))
        {
            if (config is not null)
            {
                var root = config.RootElement;
                if (root.ValueKind != JsonValueKind.Object) throw new LlavaFileException(configPath, "the file must hold a JSON object");
                bos = Override(root, "bos_token", bos, configPath);
                eos = Override(root, "eos_token", eos, configPath);
                unk = Override(root, "unk_token", unk, configPath);
                pad = Override(root, "pad_token", pad, configPath);
                addBos = TokenizerJson.Bool(root, "add_bos_token", configPath);
                legacy = TokenizerJson.Bool(root, "legacy", configPath);
                addPrefixSpace = TokenizerJson.Bool(root, "add_prefix_space", configPath);
                named.AddRange(AdditionalSpecial(root, configPath));
                if (root.TryGetProperty("added_tokens_decoder", out var decoder) && decoder.ValueKind != JsonValueKind.Null)
                {
                    if (decoder.ValueKind != JsonValueKind.Object) throw new LlavaFileException(configPath, "added_tokens_decoder must be an object of id → token");
                    foreach (var entry in decoder.EnumerateObject())
                    {
                        if (!int.TryParse(entry.Name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id))
                            throw new LlavaFileException(configPath, $"added_tokens_decoder has the key \"{entry.Name}\", which is not a token id");
                        if (entry.Value.ValueKind != JsonValueKind.Object || !entry.Value.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.String)
                            throw new LlavaFileException(configPath, $"added_tokens_decoder.{entry.Name} must be an object with a string \"content\"");
                        var special = TokenizerJson.Bool(entry.Value, "special", configPath) ?? false;
                        added.Add(content.GetString()!, id, special, configPath);
                    }
                }
            }
        }

        var addedPath = Path.Combine(folder, "added_tokens.json");
        using (var addedJson = TokenizerJson.ReadIfPresent(addedPath))
        {
            if (addedJson is not null)
            {
                if (addedJson.RootElement.ValueKind != JsonValueKind.Object) throw new LlavaFileException(addedPath, "the file must hold an object of token → id");
                foreach (var entry in addedJson.RootElement.EnumerateObject())
                {
                    if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt32(out var id))
                        throw new LlavaFileException(addedPath, $"\"{entry.Name}\" must map to an integer id");
                    added.Add(entry.Name, id, special: false, addedPath);
                }
            }
        }
        return new TokenizerSettings(added, bos, eos, unk, pad, addBos, legacy, addPrefixSpace, named);
    }

    /// <summary>
    /// Makes the named special tokens (bos, eos, unk, pad, additional) added tokens marked special, resolving those not
    /// yet added through the base vocabulary; a name neither knows is an error for eos, and dropped otherwise.
    /// </summary>
    internal static void ResolveSpecial(TokenizerSettings s, Func<string, int?> baseId, string folder)
    {
        foreach (var token in new[] { s.Bos, s.Eos, s.Unk, s.Pad }.Concat(s.NamedSpecial))
        {
            if (token is null) continue;
            if (s.Added.Contains(token)) { s.Added.MarkSpecial(token); continue; }
            if (baseId(token) is { } id) s.Added.Add(token, id, special: true, folder);
            else if (token == s.Eos) throw new LlavaFileException(Path.Combine(folder, "tokenizer_config.json"), $"eos_token \"{token}\" is neither an added token nor in the vocabulary");
        }
    }

    private static string? Override(JsonElement root, string name, string? current, string file) =>
        root.TryGetProperty(name, out _) ? TokenizerJson.TokenText(root, name, file) : current;

    private static IEnumerable<string> AdditionalSpecial(JsonElement root, string file)
    {
        if (!root.TryGetProperty("additional_special_tokens", out var list) || list.ValueKind == JsonValueKind.Null) yield break;
        if (list.ValueKind != JsonValueKind.Array) throw new LlavaFileException(file, "additional_special_tokens must be a list");
        foreach (var item in list.EnumerateArray())
        {
            var text = item.ValueKind switch
            {
                JsonValueKind.String => item.GetString(),
                JsonValueKind.Object when item.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String => c.GetString(),
                _ => throw new LlavaFileException(file, "additional_special_tokens must hold strings or objects with \"content\""),
            };
            if (!string.IsNullOrEmpty(text)) yield return text;
        }
    }
}
