using System.Collections.Concurrent;
using LiveEdit.Model.Editor;

namespace LiveEdit.Hosting.Experts;

/// <summary>
/// Experts made ahead of their edits, in this process, by a caller that knows which edits will come (a benchmark
/// replaying a stream generates them on several model copies in parallel while it proposes one edit at a time).
/// <see cref="GenerateExpertConsumer"/> takes an expert from here when one was made for exactly the edit's image,
/// prompt and target, instead of generating it: the expert is a pure function of those and the frozen weights, so
/// the bytes are the same either way. The consumer also says here when it has recorded an edit's expert, so that such
/// a caller can stop waiting at once instead of polling (<see cref="WhenRecorded"/>). Registered only by such a caller;
/// a host has none.
/// </summary>
public sealed class PregeneratedExperts
{
    private readonly ConcurrentDictionary<(string ImageSha256, string Prompt, string Target), Task<Expert>> _experts = new();
    private readonly ConcurrentDictionary<Guid, TaskCompletionSource> _recorded = new();

    /// <summary>Announces the expert for the edit of an image (its SHA-256), a prompt and a target, as a task that ends with it.</summary>
    public void Add(string imageSha256, string prompt, string target, Task<Expert> expert) => _experts[(imageSha256, prompt, target)] = expert;

    /// <summary>Experts announced and not taken yet.</summary>
    public int Count => _experts.Count;

    /// <summary>The expert announced for this edit, taken out (null when none was).</summary>
    public Task<Expert>? Take(string imageSha256, string prompt, string target) =>
        _experts.TryRemove((imageSha256, prompt, target), out var expert) ? expert : null;

    /// <summary>Called by the worker once the ledger has recorded the expert of <paramref name="editId"/> (whoever made it).</summary>
    public void Recorded(Guid editId) => Notice(editId).TrySetResult();

    /// <summary>
    /// A task that ends when the worker has recorded the expert of <paramref name="editId"/> (at once when it has already).
    /// It says only that the ledger was written; the caller still reads the edit to learn its status and version.
    /// Call <see cref="Forget"/> when done with it.
    /// </summary>
    public Task WhenRecorded(Guid editId) => Notice(editId).Task;

    /// <summary>Drops the notice of <paramref name="editId"/>.</summary>
    public void Forget(Guid editId) => _recorded.TryRemove(editId, out _);

    private TaskCompletionSource Notice(Guid editId) =>
        _recorded.GetOrAdd(editId, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
}
