using System.Diagnostics;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Edits;
using LiveEdit.Ledger.Storage;
using Marten;
using Npgsql;

namespace LiveEdit.Bench.Ledger;

/// <summary>Figures measured by <see cref="LedgerBench.RunAsync"/>. Times in milliseconds (medians of repeated reads).</summary>
public sealed record LedgerBenchResult(
    string Schema,
    int Edits,
    int Writers,
    long Events,
    double AppendSeconds,
    double EventsPerSecond,
    double EditsPerSecond,
    long HeadVersion,
    long MiddleVersion,
    int ActiveAtHead,
    int ActiveAtMiddle,
    double ActiveAtHeadMs,
    double ActiveAtMiddleMs,
    double ActiveAtTimestampMs,
    double VerifySeconds,
    long DatabaseBytes,
    long EventBytes,
    long BlobBytes,
    long DocumentBytes,
    double AppendCpuSeconds = 0,
    double WarmEventsPerSecond = 0,
    double WarmClientCpuMsPerEvent = 0)
{
    /// <summary>This process's CPU time per appended event during the appends, in milliseconds (the database's is not included).</summary>
    public double ClientCpuMsPerEvent => Events == 0 ? 0 : 1_000 * AppendCpuSeconds / Events;

    /// <summary>Database bytes per edit lifecycle.</summary>
    public double BytesPerEdit => (double)DatabaseBytes / Edits;
}

/// <summary>
/// The ledger benchmark: appends <c>edits</c> full lifecycles (propose + auto-approve, expert with an
/// inline 4×64 visual key, activation; every tenth edit retracted) and measures append throughput, the
/// active set at the head, in the middle and as of a timestamp, hash-chain verification, and the database size
/// per edit. Wired to <c>liveedit bench ledger --edits N</c>.
/// </summary>
/// <remarks>
/// It writes only into a schema of its own (see <see cref="BenchSchema"/>): one it creates (and marks with
/// <see cref="Marker"/>), or an existing empty one. A schema a benchmark made is dropped and re-created; any other
/// schema that holds something is refused, untouched.
/// </remarks>
public static class LedgerBench
{
    /// <summary>The schema used when neither <c>--schema</c> nor <c>Ledger__Schema</c> names one.</summary>
    public const string DefaultSchema = "ledger_bench";

    /// <summary>The comment a schema created by this benchmark carries; only a schema with it is ever dropped.</summary>
    public const string Marker = BenchSchema.Marker;

    /// <summary>What <c>--schema</c> does.</summary>
    public const string SchemaDescription =
        $"Schema to write into (default: Ledger__Schema, else '{DefaultSchema}'): a new or empty one, or one an earlier run made (re-created); never anything else.";

