namespace LiveEdit.Contracts;

/// <summary>
/// The queues commands are sent to (so a command waits in its queue even before a worker starts), behind a
/// deployment's optional <see cref="Prefix"/>: several ledgers (or test runs) can share one broker without
/// taking each other's work.
/// </summary>
/// <param name="Prefix">Put before every queue name; letters, digits, '-', '_' and '.' only (see <see cref="IsValidPrefix"/>).</param>
public sealed record QueueNames(string Prefix = "")
{
    /// <summary>The queue of <see cref="Contracts.GenerateExpert"/> without a prefix.</summary>
    public const string GenerateExpertQueue = "generate-expert";

    /// <summary>Where <see cref="Contracts.GenerateExpert"/> goes.</summary>
    public string GenerateExpert => Prefix + GenerateExpertQueue;

    /// <summary>Send address of <see cref="GenerateExpert"/>.</summary>
    public Uri GenerateExpertAddress => new($"queue:{GenerateExpert}");

    /// <summary>True when <paramref name="prefix"/> is safe in a queue name on every transport.</summary>
    public static bool IsValidPrefix(string prefix) => prefix.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');
}
