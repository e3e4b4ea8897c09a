using System.Text.Json;

namespace LiveEdit.Model.Llava;

/// <summary>The two prompt layouts LLaVA-family checkpoints are trained with.</summary>
public enum LlavaChatForm
{
    /// <summary>llava-1.5 (Vicuna): <c>USER: &lt;image&gt;\n{prompt} ASSISTANT:</c>.</summary>
    Vicuna,

    /// <summary>Qwen2's ChatML (llava-interleave-qwen): <c>&lt;|im_start|&gt;user\n&lt;image&gt;\n{prompt}&lt;|im_end|&gt;\n&lt;|im_start|&gt;assistant\n</c>.</summary>
    ChatMl,
}

/// <summary>
/// How a checkpoint wants one question asked: the text before the answer, with or without the image placeholder. Read
/// from the folder's chat template (<c>chat_template.jinja</c>, <c>chat_template.json</c> or <c>tokenizer_config.json</c>'s
/// <c>chat_template</c>) when there is one, otherwise chosen by the decoder (LLaMA: Vicuna; Qwen2: ChatML). Only the
/// template families llava-hf publishes are recognised; their small variations (a newline after the image placeholder
/// or before the text) are read from the template itself. Any other template is refused rather than guessed.
/// </summary>
public sealed class LlavaChatTemplate
{
    /// <summary>The placeholder LLaVA checkpoints expand into the image's vision tokens.</summary>
    public const string DefaultImageToken = "<image>";

    private readonly string _afterRole;
    private readonly string _afterImage;
    private readonly string _beforeText;
    private readonly string _afterTurn;

    private LlavaChatTemplate(LlavaChatForm form, string afterRole, string afterImage, string beforeText, string afterTurn)
    {
        Form = form;
        _afterRole = afterRole;
        _afterImage = afterImage;
        _beforeText = beforeText;
        _afterTurn = afterTurn;
    }

    /// <summary>llava-1.5's layout exactly as llava-hf's chat template renders one user turn and the generation prompt.</summary>
    public static LlavaChatTemplate Vicuna { get; } = new(LlavaChatForm.Vicuna, ": ", "\n", "", " ");

    /// <summary>llava-interleave-qwen's ChatML layout as llava-hf's chat template renders one user turn and the generation prompt.</summary>
    public static LlavaChatTemplate ChatMl { get; } = new(LlavaChatForm.ChatMl, "\n", "", "\n", "<|im_end|>\n");

    /// <summary>Which layout this is.</summary>
    public LlavaChatForm Form { get; }

    /// <summary>The image placeholder written into the prompt (<c>&lt;image&gt;</c>).</summary>
    public string ImageToken => DefaultImageToken;

    /// <summary>
    /// Why <paramref name="prompt"/> cannot be asked, or null. Tokenizers turn a literal image placeholder or ChatML marker
    /// into its special id, so a prompt holding one would ask for vision tokens that were never given, or close the user's
    /// turn and speak as the assistant.
    /// </summary>
    public string? PromptProblem(string prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        if (prompt.Contains(ImageToken, StringComparison.Ordinal)) return $"the prompt may not contain the image placeholder {ImageToken}";
        foreach (var marker in ChatMlMarkers)
            if (Form == LlavaChatForm.ChatMl && prompt.Contains(marker, StringComparison.Ordinal)) return $"the prompt may not contain the turn marker {marker}";
        return null;
    }

    private static readonly string[] ChatMlMarkers = ["<|im_start|>", "<|im_end|>", "<|endoftext|>"];