    /// <summary>Runs the benchmark in <paramref name="schema"/> (null: <c>Ledger__Schema</c>, else <see cref="DefaultSchema"/>).</summary>
    /// <exception cref="InvalidOperationException">The schema holds something this benchmark did not make; nothing was changed.</exception>
    public static async Task<LedgerBenchResult> RunAsync(
        string connectionString, int edits, TextWriter output, string? schema = null, int writers = 4, CancellationToken ct = default)
    {
        if (edits < 2) throw new ArgumentOutOfRangeException(nameof(edits), "at least 2 edits");
        if (writers < 1) throw new ArgumentOutOfRangeException(nameof(writers), "at least 1 writer");
        var (name, origin) = BenchSchema.Choose(schema, DefaultSchema, DefaultSchema);
        await BenchSchema.PrepareAsync(connectionString, name, origin, "ledger bench", output, ct);

        await using var store = LedgerStore.Create(connectionString, name);
        var ledger = new EditLedger(store, new LedgerOptions { Policy = ApprovalPolicy.AutoApprove, ChainKey = LedgerChainKey.NewRandom() });
        await ledger.EnsureSchemaAsync(ct);
        var generator = Sha256Hex.Of("benchmark generator"u8);
        var baseModel = Sha256Hex.Of("benchmark base model"u8);

        output.WriteLine($"ledger bench: {edits} edits, {writers} writers, schema {name}");
        var next = -1;
        var half = edits / 2;
        // The second half alone: the process is warm by then (the JIT's tiering and Marten's first-use work are done).
        var (halfSeconds, halfCpu) = (0.0, TimeSpan.Zero);
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var appendClock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, writers).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < edits)
            {
                if (i == half) (halfSeconds, halfCpu) = (appendClock.Elapsed.TotalSeconds, Process.GetCurrentProcess().TotalProcessorTime);
                var id = DeterministicGuid(i);
                var image = await ledger.Blobs.PutAsync(Bytes(i, 1_024, 1), ct);
                await ledger.ProposeAsync(new ProposeEdit(id, image, $"What is the name of the object in image {i}?", $"object-{i}",
                    "benchmark", "bench", ["bench"]), ct);
                var expert = await ledger.Blobs.PutAsync(Bytes(i, 8_192, 2), ct);
                var key = new float[4 * 64];
                for (var k = 0; k < key.Length; k++) key[k] = (float)Math.Sin(i * 0.37 + k);
                await ledger.RecordExpertAsync(new RecordExpert(id, expert, generator, baseModel, 4, 256, "bench-worker", 5, 4, 64, key), ct: ct);
                if (Retracted(i)) await ledger.RetractAsync(new RetractEdit(id, "bench", "benchmark retraction"), ct: ct);
                if ((i + 1) % 1_000 == 0) output.WriteLine($"  {i + 1} edits appended ({appendClock.Elapsed.TotalSeconds:F1} s)");
            }
        }, ct)));
        appendClock.Stop();
        var cpuAfter = Process.GetCurrentProcess().TotalProcessorTime;
        var appendCpu = (cpuAfter - cpuBefore).TotalSeconds;
        var warmEvents = Enumerable.Range(half, edits - half).Sum(i => Retracted(i) ? 5 : 4);
        var warmSeconds = appendClock.Elapsed.TotalSeconds - halfSeconds;
        var warmRate = warmSeconds > 0 ? warmEvents / warmSeconds : 0;
        var warmCpuMs = 1_000 * (cpuAfter - halfCpu).TotalSeconds / warmEvents;

        var head = await ledger.GetHeadAsync(ct);
        var events = await Scalar<long>(connectionString, $"select count(*) from {name}.mt_events where type <> '{EventTypeNames.MartenTombstone}'", ct);
        var middle = head / 2;

        var atHead = await ledger.GetActiveExpertsAsync(head, ct);
        var atMiddle = await ledger.GetActiveExpertsAsync(middle, ct);
        var headMs = await MedianMs(() => ledger.GetActiveExpertsAsync(head, ct));
        var middleMs = await MedianMs(() => ledger.GetActiveExpertsAsync(middle, ct));
        var middleTime = (await ledger.ListVersionsAsync(middle - 1, 1, ct: ct))[0].Timestamp;
        var atTimestamp = await MedianMs(() => ledger.GetActiveExpertsAsync(middleTime, ct));
        // The writers' own record: every edit but the retracted ones is active at the head.
        var expected = Enumerable.Range(0, edits).Where(i => !Retracted(i)).Select(DeterministicGuid).ToHashSet();
        if (!atHead.EditIds.ToHashSet().SetEquals(expected) || atHead.Experts.Count != expected.Count)
            throw new InvalidOperationException($"benchmark self-check failed: {atHead.Experts.Count} experts active at the head, {expected.Count} written and not retracted");

        var verifyClock = Stopwatch.StartNew();
        var verification = await ledger.VerifyAsync(ct);
        verifyClock.Stop();
        if (!verification.IsIntact) throw new InvalidOperationException($"benchmark self-check failed: {verification.FirstBreak}");

        long Size(string tables) => Scalar<long>(connectionString,
            $"select coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = '{name}' and c.relkind = 'r' {tables}", ct).GetAwaiter().GetResult();
        var total = Size("");
        var eventBytes = Size("and c.relname in ('mt_events', 'mt_streams', 'ledger_chain')");
        var blobBytes = Size("and c.relname = 'ledger_blobs'");
        var docBytes = Size("and c.relname like 'mt_doc_%'");

        var result = new LedgerBenchResult(name, edits, writers, events, appendClock.Elapsed.TotalSeconds, events / appendClock.Elapsed.TotalSeconds,
            edits / appendClock.Elapsed.TotalSeconds, head, middle, atHead.Experts.Count, atMiddle.Experts.Count, headMs, middleMs,
            atTimestamp, verifyClock.Elapsed.TotalSeconds, total, eventBytes, blobBytes, docBytes, appendCpu, warmRate, warmCpuMs);

        output.WriteLine($"appended {events} events for {edits} edits in {result.AppendSeconds:F1} s: {result.EventsPerSecond:F0} events/s, {result.EditsPerSecond:F0} edit lifecycles/s; " +
                         $"this process's CPU {result.ClientCpuMsPerEvent:F2} ms per event");
        output.WriteLine($"second half (warm): {warmRate:F0} events/s; this process's CPU {warmCpuMs:F2} ms per event");
        output.WriteLine($"active set at head (v{head}, {atHead.Experts.Count} experts): {headMs:F1} ms");
        output.WriteLine($"active set at middle (v{middle}, {atMiddle.Experts.Count} experts): {middleMs:F1} ms; as of a timestamp {atTimestamp:F1} ms");
        output.WriteLine($"hash-chain verify of {verification.EventsChecked} events: {result.VerifySeconds:F1} s");
        output.WriteLine($"database: {total / 1e6:F1} MB = {result.BytesPerEdit / 1024:F1} KiB per edit (events+chain {eventBytes / 1024.0 / edits:F1} KiB, blobs {blobBytes / 1024.0 / edits:F1} KiB, documents {docBytes / 1024.0 / edits:F1} KiB)");
        return result;
    }

    private static bool Retracted(int i) => i % 10 == 9;

    /// <summary>
    /// The ledger at scale: appends <paramref name="activeEdits"/> whole lifecycles with
    /// <see cref="EditLedger.AppendActiveEditsAsync"/> (the ordinary append path, many edits per transaction), retracts
    /// every twentieth edit from <paramref name="writers"/> concurrent writers (small appends grouped by the chain writer),
    /// then measures the active set at the head and in the middle, cold (a fresh ledger: every chain entry authenticated)
    /// and warm, and the memory an <see cref="LiveEdit.Ledger.Versions.ActiveExpertSet"/> takes per expert. Wired to
    /// <c>liveedit bench ledger --active N</c>.
    /// </summary>
    /// <param name="reuse">Measure the ledger an earlier run left in the schema (built with the same number of edits) instead of building one.</param>
    public static async Task RunActiveSetAsync(string connectionString, int activeEdits, TextWriter output, string? schema = null, int writers = 16,
        bool reuse = false, CancellationToken ct = default)
    {
        if (activeEdits < 2) throw new ArgumentOutOfRangeException(nameof(activeEdits), "at least 2 edits");
        var (name, origin) = BenchSchema.Choose(schema, DefaultSchema, DefaultSchema);
        // A key fixed by the schema's name, so a later run can measure (with reuse) the ledger an earlier one built.
        var key = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes("liveedit bench ledger --active: " + name));
        if (reuse)
        {
            await using var kept = LedgerStore.Create(connectionString, name);
            await MeasureActiveSetAsync(kept, new LedgerOptions { Policy = ApprovalPolicy.AutoApprove, ChainKey = key }, activeEdits - activeEdits / 20, output, ct);
            return;
        }
        await BenchSchema.PrepareAsync(connectionString, name, origin, "ledger bench", output, ct);
        await using var store = LedgerStore.Create(connectionString, name);
        var ledger = new EditLedger(store, new LedgerOptions { Policy = ApprovalPolicy.AutoApprove, ChainKey = key });
        await ledger.EnsureSchemaAsync(ct);
        var generator = Sha256Hex.Of("benchmark generator"u8);
        var baseModel = Sha256Hex.Of("benchmark base model"u8);
        var image = await ledger.Blobs.PutAsync(Bytes(-1, 1_024, 1), ct);

        // Expert blobs straight into the blob table, many per statement: storing blobs is not what this measures.
        var experts = new string[activeEdits];
        for (var start = 0; start < activeEdits; start += 10_000)
        {
            var count = Math.Min(10_000, activeEdits - start);
            var contents = Enumerable.Range(start, count).Select(i => Bytes(i, 64, 2)).ToArray();
            for (var i = 0; i < count; i++) experts[start + i] = Sha256Hex.Of(contents[i]);
            await using var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync(ct);
            await using var insert = new NpgsqlCommand($"insert into {name}.ledger_blobs (sha256, length, content) select s, 64, c from unnest(@s, @c) as u(s, c) on conflict do nothing", connection);
            insert.Parameters.AddWithValue("s", experts.Skip(start).Take(count).ToArray());
            insert.Parameters.AddWithValue("c", contents);
            await insert.ExecuteNonQueryAsync(ct);
        }

        output.WriteLine($"ledger bench (active set): {activeEdits} active edits in bulk, schema {name}");
        var bulkCpu = Process.GetCurrentProcess().TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        const int Chunk = 2_000;
        for (var start = 0; start < activeEdits; start += Chunk)
        {
            var edits = Enumerable.Range(start, Math.Min(Chunk, activeEdits - start)).Select(i =>
            {
                var id = DeterministicGuid(i);
                var visualKey = new float[2 * 32];
                for (var k = 0; k < visualKey.Length; k++) visualKey[k] = (float)Math.Sin(i * 0.37 + k);
                return new ActiveEditLifecycle(new ProposeEdit(id, image, $"What is the name of the object in image {i}?", $"object-{i}", "benchmark", "bench", ["bench"]),
                    new RecordExpert(id, experts[i], generator, baseModel, 4, 256, "bench-worker", 5, 2, 32, visualKey));
            }).ToList();
            await ledger.AppendActiveEditsAsync(edits, "bench-approver", ct);
            if ((start / Chunk + 1) % 5 == 0) output.WriteLine($"  {start + edits.Count} edits appended ({clock.Elapsed.TotalSeconds:F1} s)");
        }
        var bulkSeconds = clock.Elapsed.TotalSeconds;
        output.WriteLine($"bulk: {4L * activeEdits} events in {bulkSeconds:F1} s: {4L * activeEdits / bulkSeconds:F0} events/s; " +
                         $"this process's CPU {1_000 * (Process.GetCurrentProcess().TotalProcessorTime - bulkCpu).TotalSeconds / (4.0 * activeEdits):F2} ms per event");

        var retract = Enumerable.Range(0, activeEdits).Where(i => i % 20 == 19).ToArray();
        var next = -1;
        clock.Restart();
        await Task.WhenAll(Enumerable.Range(0, writers).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < retract.Length)
                await ledger.RetractAsync(new RetractEdit(DeterministicGuid(retract[i]), "bench", "benchmark retraction"), ct: ct);
        }, ct)));
        output.WriteLine($"{retract.Length} retractions from {writers} writers in {clock.Elapsed.TotalSeconds:F1} s: {retract.Length / clock.Elapsed.TotalSeconds:F0} events/s");

        await MeasureActiveSetAsync(store, new LedgerOptions { Policy = ApprovalPolicy.AutoApprove, ChainKey = key }, activeEdits - retract.Length, output, ct);
    }

    private static async Task MeasureActiveSetAsync(IDocumentStore store, LedgerOptions options, int expected, TextWriter output, CancellationToken ct)
    {
        var ledger = new EditLedger(store, options);
        var head = await ledger.GetHeadAsync(ct);
        var middle = head / 2;
        var clock = Stopwatch.StartNew();
        var cold = await ledger.GetActiveExpertsAsync(head, ct);
        var coldMs = clock.Elapsed.TotalMilliseconds;
        if (cold.Experts.Count != expected)
            throw new InvalidOperationException($"benchmark self-check failed: {cold.Experts.Count} experts active at the head, {expected} expected");
        var headMs = await MedianMs(() => ledger.GetActiveExpertsAsync(head, ct));
        var middleMs = await MedianMs(() => ledger.GetActiveExpertsAsync(middle, ct));
        var atMiddle = await ledger.GetActiveExpertsAsync(middle, ct);

        // What one more set costs beside those the ledger already remembers, and what a fresh ledger holds after one read.
        var before = GC.GetTotalMemory(true);
        var held = await ledger.GetActiveExpertsAsync(head, ct);
        var after = GC.GetTotalMemory(true);
        GC.KeepAlive(held);
        var emptyBefore = GC.GetTotalMemory(true);
        var fresh = new EditLedger(store, options);
        _ = (await fresh.GetActiveExpertsAsync(head, ct)).Experts.Count;
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        var freshAfter = GC.GetTotalMemory(true);
        GC.KeepAlive(fresh);
        output.WriteLine($"active set at head (v{head}, {cold.Experts.Count} experts): cold {coldMs:F0} ms (fresh ledger, every entry authenticated), warm {headMs:F1} ms");
        output.WriteLine($"active set at middle (v{middle}, {atMiddle.Experts.Count} experts): warm {middleMs:F1} ms");
        output.WriteLine($"memory: one more set {(after - before) / 1e6:F1} MB = {(double)(after - before) / held.Experts.Count:F0} bytes per active expert; " +
                         $"a ledger's remembered authenticated events {(freshAfter - emptyBefore) / 1e6:F1} MB = {(double)(freshAfter - emptyBefore) / held.Experts.Count:F0} bytes per active expert");
    }

    private static async Task<double> MedianMs<T>(Func<Task<T>> read, int runs = 7)
    {
        await read(); // warm
        var times = new List<double>();
        for (var i = 0; i < runs; i++)
        {
            var clock = Stopwatch.StartNew();
            await read();
            times.Add(clock.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        return times[runs / 2];
    }

    private static async Task<T> Scalar<T>(string connectionString, string sql, CancellationToken ct)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync(ct))!;
    }

    private static Guid DeterministicGuid(int i) => new(System.Security.Cryptography.SHA256.HashData(BitConverter.GetBytes(i)).AsSpan(0, 16));

    private static byte[] Bytes(int i, int length, int salt)
    {
        var bytes = new byte[length];
        new Random(i * 31 + salt).NextBytes(bytes);
        return bytes;
    }
}
