using System.Diagnostics;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Edits;
using LiveEdit.Ledger.Storage;
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
    long DocumentBytes)
{
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
                if (Retracted(i)) await ledger.RetractAsync(new RetractEdit(id, "bench", "benchmark retraction"), ct: ct);
                if ((i + 1) % 1_000 == 0) output.WriteLine($"  {i + 1} edits appended ({appendClock.Elapsed.TotalSeconds:F1} s)");
            }
        }, ct)));
        appendClock.Stop();

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
            atTimestamp, verifyClock.Elapsed.TotalSeconds, total, eventBytes, blobBytes, docBytes);

        output.WriteLine($"appended {events} events for {edits} edits in {result.AppendSeconds:F1} s: {result.EventsPerSecond:F0} events/s, {result.EditsPerSecond:F0} edit lifecycles/s");
        output.WriteLine($"active set at head (v{head}, {atHead.Experts.Count} experts): {headMs:F1} ms");
        output.WriteLine($"active set at middle (v{middle}, {atMiddle.Experts.Count} experts): {middleMs:F1} ms; as of a timestamp {atTimestamp:F1} ms");
        output.WriteLine($"hash-chain verify of {verification.EventsChecked} events: {result.VerifySeconds:F1} s");
        output.WriteLine($"database: {total / 1e6:F1} MB = {result.BytesPerEdit / 1024:F1} KiB per edit (events+chain {eventBytes / 1024.0 / edits:F1} KiB, blobs {blobBytes / 1024.0 / edits:F1} KiB, documents {docBytes / 1024.0 / edits:F1} KiB)");
        return result;
    }

    private static bool Retracted(int i) => i % 10 == 9;

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
