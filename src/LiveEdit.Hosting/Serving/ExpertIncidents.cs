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
/// The head model's experts the server could not use (blob missing, or bytes that do not hash to their key), as of the
/// last time the head was brought up to date: an incident the readiness check reports until the blob reads right again
/// or the expert leaves the head (retracted, superseded). Thread-safe; one per host.
/// </summary>
public sealed class ExpertIncidents
{
    private readonly ConcurrentDictionary<string, (SkippedExpert Expert, DateTimeOffset Since)> _open = new(StringComparer.Ordinal);

    /// <summary>Open incidents, oldest first.</summary>
    public IReadOnlyList<(SkippedExpert Expert, DateTimeOffset Since)> Open =>
        _open.Values.OrderBy(v => v.Since).ThenBy(v => v.Expert.EditId).ToArray();

    /// <summary>The head's skipped experts now: new ones are opened, those no longer skipped are closed.</summary>
    public void Update(IReadOnlyList<SkippedExpert> headSkipped)
    {
        var now = DateTimeOffset.UtcNow;
        foreach (var expert in headSkipped) _open.TryAdd(expert.ExpertSha256, (expert, now));
        var still = headSkipped.Select(e => e.ExpertSha256).ToHashSet(StringComparer.Ordinal);
        foreach (var sha in _open.Keys.Where(k => !still.Contains(k)).ToArray()) _open.TryRemove(sha, out _);
    }
}
