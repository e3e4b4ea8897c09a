using System.Text;
using System.Text.Json;

namespace LiveEdit.Model.Vlm;

/// <summary>A reason an edit's text can never become an expert: the field it concerns and a sentence naming the limit.</summary>
/// <param name="Field">"prompt" or "target".</param>
/// <param name="Code">Stable code: <c>target_too_long</c>, <c>target_unknown_words</c>, <c>edit_too_long</c>.</param>
public sealed record EditTextProblem(string Field, string Code, string Message);

/// <summary>
/// What a model can learn from an edit's prompt and target, checked in words before anything is stored or generated:
/// the answer must fit in what the host decodes, every target word must be one the model can say (an unknown word
/// would be learned as &lt;unk&gt;), and vision + prompt + target + end token must fit the model's sequence length.
/// The proposal endpoint, the expert worker and the benchmark importer all ask this one class.
/// </summary>
public sealed class EditTextLimits
{
    /// <summary>Most answer tokens a query decodes; a longer target could never be answered in full.</summary>
    public const int MaxAnswerTokens = 8;

    private readonly WordTokenizer _tokenizer;

    /// <summary>Limits of a model with this tokenizer, sequence length and vision tokens per image.</summary>
    public EditTextLimits(WordTokenizer tokenizer, int maxLength, int visionTokens)
    {
        _tokenizer = tokenizer;
        MaxLength = maxLength;
        VisionTokens = visionTokens;
    }

    /// <summary>Longest sequence (vision + prompt + answer + end) the model reads.</summary>
    public int MaxLength { get; }

    /// <summary>Vision tokens of one image.</summary>
    public int VisionTokens { get; }

    /// <summary>Reads only config.json and tokenizer.json of a TinyVLM checkpoint folder (no weights).</summary>
    /// <exception cref="CheckpointException">A file is missing or unreadable.</exception>
    public static EditTextLimits FromCheckpoint(string folder)
    {
        string Read(string name)
        {
            var path = Path.Combine(folder, name);
            if (!File.Exists(path)) throw new CheckpointException($"model checkpoint '{folder}' has no {name}; point to a folder written by `liveedit train vlm`");
            return File.ReadAllText(path);
        }
        var config = JsonSerializer.Deserialize<TinyVlmConfig>(Read(TinyVlm.ConfigFile), new JsonSerializerOptions { PropertyNameCaseInsensitive = true })
                     ?? throw new CheckpointException($"{TinyVlm.ConfigFile} in '{folder}' is empty");
        return new EditTextLimits(WordTokenizer.FromJson(Read(TinyVlm.TokenizerFile)), config.MaxLength, config.VisionTokens);
    }

    /// <summary>The first reason <paramref name="prompt"/> → <paramref name="target"/> cannot be learned, or null when it can.</summary>
    public EditTextProblem? Check(string prompt, string target)
    {
        var targetWords = WordTokenizer.Split(target).ToArray();
        var promptWords = WordTokenizer.Split(prompt).ToArray();
        if (targetWords.Length > MaxAnswerTokens)
            return new("target", "target_too_long", $"'target' is {targetWords.Length} tokens; the model answers with at most {MaxAnswerTokens}");
        var unknown = targetWords.Where(w => !_tokenizer.Covers(w)).Distinct(StringComparer.Ordinal).ToArray();
        if (unknown.Length > 0)
            return new("target", "target_unknown_words",
                $"'target' contains words the model cannot express: {Text.Printable.Excerpt(string.Join(", ", unknown.Take(5)))}{(unknown.Length > 5 ? $" (and {unknown.Length - 5} more)" : "")}");
        var length = VisionTokens + promptWords.Length + targetWords.Length + 1;
        if (length > MaxLength)
            return new("prompt", "edit_too_long",
                $"'prompt' is {promptWords.Length} tokens; with the image ({VisionTokens}), the target ({targetWords.Length}) and the end token the edit is {length} tokens, and the model reads at most {MaxLength}");
        return null;
    }

    /// <summary>Why a query with <paramref name="prompt"/> cannot be answered (no room left for an answer), or null when it can.</summary>
    public EditTextProblem? CheckQuery(string prompt, bool withImage)
    {
        var words = WordTokenizer.Split(prompt).Count();
        var vision = withImage ? VisionTokens : 0;
        var most = MaxLength - vision - 1;
        return words > most
            ? new("prompt", "prompt_too_long", $"'prompt' is {words} tokens; {(withImage ? $"with an image ({VisionTokens} tokens) " : "")}the model reads at most {most} prompt tokens and still answers")
            : null;
    }
}
