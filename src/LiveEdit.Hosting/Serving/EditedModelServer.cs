using System.Collections.Concurrent;
using LiveEdit.Hosting.Storage;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Errors;
using LiveEdit.Ledger.Versions;
using LiveEdit.Model.Editor;
using LiveEdit.Model.Images;
using LiveEdit.Model.Vlm;
using static TorchSharp.torch;

namespace LiveEdit.Hosting.Serving;

/// <summary>
/// Answers queries with the edited model at any version of the ledger. The head model stays in memory and is
/// brought in step with the ledger before each query (an activation or retraction shows at once, without a
/// restart); past versions are rebuilt from the ledger's active set at that version and kept in a small cache.
/// Experts are read from the blob store once and shared. Fusion order is the activation sequence, so a version's
/// answers never depend on what happened to the process before.
/// </summary>
/// <remarks>
/// An active expert whose blob is missing or corrupt is an incident, not an outage: it is left out of the model, every
/// answer of a version that holds it names it in <see cref="QueryResult.Skipped"/>, <paramref name="incidents"/> keeps
/// it for the readiness check while it is in the head model, and the other experts and text-only queries are served
/// as usual. A blob that reads right again is fused at the next query.
/// </remarks>
/// <remarks>
/// Each version routes with the routing policy in force at it (<see cref="RoutingPolicies"/>); the first time the server
/// serves it records the inception policy when the ledger has none. A cached past model is keyed on the version and the
/// policy's SHA-256.
/// </remarks>
public sealed class EditedModelServer(ModelRuntime runtime, EditLedger ledger, int pastVersionsCached = 8, ExpertIncidents? incidents = null,
    RoutingPolicies? policies = null) : IDisposable
{
    private readonly ExpertIncidents _incidents = incidents ?? new ExpertIncidents();
    private readonly RoutingPolicies _policies = policies ?? new RoutingPolicies(ledger, runtime.Editor);
    private readonly ConcurrentDictionary<string, Expert> _experts = new(StringComparer.Ordinal);
    private readonly EditedModel _head = new(runtime.Model, runtime.Editor);
    private readonly Dictionary<(long Version, string Policy), (EditedModel Model, IReadOnlyList<SkippedExpert> Skipped)> _past = new();
    private IReadOnlyList<SkippedExpert> _headSkipped = [];
    private readonly LinkedList<(long Version, string Policy)> _pastOrder = new();
    private long _headVersion = -1;
    // The expert SHA-256s each model holds: the cache keeps only experts some model holds (retracted ones are let go).
    private HashSet<string> _headShas = new(StringComparer.Ordinal);
    private readonly Dictionary<(long Version, string Policy), HashSet<string>> _pastShas = new();

    /// <summary>The version the head model was last brought to.</summary>
    public long HeadVersion => Interlocked.Read(ref _headVersion);

    /// <summary>Experts held in memory (those of the head and of the cached past versions), for memory figures.</summary>
    public int CachedExperts => _experts.Count;

    /// <summary>Past versions kept built, for memory figures.</summary>
    public int CachedPastVersions => _pastOrder.Count;

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
    public Task<QueryResult> QueryAsync(RgbImage? image, string prompt, AsOf asOf, int maxNewTokens = EditTextLimits.MaxAnswerTokens, CancellationToken ct = default) =>
        WithModelAsync(asOf, (model, version, skipped) =>
        {
            using var scope = NewDisposeScope();
            var answer = model.Answer([new VlmExample(image?.ToTensor(), prompt)], maxNewTokens)[0];
            return new QueryResult(answer.Text, version, answer.Experts.Select(InAnswer).ToList(), skipped) { RoutingPolicySha256 = model.Policy.Sha256 };
        }, ct);

    /// <summary>Teacher-forced logits of <paramref name="answer"/> after the prompt, flattened [L·V], with the version used.</summary>
    public Task<(float[] Logits, long Version)> LogitsAsync(RgbImage? image, string prompt, string answer, AsOf asOf, CancellationToken ct = default) =>
        WithModelAsync(asOf, (model, version, _) =>
        {
            using var scope = NewDisposeScope();
            var inputs = runtime.Model.Prepare([new VlmExample(image?.ToTensor(), prompt, answer)]);
            return (model.Logits(inputs).Logits.contiguous().data<float>().ToArray(), version);
        }, ct);

    /// <summary>Brings the head model to the ledger's head now (queries at the head do it themselves).</summary>
    public Task<long> SyncHeadAsync(CancellationToken ct = default) => WithModelAsync(AsOf.Now, (_, version, _) => version, ct);

    /// <summary>
    /// Runs <paramref name="work"/> under the device lock with the edited model at <paramref name="asOf"/>. The
    /// ledger is read first (no lock held); the model is brought to exactly that set inside the lock, so the
    /// version reported is the version used.
    /// </summary>
    private async Task<T> WithModelAsync<T>(AsOf asOf, Func<EditedModel, long, IReadOnlyList<SkippedExpert>, T> work, CancellationToken ct)
    {
        await _policies.EnsureRecordedAsync(ct);
        if (asOf is AsOf.Head)
        {
            var set = await ledger.GetActiveExpertsAsync(ct);
            var policy = await _policies.AtAsync(set.Version, ct);
            var (skipped, loaded) = await LoadExpertsAsync(set, ct);
            _incidents.Update(skipped);
            return await runtime.RunAsync(() =>
            {
                _head.Policy = policy.Policy;
                BringHeadTo(set, skipped, loaded);
                return work(_head, set.Version, _headSkipped);
            }, ct);
        }

        var version = await ResolveAsync(asOf, ct);
        var inForce = await _policies.AtAsync(version, ct);
        var key = (version, inForce.Sha256);
        RoutingPolicy? pastPolicy = null;
        ActiveExpertSet? past = null;
        IReadOnlyList<SkippedExpert> pastSkipped = [];
        IReadOnlyDictionary<string, Expert> pastLoaded = new Dictionary<string, Expert>();
        while (true)
        {
            if (past is null && !await runtime.RunAsync(() => _past.ContainsKey(key), ct))
            {
                pastPolicy = inForce.Policy;
                past = version == 0 ? new ActiveExpertSet(0, []) : await ledger.GetActiveExpertsAsync(version, ct);
                (pastSkipped, pastLoaded) = await LoadExpertsAsync(past, ct);
            }
            var (done, result) = await runtime.RunAsync(() =>
            {
                if (PastModel(key, past, pastPolicy, pastSkipped, pastLoaded) is not { } built) return (false, default(T)!);
                try
                {
                    return (true, work(built.Model, version, built.Skipped));
                }
                finally
                {
                    // A past version built without an expert is not kept: once the blob is repaired, the version is built whole.
                    if (built.Skipped.Count > 0) built.Model.Dispose();
                }
            }, ct);
            if (done) return result;
            // Evicted between the check and the use: read the set and build it.
        }
    }

    // Inside the device lock.
    private void BringHeadTo(ActiveExpertSet set, IReadOnlyList<SkippedExpert> skipped, IReadOnlyDictionary<string, Expert> loaded)
    {
        var removed = false;
        var left = skipped.Select(s => s.EditId.ToString()).ToHashSet(StringComparer.Ordinal);
        var wanted = set.Experts.Where(e => !left.Contains(e.EditId.ToString())).ToDictionary(e => e.EditId.ToString(), e => e.ActivatedAtVersion);
        foreach (var slot in _head.Slots)
        {
            if (!wanted.TryGetValue(slot.Id, out var order) || order != slot.Order) removed |= _head.Remove(slot.Id);
        }
        var present = _head.Slots.Select(s => s.Id).ToHashSet(StringComparer.Ordinal);
        foreach (var expert in set.Experts)
        {
            if (!present.Contains(expert.EditId.ToString()) && wanted.ContainsKey(expert.EditId.ToString()))
                _head.Add(expert.EditId.ToString(), loaded[expert.ExpertSha256], expert.ActivatedAtVersion);
        }
        _headShas = set.Experts.Where(e => wanted.ContainsKey(e.EditId.ToString())).Select(e => e.ExpertSha256).ToHashSet(StringComparer.Ordinal);
        if (removed) ReleaseUnheldExperts();
        _headSkipped = skipped;
        Interlocked.Exchange(ref _headVersion, set.Version);
    }

    // Inside the device lock. A past version's set never changes, so a cached model stays right for ever.
    private (EditedModel Model, IReadOnlyList<SkippedExpert> Skipped)? PastModel((long Version, string Policy) key, ActiveExpertSet? set, RoutingPolicy? policy,
        IReadOnlyList<SkippedExpert> skipped, IReadOnlyDictionary<string, Expert> loaded)
    {
        if (_past.TryGetValue(key, out var cached))
        {
            _pastOrder.Remove(key);
            _pastOrder.AddFirst(key);
            return cached;
        }
        if (set is null || policy is null) return null;
        var model = new EditedModel(runtime.Model, runtime.Editor, policy: policy);
        var left = skipped.Select(s => s.EditId).ToHashSet();
        foreach (var expert in set.Experts)
        {
            if (!left.Contains(expert.EditId)) model.Add(expert.EditId.ToString(), loaded[expert.ExpertSha256], expert.ActivatedAtVersion);
        }
        if (skipped.Count > 0) return (model, skipped);
        _past[key] = (model, skipped);
        _pastShas[key] = set.Experts.Where(e => !left.Contains(e.EditId)).Select(e => e.ExpertSha256).ToHashSet(StringComparer.Ordinal);
        _pastOrder.AddFirst(key);
        while (_pastOrder.Count > pastVersionsCached)
        {
            var oldest = _pastOrder.Last!.Value;
            _pastOrder.RemoveLast();
            if (_past.Remove(oldest, out var evicted)) evicted.Model.Dispose();
            _pastShas.Remove(oldest);
            ReleaseUnheldExperts();
        }
        return (model, skipped);
    }

    // Inside the device lock. Drops the experts no model holds (a retracted expert, the experts of an evicted past
    // version); a query that has just read one keeps its own reference, and a later one reads the blob again.
    private void ReleaseUnheldExperts()
    {
        foreach (var sha in _experts.Keys)
        {
            if (!_headShas.Contains(sha) && !_pastShas.Values.Any(held => held.Contains(sha))) _experts.TryRemove(sha, out _);
        }
    }

    /// <summary>
    /// Reads the set's experts not yet in memory; returns those whose blob is missing or corrupt, and every expert of the
    /// set that was read (the caller's own references: the shared cache may let one go before the caller uses it).
    /// </summary>
    private async Task<(IReadOnlyList<SkippedExpert> Skipped, IReadOnlyDictionary<string, Expert> Loaded)> LoadExpertsAsync(ActiveExpertSet set, CancellationToken ct)
    {
        List<SkippedExpert>? skipped = null;
        var loaded = new Dictionary<string, Expert>(StringComparer.Ordinal);
        foreach (var active in set.Experts)
        {
            if (_experts.TryGetValue(active.ExpertSha256, out var known))
            {
                loaded[active.ExpertSha256] = known;
                continue;
            }
            SkippedExpert? problem = null;
            try
            {
                var bytes = await ledger.Blobs.GetWithRetriesAsync(active.ExpertSha256, ct); // verifies the hash
                _experts[active.ExpertSha256] = loaded[active.ExpertSha256] = Expert.FromBytes(bytes);
            }
            catch (BlobNotFoundException)
            {
                problem = new SkippedExpert(active.EditId, active.ExpertSha256, "missing");
            }
            catch (BlobCorruptedException)
            {
                problem = new SkippedExpert(active.EditId, active.ExpertSha256, "corrupt");
            }
            if (problem is not null) (skipped ??= []).Add(problem);
        }
        return (skipped ?? (IReadOnlyList<SkippedExpert>)[], loaded);
    }

    private static ExpertInAnswer InAnswer(FiredExpert e) => new(Guid.Parse(e.Id), e.Weight, e.VisualSimilarity, e.Threshold, e.TextScore);

    public void Dispose()
    {
        _head.Dispose();
        foreach (var (model, _) in _past.Values) model.Dispose();
    }
}
