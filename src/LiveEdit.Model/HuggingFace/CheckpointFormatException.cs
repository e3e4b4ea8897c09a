namespace LiveEdit.Model.HuggingFace;

/// <summary>
/// A checkpoint file or folder that cannot be read as it stands: a malformed or hostile safetensors header, a broken
/// shard index, an unsupported config value. The message names the file and the field or tensor.
/// </summary>
public sealed class CheckpointFormatException : IOException
{
    /// <summary>A refusal with its message.</summary>
    public CheckpointFormatException(string message) : base(message)
    {
    }

    /// <summary>A refusal caused by another failure (an I/O or JSON error).</summary>
    public CheckpointFormatException(string message, Exception inner) : base(message, inner)
    {
    }
}
