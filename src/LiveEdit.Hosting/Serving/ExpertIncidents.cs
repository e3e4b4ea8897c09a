using System.Collections.Concurrent;

namespace LiveEdit.Hosting.Serving;

/// <summary>An active expert that was left out of the model because its blob is missing or corrupt.</summary>
/// <param name="Problem">"missing" or "corrupt".</param>
public sealed record SkippedExpert(Guid EditId, string ExpertSha256, string Problem)
{
    /// <summary>One line for the answer's warnings.</summary>
    public string Warning => $"expert of edit {EditId} left out: its blob {ExpertSha256[..12]} is {Problem}";
}

/// <summary>
/// Expert blobs the server could not use (missing, or bytes that do not hash to their key), as last seen: an incident
/// the readiness check reports until a read of the blob succeeds again. Thread-safe; one per host.
/// </summary>
public sealed class ExpertIncidents
{
    private readonly ConcurrentDictionary<string, (SkippedExpert Expert, DateTimeOffset Since)> _open = new(StringComparer.Ordinal);

    /// <summary>Open incidents, oldest first.</summary>
    public IReadOnlyList<(SkippedExpert Expert, DateTimeOffset Since)> Open =>
        _open.Values.OrderBy(v => v.Since).ThenBy(v => v.Expert.EditId).ToArray();

    /// <summary>Records that the expert could not be read (kept at its first sighting).</summary>
    public void Report(SkippedExpert expert) => _open.TryAdd(expert.ExpertSha256, (expert, DateTimeOffset.UtcNow));

    /// <summary>The expert's blob read and verified again.</summary>
    public void Resolve(string expertSha256) => _open.TryRemove(expertSha256, out _);
}
