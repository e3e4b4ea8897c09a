namespace LiveEdit.Model.Llava;

/// <summary>
/// A checkpoint folder's tokenizer, chat-template or preprocessor file that is missing, unreadable or says something
/// the model cannot use; the message names the file and the field.
/// </summary>
public sealed class LlavaFileException : Exception
{
    /// <summary>Creates the exception for <paramref name="file"/> with the <paramref name="reason"/>.</summary>
    public LlavaFileException(string file, string reason, Exception? inner = null)
        : base($"{file}: {reason}", inner)
    {
        FileName = file;
        Reason = reason;
    }

    /// <summary>The file (or folder) at fault.</summary>
    public string FileName { get; }

    /// <summary>What is wrong with it.</summary>
    public string Reason { get; }
}
