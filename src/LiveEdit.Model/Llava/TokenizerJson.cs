using System.Text.Json;

namespace LiveEdit.Model.Llava;

/// <summary>Reading the small JSON files of a checkpoint folder: size-limited, with errors that name the file.</summary>
internal static class TokenizerJson
{
    /// <summary>Largest JSON file read (Qwen2's tokenizer.json is about 7 MB).</summary>
    public const long MaxJsonBytes = 64_000_000;

    public static JsonDocument Read(string path)
    {
        var info = new FileInfo(path);
        if (!info.Exists) throw new LlavaFileException(path, "the file does not exist");
        if (info.Length > MaxJsonBytes) throw new LlavaFileException(path, $"the file is larger than {MaxJsonBytes / 1_000_000} MB");
        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { MaxDepth = 64 });
        }
        catch (JsonException e)
        {
            throw new LlavaFileException(path, $"the file is not valid JSON (line {e.LineNumber + 1})", e);
        }
    }

    public static JsonDocument? ReadIfPresent(string path) => File.Exists(path) ? Read(path) : null;

    /// <summary>A special-token field: a string, an AddedToken object's <c>content</c>, or null.</summary>
    public static string? TokenText(JsonElement root, string name, string file)
    {
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty(name, out var value)) return null;
        return value.ValueKind switch
        {
            JsonValueKind.Null => null,
            JsonValueKind.String => value.GetString(),
            JsonValueKind.Object when value.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String => c.GetString(),
            _ => throw new LlavaFileException(file, $"{name} must be a string, an object with \"content\" or null"),
        };
    }

    public static bool? Bool(JsonElement root, string name, string file)
    {
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty(name, out var value) || value.ValueKind == JsonValueKind.Null) return null;
        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new LlavaFileException(file, $"{name} must be true or false"),
        };
    }
}
