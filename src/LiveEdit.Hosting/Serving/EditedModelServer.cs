using System.Collections.Concurrent;
using LiveEdit.Hosting.Storage;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Blobs;
using LiveEdit.Ledger.Errors;
using LiveEdit.Ledger.Versions;
using LiveEdit.Model.Editor;
using LiveEdit.Model.Images;
using LiveEdit.Model.Vlm;
using static TorchSharp.torch;

namespace LiveEdit.Hosting.Serving;

/// <summary>
/// Answers queries with the edited model at any version of the ledger. The head model stays in memory and is brought to
/// the ledger's head when the ledger changes (<see cref="SyncHeadAsync"/>, called by <see cref="LedgerHeadFollower"/> on
/// each notification the ledger pushes): a query at the head reads nothing from the database and reports the version the
/// head model was at when it ran. Past versions are rebuilt from the ledger's active set at that version and kept in a
/// small cache. Experts are read from the blob store once, in batches, and shared. Fusion order is the activation
/// sequence, so a version's answers never depend on what happened to the process before (docs/serving.md).
/// </summary>
/// <remarks>
/// An active expert whose blob is missing or corrupt is an incident, not an outage: it is left out of the model, every
/// answer of a version that holds it names it in <see cref="QueryResult.Skipped"/>, <paramref name="incidents"/> keeps
/// it for the readiness check while it is in the head model, and the other experts and text-only queries are served
/// as usual. A blob that reads right again is fused at the next sync of the head (a ledger change or the safety poll).
/// </remarks>
/// <remarks>
/// Each version routes with the routing policy in force at it (<see cref="RoutingPolicies"/>); the first time the server
/// serves it records the inception policy when the ledger has none. A cached past model is keyed on the version and the
/// policy's SHA-256.
/// </remarks>
/// <remarks>Queries are batched per version (<see cref="QueryBatcher"/>, settings <paramref name="serving"/>).</remarks>
public sealed class EditedModelServer(ModelRuntime runtime, EditLedger ledger, int pastVersionsCached = 8, ExpertIncidents? incidents = null,
    RoutingPolicies? policies = null, ServingSettings? serving = null) : IDisposable
{
    private QueryBatcher? _batcher;

    private readonly ExpertIncidents _incidents = incidents ?? new ExpertIncidents();
    private readonly RoutingPolicies _policies = policies ?? new RoutingPolicies(ledger, runtime.Editor);
    private readonly ConcurrentDictionary<string, Expert> _experts = new(StringComparer.Ordinal);
    private readonly EditedModel _head = new(runtime.Model, runtime.Editor);
    private readonly Dictionary<(long Version, string Policy), (EditedModel Model, IReadOnlyList<SkippedExpert> Skipped)> _past = new();
    private IReadOnlyList<SkippedExpert> _headSkipped = [];
    private readonly LinkedList<(long Version, string Policy)> _pastOrder = new();
    private long _headVersion = -1;
    // Syncs of the head run one at a time; a caller's ticket is served by any sync that started after it was taken.
    private readonly SemaphoreSlim _syncGate = new(1, 1);
    private long _syncTickets, _syncedUpTo;
    private volatile bool _warm;
    // The expert of each edit in the head model (so a sync that follows the ledger's changes can take one out); with the
    // past versions' sets, what the cache keeps: only experts some model holds (retracted ones are let go).
    private Dictionary<string, string> _headShaOf = new(StringComparer.Ordinal);
    private readonly Dictionary<(long Version, string Policy), HashSet<string>> _pastShas = new();

    /// <summary>The version the head model was last brought to (-1 before the first sync).</summary>
    public long HeadVersion => Interlocked.Read(ref _headVersion);

    /// <summary>True once the head model has been synced with the ledger and has answered one warm-up query (<see cref="WarmUpAsync"/>).</summary>
    public bool IsWarm => _warm;
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

    /// <summary>Greedy answer to one query, with provenance; concurrent queries at the same version run as one batch.</summary>
    public Task<QueryResult> QueryAsync(RgbImage? image, string prompt, AsOf asOf, int maxNewTokens = EditTextLimits.MaxAnswerTokens, CancellationToken ct = default) =>
        Batcher.QueryAsync(image, prompt, asOf, maxNewTokens, ct);

    /// <summary>The query batcher, handed the model at each batch's version by <see cref="WithModelAsync"/>.</summary>
    public QueryBatcher Batcher => LazyInitializer.EnsureInitialized(ref _batcher, () => new QueryBatcher(serving ?? new ServingSettings(), WithModelAsync));

    /// <summary>Teacher-forced logits of <paramref name="answer"/> after the prompt, flattened [L·V], with the version used.</summary>
    public Task<(float[] Logits, long Version)> LogitsAsync(RgbImage? image, string prompt, string answer, AsOf asOf, CancellationToken ct = default) =>
        WithModelAsync(asOf, (model, version, _) =>
        {
            using var scope = NewDisposeScope();
            var inputs = runtime.Model.Prepare([new VlmExample(runtime.ImageInput(image), prompt, answer)]);
            return (LiveEdit.Model.Runtime.DeviceTensors.HostFloats(model.Logits(inputs).Logits), version);
        }, ct);

    /// <summary>
    /// Brings the head model to the ledger's head as it is when the call is made (or later), and returns the head model's
    /// version. Concurrent calls share one sync: a call waits for a sync that started after it, never for more. Reads the
    /// head version first and the active set only when the ledger has moved (or an expert of the head is still missing).
    /// </summary>
    public async Task<long> SyncHeadAsync(CancellationToken ct = default)
    {
        var ticket = Interlocked.Increment(ref _syncTickets);
        await _syncGate.WaitAsync(ct);
        try
        {
            if (Interlocked.Read(ref _syncedUpTo) >= ticket) return HeadVersion;
            var upTo = Interlocked.Read(ref _syncTickets);
            await BringHeadToLedgerAsync(ct);
            Interlocked.Exchange(ref _syncedUpTo, upTo);
            return HeadVersion;
        }
        finally
        {
            _syncGate.Release();
        }
    }

    /// <summary>
    /// Waits, for at most <paramref name="patience"/>, until the head model is at <paramref name="minVersion"/> or later
    /// (read-your-writes: a client that saw version v asks for the head, but at least v). Reads nothing when the head is
    /// already there; otherwise reads the ledger's head once and syncs.
    /// </summary>
    public async Task<HeadWait> WaitForHeadAsync(long minVersion, TimeSpan patience, CancellationToken ct = default)
    {
        if (HeadVersion >= minVersion) return new HeadWait.Reached(HeadVersion);
        var ledgerHead = await ledger.GetHeadAsync(ct);
        if (ledgerHead < minVersion) return new HeadWait.LedgerBehind(ledgerHead);
        // No patience: never wait (a sync that happens to be quick must not decide the answer).
        if (patience <= TimeSpan.Zero) return new HeadWait.TimedOut(HeadVersion);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(patience);
        try
        {
            // A sync started now reads a head at or above ledgerHead: one is enough unless a read failed.
            while (HeadVersion < minVersion) await SyncHeadAsync(timeout.Token);
            return new HeadWait.Reached(HeadVersion);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return new HeadWait.TimedOut(HeadVersion);
        }
    }

    /// <summary>
    /// Runs one query at the head (an image of the model's size, the full greedy answer) so the first real query after
    /// start finds every buffer and kernel ready; then <see cref="IsWarm"/> is true. Syncs first when the head was never synced.
    /// </summary>
    public async Task WarmUpAsync(CancellationToken ct = default)
    {
        // Any size: the model brings it to its own input.
        const int side = 32;
        var gray = new RgbImage(side, side, Enumerable.Repeat((byte)128, side * side * 3).ToArray());
        await QueryAsync(gray, "what is this?", AsOf.Now, ct: ct);
        // Few experts pass the filter for a gray image, so what only survivors run (gathering their factors, soft routing,
        // fusion) would first run, and be compiled, on the first real query: run it once on a probe model over a few of the
        // head's experts whose policy lets every one through. Its own key store: the head's is not touched.
        await runtime.RunAsync(() =>
        {
            using var scope = NewDisposeScope();
            using var probe = new EditedModel(runtime.Model, runtime.Editor, policy: _head.Policy with { Margin = RoutingPolicy.MaxMagnitude });
            var added = 0;
            foreach (var expert in _experts.Values.Take(WarmUpExperts))
            {
                try
                {
                    probe.Add($"warm-up-{added}", expert, added);
                    added++;
                }
                catch (ArgumentException)
                {
                    // Not for this editor: it never reaches a model, and the warm-up does without it.
                }
            }
            if (added > 0) probe.Answer([new VlmExample(runtime.Model.ImageInput(gray), "what is this?")], EditTextLimits.MaxAnswerTokens);
            return true;
        }, ct);
        _warm = true;
    }

    // Experts the warm-up fuses at once: enough for the batched operations' shapes to be those of a real query.
    private const int WarmUpExperts = 64;

    private async Task BringHeadToLedgerAsync(CancellationToken ct)
    {
        await _policies.EnsureRecordedAsync(ct);
        var current = HeadVersion;
        if (current >= 0 && _headSkipped.Count == 0)
        {
            // Following the head: read what changed since the head model's version, not the whole active set (one query
            // when nothing was appended; an append that activates nothing only moves the version).
            var changes = await ledger.GetActiveExpertChangesAsync(current, ct);
            if (changes.Version <= current || await TryApplyChangesAsync(changes, ct)) return;
        }
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var set = await ledger.GetActiveExpertsAsync(ct);
        // Appends commit in sequence order, so a later read never sees an older head; keep the model from going back anyway.
        if (set.Version < current) return;
        var activeSetMs = clock.Elapsed.TotalMilliseconds;
        var policy = await _policies.AtAsync(set.Version, ct);
        var (skipped, loaded, read) = await LoadExpertsAsync(set, ct);
        var blobsMs = clock.Elapsed.TotalMilliseconds - activeSetMs;
        _incidents.Update(skipped);
        double applyMs = 0;
        await runtime.RunAsync(() =>
        {
            var inLock = System.Diagnostics.Stopwatch.StartNew();
            _head.Policy = policy.Policy;
            BringHeadTo(set, skipped, loaded);
            applyMs = inLock.Elapsed.TotalMilliseconds;
            return true;
        }, ct);
        LastSync = new HeadSyncTimes(set.Version, set.Experts.Count, read, skipped.Count, activeSetMs, blobsMs, applyMs);
    }

    /// <summary>
    /// Brings the head model from its version to <paramref name="changes"/>' by their activations and removals alone: the
    /// active set folded from the start, as <see cref="BringHeadTo"/> takes it, is the head's set with the edits removed in
    /// the range taken out and those activated in it (and not removed) added, in activation order. False, with nothing
    /// changed, when an added expert's blob is missing or corrupt: the full sync then reads the whole set and records it.
    /// </summary>
    private async Task<bool> TryApplyChangesAsync(ActiveSetChanges changes, CancellationToken ct)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var removedIds = changes.Changes.Where(c => c.Removal).Select(c => c.EditId.ToString()).ToHashSet(StringComparer.Ordinal);
        var added = changes.Changes.Where(c => !c.Removal && c.ExpertSha256 is not null && !removedIds.Contains(c.EditId.ToString()))
            .Select(c => new ActiveExpert(c.EditId, c.ExpertSha256!, c.Version, c.At)).ToArray();
        var activeSetMs = clock.Elapsed.TotalMilliseconds;
        var policy = await _policies.AtAsync(changes.Version, ct);
        var (skipped, loaded, read) = await LoadExpertsAsync(new ActiveExpertSet(changes.Version, added), ct);
        if (skipped.Count > 0) return false;
        var blobsMs = clock.Elapsed.TotalMilliseconds - activeSetMs;
        double applyMs = 0;
        var experts = 0;
        await runtime.RunAsync(() =>
        {
            var inLock = System.Diagnostics.Stopwatch.StartNew();
            _head.Policy = policy.Policy;
            var removed = false;
            foreach (var id in removedIds)
            {
                removed |= _head.Remove(id);
                _headShaOf.Remove(id);
            }
            foreach (var expert in added)
            {
                var id = expert.EditId.ToString();
                if (!_headShaOf.TryAdd(id, expert.ExpertSha256)) continue;
                _head.Add(id, loaded[expert.ExpertSha256], expert.ActivatedAtVersion);
            }
            if (removed) ReleaseUnheldExperts();
            experts = _headShaOf.Count;
            Interlocked.Exchange(ref _headVersion, changes.Version);
            applyMs = inLock.Elapsed.TotalMilliseconds;
            return true;
        }, ct);
        LastSync = new HeadSyncTimes(changes.Version, experts, read, 0, activeSetMs, blobsMs, applyMs);
        return true;
    }

    /// <summary>What the last build of a past version read and where its time went (null before one), for measurements.</summary>
    public PastBuildTimes? LastPastBuild { get; private set; }

    /// <summary>What the last sync that moved the head model did and where its time went (null before one), for measurements and logs.</summary>
    public HeadSyncTimes? LastSync { get; private set; }

    /// <summary>
    /// Runs <paramref name="work"/> under the device lock with the edited model at <paramref name="asOf"/>. At the head:
    /// the in-memory head model as it is when the lock is taken, and the version it is at then (syncs change both only
    /// under the lock), so the version reported is the version used. A past version: the ledger is read first (no lock
    /// held) and the model built from exactly that set inside the lock.
    /// </summary>
    private async Task<T> WithModelAsync<T>(AsOf asOf, Func<EditedModel, long, IReadOnlyList<SkippedExpert>, T> work, CancellationToken ct)
    {
        if (asOf is AsOf.Head)
        {
            if (HeadVersion < 0) await SyncHeadAsync(ct);
            return await runtime.RunAsync(() => work(_head, _headVersion, _headSkipped), ct);
        }

        await _policies.EnsureRecordedAsync(ct);

        var version = await ResolveAsync(asOf, ct);
        var inForce = await _policies.AtAsync(version, ct);
        var key = (version, inForce.Sha256);
        RoutingPolicy? pastPolicy = null;
        ActiveExpertSet? past = null;
        IReadOnlyList<SkippedExpert> pastSkipped = [];
        IReadOnlyDictionary<string, Expert> pastLoaded = new Dictionary<string, Expert>();
        while (true)
        {
            double setMs = 0, blobsMs = 0;
            var read = 0;
            if (past is null && !await runtime.RunAsync(() => _past.ContainsKey(key), ct))
            {
                var clock = System.Diagnostics.Stopwatch.StartNew();
                pastPolicy = inForce.Policy;
                past = version == 0 ? new ActiveExpertSet(0, []) : await ledger.GetActiveExpertsAsync(version, ct);
                setMs = clock.Elapsed.TotalMilliseconds;
                (pastSkipped, pastLoaded, read) = await LoadExpertsAsync(past, ct);
                blobsMs = clock.Elapsed.TotalMilliseconds - setMs;
            }
            var (done, result) = await runtime.RunAsync(() =>
            {
                var clock = System.Diagnostics.Stopwatch.StartNew();
                var building = past is not null && !_past.ContainsKey(key);
                if (PastModel(key, past, pastPolicy, pastSkipped, pastLoaded) is not { } built) return (false, default(T)!);
                if (building) LastPastBuild = new PastBuildTimes(version, past!.Experts.Count, read, setMs, blobsMs, clock.Elapsed.TotalMilliseconds);
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
        _headShaOf = set.Experts.Where(e => wanted.ContainsKey(e.EditId.ToString())).ToDictionary(e => e.EditId.ToString(), e => e.ExpertSha256, StringComparer.Ordinal);
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
        // A view over the head's key store: the version costs a bit and an index entry per expert, not a copy of their keys.
        var model = new EditedModel(runtime.Model, runtime.Editor, policy: policy, keys: _head.Keys);
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
        var head = _headShaOf.Values.ToHashSet(StringComparer.Ordinal);
        foreach (var sha in _experts.Keys)
        {
            if (!head.Contains(sha) && !_pastShas.Values.Any(held => held.Contains(sha))) _experts.TryRemove(sha, out _);
        }
    }

    /// <summary>Batches of <see cref="BlobStore.BatchSize"/> expert blobs read at once by a sync or a past version's build.</summary>
    public static int LoadParallelism { get; } = Math.Clamp(2 * Environment.ProcessorCount, 4, 8);

    /// <summary>
    /// Reads the set's experts not yet in memory, in batches (one query per <see cref="BlobStore.BatchSize"/> blobs, up to
    /// <see cref="LoadParallelism"/> batches at once on connections of their own, each re-hashed and retried on transient
    /// failures); returns those whose blob is missing or corrupt, every expert of the set that was read (the caller's own
    /// references: the shared cache may let one go before the caller uses it), and how many blobs were read.
    /// </summary>
    private async Task<(IReadOnlyList<SkippedExpert> Skipped, IReadOnlyDictionary<string, Expert> Loaded, int Read)> LoadExpertsAsync(ActiveExpertSet set, CancellationToken ct)
    {
        List<SkippedExpert>? skipped = null;
        var loaded = new Dictionary<string, Expert>(set.Experts.Count, StringComparer.Ordinal);
        foreach (var active in set.Experts)
        {
            if (_experts.TryGetValue(active.ExpertSha256, out var known)) loaded[active.ExpertSha256] = known;
        }
        var wanted = set.Experts.Select(e => e.ExpertSha256).Where(sha => !loaded.ContainsKey(sha)).Distinct(StringComparer.Ordinal).ToArray();
        var problems = new ConcurrentDictionary<string, string>(StringComparer.Ordinal);
        var read = new ConcurrentDictionary<string, Expert>(StringComparer.Ordinal);
        // Reading a batch (the database decompresses and sends it) overlaps with hashing and decoding another.
        await Parallel.ForEachAsync(wanted.Chunk(BlobStore.BatchSize), new ParallelOptions { MaxDegreeOfParallelism = LoadParallelism, CancellationToken = ct },
            async (chunk, token) =>
            {
                var blobs = await ledger.Blobs.GetManyWithRetriesAsync(chunk, token); // verifies every hash
                foreach (var (sha, blob) in blobs)
                {
                    switch (blob.Problem)
                    {
                        case null: read[sha] = Expert.FromBytes(blob.Bytes!); break;
                        case BlobNotFoundException: problems[sha] = "missing"; break;
                        case BlobCorruptedException: problems[sha] = "corrupt"; break;
                        default: throw blob.Problem;
                    }
                }
            });
        foreach (var (sha, expert) in read) _experts[sha] = loaded[sha] = expert;
        foreach (var active in set.Experts)
        {
            if (problems.TryGetValue(active.ExpertSha256, out var problem)) (skipped ??= []).Add(new SkippedExpert(active.EditId, active.ExpertSha256, problem));
        }
        return (skipped ?? (IReadOnlyList<SkippedExpert>)[], loaded, read.Count);
    }

    internal static ExpertInAnswer InAnswer(FiredExpert e) => new(Guid.Parse(e.Id), e.Weight, e.VisualSimilarity, e.Threshold, e.TextScore);

    public void Dispose()
    {
        _head.Dispose();
        foreach (var (model, _) in _past.Values) model.Dispose();
        _syncGate.Dispose();
    }
}

/// <summary>One sync of the head model (<see cref="EditedModelServer.SyncHeadAsync"/>): what it brought and where its time went.</summary>
/// <param name="Version">The ledger version the head model was brought to.</param>
/// <param name="Experts">Active experts at that version.</param>
/// <param name="BlobsRead">Expert blobs read (those not yet in memory), each re-hashed.</param>
/// <param name="Skipped">Active experts left out (blob missing or corrupt).</param>
/// <param name="ActiveSetMs">Reading the active set (cold: authenticating its chain entries).</param>
/// <param name="BlobsMs">Reading, hashing and decoding the blobs, and the routing policy in force.</param>
/// <param name="ApplyMs">Bringing the head model to the set, inside the device lock.</param>
public sealed record HeadSyncTimes(long Version, int Experts, int BlobsRead, int Skipped, double ActiveSetMs, double BlobsMs, double ApplyMs);

/// <summary>One build of a past version's model: what it read and where its time went.</summary>
/// <param name="ActiveSetMs">Reading the version's active set.</param>
/// <param name="BlobsMs">Reading the experts not in memory (<paramref name="BlobsRead"/> blobs).</param>
/// <param name="BuildMs">Building the version's view over the shared key store, inside the device lock.</param>
public sealed record PastBuildTimes(long Version, int Experts, int BlobsRead, double ActiveSetMs, double BlobsMs, double BuildMs);

/// <summary>How a wait for the head model to reach a version ended (<see cref="EditedModelServer.WaitForHeadAsync"/>).</summary>
public abstract record HeadWait
{
    private HeadWait() { }

    /// <summary>The head model is at <paramref name="HeadVersion"/>, at or above the version asked for.</summary>
    public sealed record Reached(long HeadVersion) : HeadWait;

    /// <summary>The ledger itself is only at <paramref name="LedgerHead"/>: no host can serve the version asked for yet.</summary>
    public sealed record LedgerBehind(long LedgerHead) : HeadWait;

    /// <summary>The ledger is there but the head model, at <paramref name="HeadVersion"/>, did not get there in time.</summary>
    public sealed record TimedOut(long HeadVersion) : HeadWait;
}
