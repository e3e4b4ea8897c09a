namespace LiveEdit.Contracts;

/// <summary>Queue names commands are sent to, so a command waits in its queue even before a worker starts.</summary>
public static class Queues
{
    /// <summary>Where <see cref="GenerateExpert"/> goes.</summary>
    public const string GenerateExpert = "generate-expert";

    /// <summary>Where <see cref="RebuildVisualKeyIndex"/> goes.</summary>
    public const string RebuildVisualKeyIndex = "rebuild-visual-key-index";
}
