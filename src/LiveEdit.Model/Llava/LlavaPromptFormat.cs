namespace LiveEdit.Model.Llava;

/// <summary>
/// What <see cref="LlavaModel"/> reads from a chat template: the text before the answer for a prompt (with or without
/// the image placeholder), and the placeholder itself. A checkpoint's chat template supplies both.
/// </summary>
/// <param name="Format">(prompt, withImage) → the whole text the model reads before its answer, the prompt in it verbatim.</param>
/// <param name="ImageToken">The placeholder written where the image goes (<c>&lt;image&gt;</c>), one token of the tokenizer.</param>
public sealed record LlavaPromptFormat(Func<string, bool, string> Format, string ImageToken = "<image>")
{
    /// <summary>llava-1.5's conversation: <c>USER: &lt;image&gt;\n{prompt} ASSISTANT:</c> (the image line left out for text only).</summary>
    public static LlavaPromptFormat Llava15 { get; } = new((prompt, withImage) => withImage ? $"USER: <image>\n{prompt} ASSISTANT:" : $"USER: {prompt} ASSISTANT:");
}