    /// <summary>
    /// The text before the answer: one user turn holding <paramref name="prompt"/> (after the image placeholder when
    /// <paramref name="withImage"/>) and the assistant's generation prompt. A prompt <see cref="PromptProblem"/> objects to
    /// is refused with <see cref="ArgumentException"/>.
    /// </summary>
    public string Format(string prompt, bool withImage)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        if (PromptProblem(prompt) is { } problem) throw new ArgumentException(problem, nameof(prompt));
        var image = withImage ? ImageToken + _afterImage : "";
        return Form switch
        {
            LlavaChatForm.Vicuna => "USER" + _afterRole + image + _beforeText + prompt + _afterTurn + "ASSISTANT:",
            _ => "<|im_start|>user" + _afterRole + image + _beforeText + prompt + _afterTurn + "<|im_start|>assistant\n",
        };
    }

    /// <summary>
    /// The template of the checkpoint in <paramref name="folder"/>: from its chat template file when present, otherwise
    /// the decoder's default (<see cref="Vicuna"/> for LLaMA, <see cref="ChatMl"/> for Qwen2). Throws
    /// <see cref="LlavaFileException"/> naming the file when a template is present but unreadable or not recognised.
    /// </summary>
    public static LlavaChatTemplate For(string folder, LlavaConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var (file, text) = FindTemplate(folder);
        if (text is null) return config.Text.Kind == DecoderKind.Qwen2 ? ChatMl : Vicuna;
        return Parse(text, file!);
    }

    /// <summary>Recognises a chat template's text (Jinja source); <paramref name="file"/> names it in errors.</summary>
    public static LlavaChatTemplate Parse(string template, string file = "chat template")
    {
        ArgumentNullException.ThrowIfNull(template);
        // Jinja string literals may use either quote and hold a newline as an escape or as itself; compare in one spelling.
        var t = template.Replace('"', '\'').Replace("\n", "\\n", StringComparison.Ordinal);
        if (t.Contains("message['role'].upper()", StringComparison.Ordinal) && t.Contains("'ASSISTANT:'", StringComparison.Ordinal))
        {
            var afterImage = t.Contains("'<image>\\n'", StringComparison.Ordinal) ? "\n" : t.Contains("'<image>'", StringComparison.Ordinal) ? "" : null;
            var afterText = t.Contains("content['text'] + ' '", StringComparison.Ordinal) ? " " : t.Contains("content['text']", StringComparison.Ordinal) ? "" : null;
            if (afterImage is null || afterText is null) throw Unrecognised(file);
            return new LlavaChatTemplate(LlavaChatForm.Vicuna, ": ", afterImage, "", afterText);
        }
        if (t.Contains("<|im_start|>", StringComparison.Ordinal) && t.Contains("<|im_end|>", StringComparison.Ordinal))
        {
            var afterRole = t.Contains("message['role'] + '\\n'", StringComparison.Ordinal) ? "\n"
                : t.Contains("message['role'] + ' '", StringComparison.Ordinal) ? " " : null;
            var afterImage = t.Contains("'<image>\\n'", StringComparison.Ordinal) ? "\n" : t.Contains("'<image>'", StringComparison.Ordinal) ? "" : null;
            var beforeText = t.Contains("'\\n' + content['text']", StringComparison.Ordinal) ? "\n" : t.Contains("content['text']", StringComparison.Ordinal) ? "" : null;
            var afterTurn = t.Contains("'<|im_end|>' + '\\n'", StringComparison.Ordinal) || t.Contains("'<|im_end|>\\n'", StringComparison.Ordinal) ? "<|im_end|>\n" : "<|im_end|>";
            if (afterRole is null || afterImage is null || beforeText is null) throw Unrecognised(file);
            if (t.Contains("You are a helpful assistant", StringComparison.Ordinal)) throw Unrecognised(file);
            return new LlavaChatTemplate(LlavaChatForm.ChatMl, afterRole, afterImage, beforeText, afterTurn);
        }
        throw Unrecognised(file);
    }

    private static LlavaFileException Unrecognised(string file) => new(file,
        "the chat template is not one of the recognised LLaVA layouts (llava-1.5's \"USER: <image>\\n… ASSISTANT:\" or ChatML with <|im_start|>/<|im_end|>)");

    private static (string? File, string? Text) FindTemplate(string folder)
    {
        var jinja = Path.Combine(folder, "chat_template.jinja");
        if (File.Exists(jinja)) return (jinja, ReadSmall(jinja));
        foreach (var name in new[] { "chat_template.json", "processor_config.json", "tokenizer_config.json" })
        {
            var path = Path.Combine(folder, name);
            if (!File.Exists(path)) continue;
            using var doc = TokenizerJson.Read(path);
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("chat_template", out var value)) continue;
            switch (value.ValueKind)
            {
                case JsonValueKind.String:
                    return (path, value.GetString());
                case JsonValueKind.Array:
                    // A list of named templates: the one called "default".
                    foreach (var entry in value.EnumerateArray())
                        if (entry.ValueKind == JsonValueKind.Object && entry.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String
                            && n.GetString() == "default" && entry.TryGetProperty("template", out var tpl) && tpl.ValueKind == JsonValueKind.String)
                            return (path, tpl.GetString());
                    throw new LlavaFileException(path, "chat_template is a list without a template named \"default\"");
                case JsonValueKind.Null:
                    continue;
                default:
                    throw new LlavaFileException(path, "chat_template must be a string or a list of named templates");
            }
        }
        return (null, null);
    }

    private static string ReadSmall(string path)
    {
        if (new FileInfo(path).Length > TokenizerJson.MaxJsonBytes) throw new LlavaFileException(path, $"the file is larger than {TokenizerJson.MaxJsonBytes / 1_000_000} MB");
        return File.ReadAllText(path);
    }
}
