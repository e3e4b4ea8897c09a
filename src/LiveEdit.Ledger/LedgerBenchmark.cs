using System.Diagnostics;
using LiveEdit.Ledger.Edits;
using Marten;
using Npgsql;

namespace LiveEdit.Ledger;

/// <summary>Figures measured by <see cref="LedgerBenchmark.RunAsync"/>. Times in milliseconds (medians of repeated reads).</summary>
public sealed record LedgerBenchmarkResult(
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
    double ActiveAtHeadFromEventsMs,
    double ActiveAtMiddleFromEventsMs,
    double ActiveAtHeadFromSummariesMs,
    double ActiveAtMiddleFromSummariesMs,
    double ActiveAtTimestampMs,
    double IndexCatchUpSeconds,
    double ActiveAtHeadFromIndexMs,
    double VerifySeconds,
    long DatabaseBytes,
    long EventBytes,
    long BlobBytes,
    long DocumentBytes)
{
    public double BytesPerEdit => (double)DatabaseBytes / Edits;
}

/// <summary>
/// The ledger benchmark: appends <c>edits</c> full lifecycles (propose + auto-approve, expert with an
/// inline 4×64 visual key, activation; every tenth edit retracted) and measures append throughput, the
/// active set at the head and in the middle from raw events, from the inline summaries and from the
/// async index, hash-chain verification, and the database size per edit. Wired to
/// <c>liveedit bench ledger --edits N</c>.
/// </summary>
public static class LedgerBenchmark
{
    /// <summary>Runs the benchmark in <paramref name="schema"/>, which is DROPPED and re-created first.</summary>
    public static async Task<LedgerBenchmarkResult> RunAsync(
        string connectionString, int edits, TextWriter output, string schema = "ledger_bench", int writers = 4, CancellationToken ct = default)
    {
        if (edits < 2) throw new ArgumentOutOfRangeException(nameof(edits), "at least 2 edits");
        await using (var connection = new NpgsqlConnection(connectionString))
        {
            await connection.OpenAsync(ct);
            await using var drop = new NpgsqlCommand($"drop schema if exists {schema} cascade; create schema {schema};", connection);
            await drop.ExecuteNonQueryAsync(ct);
        }

        await using var store = LedgerStore.Create(connectionString, schema);
        var ledger = new EditLedger(store, new LedgerOptions { Policy = ApprovalPolicy.AutoApprove, ChainKey = LedgerChainKey.NewRandom() });
        await ledger.EnsureSchemaAsync(ct);
        var generator = Sha256Hex.Of("benchmark generator"u8);
        var baseModel = Sha256Hex.Of("benchmark base model"u8);

        output.WriteLine($"ledger bench: {edits} edits, {writers} writers, schema {schema}");
        var next = -1;
        var appendClock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, writers).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < edits)
            {
                var id = DeterministicGuid(i);
                var image = await ledger.Blobs.PutAsync(Bytes(i, 1_024, 1), ct);
                await ledger.ProposeAsync(new ProposeEdit(id, image, $"What is the name of the object in image {i}?", $"object-{i}",
                    "benchmark", "bench", ["bench"]), ct);
                var expert = await ledger.Blobs.PutAsync(Bytes(i, 8_192, 2), ct);
                var key = new float[4 * 64];
                for (var k = 0; k < key.Length; k++) key[k] = (float)Math.Sin(i * 0.37 + k);
                await ledger.RecordExpertAsync(new RecordExpert(id, expert, generator, baseModel, 4, 256, "bench-worker", 5, 4, 64, key), ct: ct);
                if (i % 10 == 9) await ledger.RetractAsync(new RetractEdit(id, "bench", "benchmark retraction"), ct: ct);
                if ((i + 1) % 1_000 == 0) output.WriteLine($"  {i + 1} edits appended ({appendClock.Elapsed.TotalSeconds:F1} s)");
            }
        }, ct)));
        appendClock.Stop();

        var head = await ledger.GetHeadAsync(ct);
        var events = await Scalar<long>(connectionString, $"select count(*) from {schema}.mt_events where type <> 'tombstone'", ct);
        var middle = head / 2;

        var atHead = await ledger.GetActiveExpertsAsync(head, ct);
        var atMiddle = await ledger.GetActiveExpertsAsync(middle, ct);
        var headEvents = await MedianMs(() => ledger.GetActiveExpertsAsync(head, ct));
        var middleEvents = await MedianMs(() => ledger.GetActiveExpertsAsync(middle, ct));
        var headSummaries = await MedianMs(() => ledger.GetActiveExpertsFromSummariesAsync(head, ct));
        var middleSummaries = await MedianMs(() => ledger.GetActiveExpertsFromSummariesAsync(middle, ct));
        var middleTime = (await ledger.ListVersionsAsync(middle - 1, 1, ct: ct))[0].Timestamp;
        var atTimestamp = await MedianMs(() => ledger.GetActiveExpertsAsync(middleTime, ct));
        if ((await ledger.GetActiveExpertsFromSummariesAsync(middle, ct)).EditIds.SequenceEqual(atMiddle.EditIds) is false)
            throw new InvalidOperationException("benchmark self-check failed: summaries and events disagree at the middle version");

        var catchUp = Stopwatch.StartNew();
        using (var daemon = await store.BuildProjectionDaemonAsync())
        {
            await daemon.StartAllAsync();
            await daemon.WaitForNonStaleData(TimeSpan.FromMinutes(10));
            await daemon.StopAllAsync();
        }
        catchUp.Stop();
        var fromIndex = await MedianMs(() => ledger.GetVisualKeyIndexAsync(ct));
        var index = await ledger.GetVisualKeyIndexAsync(ct);
        if (index is null || !index.Active.Select(e => e.EditId).SequenceEqual(atHead.EditIds))
            throw new InvalidOperationException("benchmark self-check failed: the visual-key index disagrees with the events at the head");

        var verifyClock = Stopwatch.StartNew();
        var verification = await ledger.VerifyAsync(ct);
        verifyClock.Stop();
        if (!verification.IsIntact) throw new InvalidOperationException($"benchmark self-check failed: {verification.FirstBreak}");

        long Size(string tables) => Scalar<long>(connectionString,
            $"select coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = '{schema}' and c.relkind = 'r' {tables}", ct).GetAwaiter().GetResult();
        var total = Size("");
        var eventBytes = Size("and c.relname in ('mt_events', 'mt_streams', 'ledger_chain')");
        var blobBytes = Size("and c.relname = 'ledger_blobs'");
        var docBytes = Size("and c.relname like 'mt_doc_%'");

        var result = new LedgerBenchmarkResult(edits, writers, events, appendClock.Elapsed.TotalSeconds, events / appendClock.Elapsed.TotalSeconds,
            edits / appendClock.Elapsed.TotalSeconds, head, middle, atHead.Experts.Count, atMiddle.Experts.Count, headEvents, middleEvents,
            headSummaries, middleSummaries, atTimestamp, catchUp.Elapsed.TotalSeconds, fromIndex, verifyClock.Elapsed.TotalSeconds,
            total, eventBytes, blobBytes, docBytes);

        output.WriteLine($"appended {events} events for {edits} edits in {result.AppendSeconds:F1} s: {result.EventsPerSecond:F0} events/s, {result.EditsPerSecond:F0} edit lifecycles/s");
        output.WriteLine($"active set at head (v{head}, {atHead.Experts.Count} experts): {headEvents:F1} ms from events, {headSummaries:F1} ms from inline summaries, {fromIndex:F1} ms from the async index");
        output.WriteLine($"active set at middle (v{middle}, {atMiddle.Experts.Count} experts): {middleEvents:F1} ms from events, {middleSummaries:F1} ms from inline summaries; as of a timestamp {atTimestamp:F1} ms");
        output.WriteLine($"async index catch-up from zero: {result.IndexCatchUpSeconds:F1} s; hash-chain verify of {verification.EventsChecked} events: {result.VerifySeconds:F1} s");
        output.WriteLine($"database: {total / 1e6:F1} MB = {result.BytesPerEdit / 1024:F1} KiB per edit (events+chain {eventBytes / 1024.0 / edits:F1} KiB, blobs {blobBytes / 1024.0 / edits:F1} KiB, documents {docBytes / 1024.0 / edits:F1} KiB)");
        return result;
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
