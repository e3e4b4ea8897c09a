using System.Collections.Concurrent;
using LiveEdit.Hosting.Startup;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Versions;
using LiveEdit.Model.Editor;
using LiveEdit.Model.Vlm;
using LiveEdit.Model.World;
using static TorchSharp.torch;

namespace LiveEdit.Hosting.Serving;

/// <summary>
/// Answers queries with the edited model at any version of the ledger. The head model stays in memory and is
/// brought in step with the ledger before each query (an activation or retraction shows at once, without a
/// restart); past versions are rebuilt from the ledger's active set at that version and kept in a small cache.
/// Experts are read from the blob store once and shared. Fusion order is the activation sequence, so a version's
/// answers never depend on what happened to the process before.
/// </summary>
public sealed class EditedModelServer(ModelRuntime runtime, EditLedger ledger, int pastVersionsCached = 8) : IDisposable
{
    private readonly ConcurrentDictionary<string, Expert> _experts = new(StringComparer.Ordinal);
    private readonly EditedModel _head = new(runtime.Model, runtime.Editor);
    private readonly Dictionary<long, EditedModel> _past = new();
    private readonly LinkedList<long> _pastOrder = new();
    private long _headVersion = -1;

    /// <summary>The version the head model was last brought to.</summary>
    public long HeadVersion => Interlocked.Read(ref _headVersion);

    /// <summary>
    /// The version number <paramref name="asOf"/> names. A sequence is taken as given: reading its active set
    /// checks that it exists (and only versions that existed are ever cached).
    /// </summary>
    private async Task<long> ResolveAsync(AsOf asOf, CancellationToken ct) => asOf switch
    {
        AsOf.Sequence s => s.Version,
        AsOf.Timestamp t => await ledger.GetVersionAtAsync(t.Moment, ct),
        _ => await ledger.GetHeadAsync(ct),
    };

    /// <summary>Greedy answer to one query, with provenance.</summary>
    public Task<QueryResult> QueryAsync(RgbImage? image, string prompt, AsOf asOf, int maxNewTokens = 8, CancellationToken ct = default) =>
        WithModelAsync(asOf, (model, version) =>
        {
            using var scope = NewDisposeScope();
            var answer = model.Answer([new VlmExample(image?.ToTensor(), prompt)], maxNewTokens)[0];
            return new QueryResult(answer.Text, version, answer.Experts.Select(ToFired).ToList());
        }, ct);

    /// <summary>Teacher-forced logits of <paramref name="answer"/> after the prompt, flattened [L·V], with the version used.</summary>
    public Task<(float[] Logits, long Version)> LogitsAsync(RgbImage? image, string prompt, string answer, AsOf asOf, CancellationToken ct = default) =>
        WithModelAsync(asOf, (model, version) =>
        {
            using var scope = NewDisposeScope();
            var inputs = runtime.Model.Prepare([new VlmExample(image?.ToTensor(), prompt, answer)]);
            return (model.Logits(inputs).Logits.contiguous().data<float>().ToArray(), version);
        }, ct);

    /// <summary>Brings the head model to the ledger's head now (queries at the head do it themselves).</summary>
    public Task<long> SyncHeadAsync(CancellationToken ct = default) => WithModelAsync(AsOf.Now, (_, version) => version, ct);

    /// <summary>
    /// Runs <paramref name="work"/> under the device lock with the edited model at <paramref name="asOf"/>. The
    /// ledger is read first (no lock held); the model is brought to exactly that set inside the lock, so the
    /// version reported is the version used.
    /// </summary>
    private async Task<T> WithModelAsync<T>(AsOf asOf, Func<EditedModel, long, T> work, CancellationToken ct)
    {
        if (asOf is AsOf.Head)
        {
            var set = await ledger.GetActiveExpertsAsync(ct);
            await LoadExpertsAsync(set, ct);
            return await runtime.RunAsync(() =>
            {
                BringHeadTo(set);
                return work(_head, set.Version);
            }, ct);
        }

        var version = await ResolveAsync(asOf, ct);
        ActiveExpertSet? past = null;
        while (true)
        {
            if (past is null && !await runtime.RunAsync(() => _past.ContainsKey(version), ct))
            {
                past = version == 0 ? new ActiveExpertSet(0, []) : await ledger.GetActiveExpertsAsync(version, ct);
                await LoadExpertsAsync(past, ct);
            }
            var (done, result) = await runtime.RunAsync(() =>
                PastModel(version, past) is { } model ? (true, work(model, version)) : (false, default(T)!), ct);
            if (done) return result;
            // Evicted between the check and the use: read the set and build it.
        }
    }

    // Inside the device lock.
    private void BringHeadTo(ActiveExpertSet set)
    {
        var wanted = set.Experts.ToDictionary(e => e.EditId.ToString(), e => e.ActivatedAtVersion);
        foreach (var slot in _head.Slots)
        {
            if (!wanted.TryGetValue(slot.Id, out var order) || order != slot.Order) _head.Remove(slot.Id);
        }
        var present = _head.Slots.Select(s => s.Id).ToHashSet(StringComparer.Ordinal);
        foreach (var expert in set.Experts)
        {
            if (!present.Contains(expert.EditId.ToString()))
                _head.Add(expert.EditId.ToString(), _experts[expert.ExpertSha256], expert.ActivatedAtVersion);
        }
        Interlocked.Exchange(ref _headVersion, set.Version);
    }

    // Inside the device lock. A past version's set never changes, so a cached model stays right for ever.
    private EditedModel? PastModel(long version, ActiveExpertSet? set)
    {
        if (_past.TryGetValue(version, out var cached))
        {
            _pastOrder.Remove(version);
            _pastOrder.AddFirst(version);
            return cached;
        }
        if (set is null) return null;
        var model = new EditedModel(runtime.Model, runtime.Editor);
        foreach (var expert in set.Experts) model.Add(expert.EditId.ToString(), _experts[expert.ExpertSha256], expert.ActivatedAtVersion);
        _past[version] = model;
        _pastOrder.AddFirst(version);
        while (_pastOrder.Count > pastVersionsCached)
        {
            var oldest = _pastOrder.Last!.Value;
            _pastOrder.RemoveLast();
            if (_past.Remove(oldest, out var evicted)) evicted.Dispose();
        }
        return model;
    }

    private async Task LoadExpertsAsync(ActiveExpertSet set, CancellationToken ct)
    {
        foreach (var active in set.Experts)
        {
            if (_experts.ContainsKey(active.ExpertSha256)) continue;
            var bytes = await BlobReads.GetAsync(ledger, active.ExpertSha256, ct); // verifies the hash
            _experts[active.ExpertSha256] = Expert.FromBytes(bytes);
        }
    }

    private static FiredEdit ToFired(FiredExpert e) => new(Guid.Parse(e.Id), e.Weight, e.VisualSimilarity, e.Threshold, e.TextScore);

    public void Dispose()
    {
        _head.Dispose();
        foreach (var model in _past.Values) model.Dispose();
    }
}
