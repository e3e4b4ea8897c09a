using System.Collections.Concurrent;
using LiveEdit.Model.Editor;

namespace LiveEdit.Hosting.Experts;

/// <summary>
/// Experts made ahead of their edits, in this process, by a caller that knows which edits will come (a benchmark
/// replaying a stream generates them on several model copies in parallel while it proposes one edit at a time).
/// <see cref="GenerateExpertConsumer"/> takes an expert from here when one was made for exactly the edit's image,
/// prompt and target, instead of generating it: the expert is a pure function of those and the frozen weights, so
/// the bytes are the same either way. The consumer also says here when it has recorded an edit's expert, and the version
/// that activated the edit when the same append did, so that such a caller can stop waiting at once instead of polling
/// (<see cref="WhenRecorded"/>). Registered only by such a caller; a host has none.
/// </summary>
public sealed class PregeneratedExperts
{
    private readonly ConcurrentDictionary<(string ImageSha256, string Prompt, string Target), Task<Expert>> _experts = new();
    private readonly ConcurrentDictionary<Guid, TaskCompletionSource<long?>> _recorded = new();

    /// <summary>Announces the expert for the edit of an image (its SHA-256), a prompt and a target, as a task that ends with it.</summary>
    public void Add(string imageSha256, string prompt, string target, Task<Expert> expert) => _experts[(imageSha256, prompt, target)] = expert;

    /// <summary>Experts announced and not taken yet.</summary>
    public int Count => _experts.Count;

    /// <summary>The expert announced for this edit, taken out (null when none was).</summary>
    public Task<Expert>? Take(string imageSha256, string prompt, string target) =>
        _experts.TryRemove((imageSha256, prompt, target), out var expert) ? expert : null;

    /// <summary>Called by the worker once the ledger has recorded the expert of <paramref name="editId"/> (whoever made it).</summary>
    /// <param name="activatedAtVersion">The ledger version of the <c>EditActivated</c> the same append wrote; null when it did not activate the edit.</param>
    public void Recorded(Guid editId, long? activatedAtVersion = null) => Notice(editId).TrySetResult(activatedAtVersion);

    /// <summary>
    /// A task that ends when the worker has recorded the expert of <paramref name="editId"/> (at once when it has already),
    /// with the version that activated the edit when the record did (committed: the edit is active from it on), else null;
    /// then the caller reads the edit to learn its status. Call <see cref="Forget"/> when done with it.
    /// </summary>
    public Task<long?> WhenRecorded(Guid editId) => Notice(editId).Task;

    /// <summary>Drops the notice of <paramref name="editId"/>.</summary>
    public void Forget(Guid editId) => _recorded.TryRemove(editId, out _);

    private TaskCompletionSource<long?> Notice(Guid editId) =>
        _recorded.GetOrAdd(editId, _ => new TaskCompletionSource<long?>(TaskCreationOptions.RunContinuationsAsynchronously));
}
