using LiveEdit.Contracts;
using Microsoft.Extensions.Configuration;

namespace LiveEdit.Hosting.Messaging;

/// <summary>
/// The queue names of one deployment: <see cref="Queues"/> behind an optional prefix (configuration
/// <c>Transport:QueuePrefix</c>), so several ledgers (or test runs) can share one broker without taking each
/// other's work.
/// </summary>
public sealed record QueueNames(string Prefix)
{
    public string GenerateExpert => Prefix + Queues.GenerateExpert;
    public string RebuildVisualKeyIndex => Prefix + Queues.RebuildVisualKeyIndex;

    /// <summary>Send address of the expert-generation queue.</summary>
    public Uri GenerateExpertAddress => new($"queue:{GenerateExpert}");

    public static QueueNames From(IConfiguration configuration)
    {
        var prefix = configuration["Transport:QueuePrefix"] ?? "";
        if (prefix.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')))
            throw new InvalidOperationException($"Transport:QueuePrefix '{prefix}' may hold only letters, digits, '-', '_' and '.'.");
        return new QueueNames(prefix);
    }
}
