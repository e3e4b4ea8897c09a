using System.Diagnostics;
using System.Globalization;
using LiveEdit.Bench.Fixtures;
using LiveEdit.Hosting.Serving;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Edits;
using LiveEdit.Model.Editor;
using LiveEdit.Model.Images;
using LiveEdit.Research.World;
using Npgsql;

namespace LiveEdit.Bench.Ledger;

/// <summary>What <see cref="ColdStartBench.RunAsync"/> measured. Times in milliseconds, memory in bytes.</summary>
public sealed record ColdStartResult(
    string Schema,
    int Active,
    long HeadVersion,
    double ModelLoadMs,
    double SyncMs,
    HeadSyncTimes? Sync,
    double WarmUpMs,
    double ReadyMs,
    double FirstHeadQueryMs,
    double SteadyHeadP50Ms,
    double SteadyHeadP99Ms,
    double MeanSurvivors,
    IReadOnlyList<ActiveSetTiming> ActiveSets,
    long PastVersion,
    int PastExperts,
    double PastColdMs,
    double PastWarmMs,
    long RssBefore,
    long RssReady,
    long ManagedBefore,
    long ManagedReady)
{
    /// <summary>Resident memory the head model's experts added, per active expert.</summary>
    public double RssPerExpert => Active == 0 ? 0 : (double)(RssReady - RssBefore) / Active;

    /// <summary>Live managed memory (after a full collection) the head model's experts added, per active expert.</summary>
    public double ManagedPerExpert => Active == 0 ? 0 : (double)(ManagedReady - ManagedBefore) / Active;
}

/// <summary>The active set read at one version: on a fresh ledger (every chain entry authenticated) and again (warm, median).</summary>
public sealed record ActiveSetTiming(string At, long Version, int Experts, double ColdMs, double WarmMs);

/// <summary>
/// A host's cold start with N active experts: builds (or, with reuse, finds) a ledger of N active edits whose experts
/// have the committed editor's shape and identity (copies of real experts of a few SynthWorld edits, each with its own
/// perturbed key and factors, so many experts share an entity as on a real stream), then measures what a fresh host
/// pays: loading the model, the first sync of the head (the active set authenticated cold, every expert blob read and
/// re-hashed, the head model built), the warm-up query, the first head query after that and the steady p50, the active
/// set at the head, in the middle and as of a time (cold and warm), the first query as of a past version with about
/// 5,000 experts, and the memory per active expert. Wired to <c>liveedit bench coldstart --active N</c>.
/// </summary>
public static class ColdStartBench
{
    /// <summary>The schema used when neither <c>--schema</c> nor <c>Ledger__Schema</c> names one.</summary>
    public const string DefaultSchema = "coldstart_bench";

    /// <summary>Distinct SynthWorld edits whose experts the ledger's experts are copies of.</summary>
    public const int Entities = 140;

    private const string Prompt = "what is this creature called?";

    /// <summary>Runs the benchmark; <paramref name="reuse"/> measures the ledger an earlier run left in the schema.</summary>
    public static async Task<ColdStartResult> RunAsync(string connectionString, ModelSettings model, int active, TextWriter output, string? schema = null,
        bool reuse = false, int queries = 60, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(active, 1);
        var (name, origin) = BenchSchema.Choose(schema, DefaultSchema, DefaultSchema);
        var key = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes("liveedit bench coldstart: " + name));
        var options = new LedgerOptions { Policy = ApprovalPolicy.AutoApprove, ChainKey = key };

        Collect();
        var rssBeforeModel = Environment.WorkingSet;
        var clock = Stopwatch.StartNew();
        using var runtime = ModelRuntime.Load(model);
        var modelLoadMs = clock.Elapsed.TotalMilliseconds;
        var world = new SynthWorld(WorldConfig.Default);
        var cases = world.EditCases(EditSplit.EditorEval, Entities, seed: 2026);
        await using var store = LedgerStore.Create(connectionString, name);
        if (!reuse)
        {
            await BenchSchema.PrepareAsync(connectionString, name, origin, "bench coldstart", output, ct);
            await BuildAsync(new EditLedger(store, options), runtime, cases, active, output, ct);
        }
        else await new EditLedger(store, options).EnsureSchemaAsync(ct); // what a migration of an earlier build adds (indexes)

        output.WriteLine($"bench coldstart: {active} active experts, schema {name}; model loaded in {modelLoadMs:F0} ms (RSS {rssBeforeModel / 1e6:F0} → {Environment.WorkingSet / 1e6:F0} MB)");
        var head = await new EditLedger(store, options).GetHeadAsync(ct);

        // The host: a fresh ledger (nothing authenticated yet) and a fresh server, as after a restart.
        Collect();
        var rssBefore = Environment.WorkingSet;
        var managedBefore = GC.GetTotalMemory(true);
        clock.Restart();
        var ledger = new EditLedger(store, options);
        using var server = new EditedModelServer(runtime, ledger);
        await server.SyncHeadAsync(ct);
        var syncMs = clock.Elapsed.TotalMilliseconds;
        await server.WarmUpAsync(ct);
        var readyMs = clock.Elapsed.TotalMilliseconds;
        var sync = server.LastSync;
        if (sync is null || sync.Experts != active - active / 20 || sync.Skipped != 0)
            throw new InvalidOperationException($"benchmark self-check failed: the head holds {sync?.Experts} experts ({sync?.Skipped} skipped), {active - active / 20} expected");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"host cold start: sync {syncMs:F0} ms (active set {sync.ActiveSetMs:F0} ms, {sync.BlobsRead} blobs read and hashed {sync.BlobsMs:F0} ms, head model built {sync.ApplyMs:F0} ms), warm-up {readyMs - syncMs:F0} ms: ready after {readyMs:F0} ms ({modelLoadMs + readyMs:F0} ms with the model's load)"));

        // First head query after ready, then the steady state: each of the entities' images in turn.
        var images = cases.Select(c => c.Edit.Image!).ToArray();
        var times = new List<double>();
        double survivors = 0;
        for (var i = 0; i <= queries; i++)
        {
            var q = Stopwatch.StartNew();
            var answer = await server.QueryAsync(images[i % images.Length], Prompt, AsOf.Now, ct: ct);
            times.Add(q.Elapsed.TotalMilliseconds);
            survivors += answer.Experts.Count;
        }
        var first = times[0];
        var steady = times.Skip(1).Order().ToArray();
        var p50 = steady[steady.Length / 2];
        var p99 = steady[Math.Min(steady.Length - 1, (int)Math.Ceiling(steady.Length * 0.99) - 1)];
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"first head query after ready {first:F1} ms; steady p50 {p50:F1} ms, p99 {p99:F1} ms over {steady.Length} queries ({first / p50:F2}× p50); {survivors / times.Count:F0} experts fired per query"));

        Collect();
        var rssReady = Environment.WorkingSet;
        var managedReady = GC.GetTotalMemory(true);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"memory of the head's experts: RSS +{(rssReady - rssBefore) / 1e6:F0} MB = {(double)(rssReady - rssBefore) / active:F0} bytes per active expert; managed +{(managedReady - managedBefore) / 1e6:F0} MB = {(double)(managedReady - managedBefore) / active:F0} bytes"));

        // A past version with about 5,000 experts, first asked on this ready host (cold) and again (warm).
        var set = await ledger.GetActiveExpertsAsync(head, ct);
        var nth = Math.Min(5_000, set.Experts.Count) - 1;
        var pastVersion = set.Experts.Select(e => e.ActivatedAtVersion).Order().ElementAt(nth);
        var pastCold = Stopwatch.StartNew();
        var past = await server.QueryAsync(images[1], Prompt, new AsOf.Sequence(pastVersion), ct: ct);
        var pastColdMs = pastCold.Elapsed.TotalMilliseconds;
        var pastWarm = new List<double>();
        for (var i = 0; i < 7; i++)
        {
            var w = Stopwatch.StartNew();
            await server.QueryAsync(images[1], Prompt, new AsOf.Sequence(pastVersion), ct: ct);
            pastWarm.Add(w.Elapsed.TotalMilliseconds);
        }
        var pastExperts = (await ledger.GetActiveExpertsAsync(pastVersion, ct)).Experts.Count;
        var pastWarmMs = pastWarm.Order().ElementAt(3);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"past version v{pastVersion} ({pastExperts} experts, {past.Experts.Count} fired): first query {pastColdMs:F1} ms ({server.LastPastBuild}), again {pastWarmMs:F1} ms"));

        // The active set at several versions: a fresh ledger each (cold), then the same ledger again (warm).
        var middle = head / 2;
        var middleTime = (await ledger.ListVersionsAsync(middle - 1, 1, ct: ct))[0].Timestamp;
        var sets = new List<ActiveSetTiming>
        {
            await TimeSetAsync(store, options, "head", head, l => l.GetActiveExpertsAsync(head, ct)),
            await TimeSetAsync(store, options, "middle", middle, l => l.GetActiveExpertsAsync(middle, ct)),
            await TimeSetAsync(store, options, $"as of {middleTime:O}", middle, l => l.GetActiveExpertsAsync(middleTime, ct)),
        };
        foreach (var s in sets)
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"active set at {s.At} (v{s.Version}, {s.Experts} experts): cold {s.ColdMs:F0} ms, warm {s.WarmMs:F1} ms"));

        return new ColdStartResult(name, active, head, modelLoadMs, syncMs, sync, readyMs - syncMs, readyMs, first, p50, p99, survivors / times.Count, sets,
            pastVersion, pastExperts, pastColdMs, pastWarmMs, rssBefore, rssReady, managedBefore, managedReady);
    }

    private static async Task<ActiveSetTiming> TimeSetAsync(Marten.IDocumentStore store, LedgerOptions options, string at, long version,
        Func<EditLedger, Task<LiveEdit.Ledger.Versions.ActiveExpertSet>> read)
    {
        var ledger = new EditLedger(store, options);
        var clock = Stopwatch.StartNew();
        var set = await read(ledger);
        var coldMs = clock.Elapsed.TotalMilliseconds;
        var warm = new List<double>();
        for (var i = 0; i < 7; i++)
        {
            clock.Restart();
            await read(ledger);
            warm.Add(clock.Elapsed.TotalMilliseconds);
        }
        return new ActiveSetTiming(at, set.Version, set.Experts.Count, coldMs, warm.Order().ElementAt(3));
    }

    private static void Collect()
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
    }

    /// <summary>
    /// N active edits in bulk (<see cref="EditLedger.AppendActiveEditsAsync"/>), every twentieth retracted afterwards. Expert i is
    /// a copy of the real expert of edit i mod <see cref="Entities"/> with its own small perturbation of the key and factors.
    /// </summary>
    private static async Task BuildAsync(EditLedger ledger, ModelRuntime runtime, IReadOnlyList<EditCase> cases, int active, TextWriter output, CancellationToken ct)
    {
        await ledger.EnsureSchemaAsync(ct);
        var templates = LedgerFixture.Generate(runtime.Model, runtime.Editor, cases);
        var images = new string[cases.Count];
        for (var c = 0; c < cases.Count; c++) images[c] = await ledger.Blobs.PutAsync(cases[c].Edit.Image!.ToPng(), ct);
        var clock = Stopwatch.StartNew();
        const int Chunk = 2_000;
        for (var start = 0; start < active; start += Chunk)
        {
            var count = Math.Min(Chunk, active - start);
            var experts = Enumerable.Range(start, count).Select(i => Copy(templates[i % templates.Count], i)).ToArray();
            // Expert blobs straight into the blob table, many per statement: storing blobs is not what this measures.
            await using (var connection = (NpgsqlConnection)ledger.Store.Storage.Database.CreateConnection())
            {
                await connection.OpenAsync(ct);
                await using var insert = new NpgsqlCommand($"insert into {ledger.Store.Options.Events.DatabaseSchemaName}.ledger_blobs (sha256, length, content) " +
                                                           "select s, length(c), c from unnest(@s, @c) as u(s, c) on conflict do nothing", connection);
                insert.Parameters.AddWithValue("s", experts.Select(e => e.Sha256).ToArray());
                insert.Parameters.AddWithValue("c", experts.Select(e => e.ToBytes()).ToArray());
                await insert.ExecuteNonQueryAsync(ct);
            }
            var edits = experts.Select((e, j) =>
            {
                var i = start + j;
                var c = cases[i % cases.Count];
                var id = EditId(i);
                return new ActiveEditLifecycle(new ProposeEdit(id, images[i % cases.Count], Prompt, c.NewTarget, "cold-start benchmark", "bench", ["bench"]),
                    new RecordExpert(id, e.Sha256, e.GeneratorSha256, e.BaseSha256, e.Rank, e.HiddenSize, "bench-coldstart", 0, e.KeyRows, e.ModuleDim, e.VisualKey.ToArray()));
            }).ToList();
            await ledger.AppendActiveEditsAsync(edits, "bench-approver", ct);
            if ((start / Chunk + 1) % 5 == 0 || start + count == active) output.WriteLine($"  {start + count} edits appended ({clock.Elapsed.TotalSeconds:F1} s)");
        }
        var retract = Enumerable.Range(0, active).Where(i => i % 20 == 19).ToArray();
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < retract.Length)
                await ledger.RetractAsync(new RetractEdit(EditId(retract[i]), "bench", "benchmark retraction"), ct: ct);
        }, ct)));
        // The routing policy a first host records (reading every recorded expert's generator once): part of building, not of a restart.
        await new RoutingPolicies(ledger, runtime.Editor).EnsureRecordedAsync(ct);
        output.WriteLine($"  built: {active} edits, {retract.Length} retracted, in {clock.Elapsed.TotalSeconds:F1} s");
    }

    private static Guid EditId(int i) => new(System.Security.Cryptography.SHA256.HashData(BitConverter.GetBytes(i ^ 0x5eed0000)).AsSpan(0, 16));

    // Expert i: the template's key and factors, each nudged by a small deterministic amount of its own.
    private static Expert Copy(Expert t, int i)
    {
        var random = new Random(i);
        float[] Nudge(ReadOnlySpan<float> x, float relative)
        {
            var y = x.ToArray();
            for (var k = 0; k < y.Length; k++) y[k] += relative * (float)(random.NextDouble() - 0.5) * (Math.Abs(y[k]) + 1e-3f);
            return y;
        }
        return new Expert(t.HiddenSize, t.Rank, t.KeyRows, t.ModuleDim, Nudge(t.U, 0.05f), Nudge(t.V, 0.05f), Nudge(t.VisualKey, 0.02f), Nudge(t.TextKey, 0.02f),
            t.BaseSha256, t.GeneratorSha256);
    }
}
