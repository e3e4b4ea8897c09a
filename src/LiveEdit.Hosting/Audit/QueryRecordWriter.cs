using System.Diagnostics.Metrics;
using System.Text;
using System.Threading.Channels;
using LiveEdit.Hosting.Serving;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Queries;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LiveEdit.Hosting.Audit;

/// <summary>
/// Takes a record of every answered query off the request path: <see cref="TryRecord"/> puts it in a bounded queue and
/// returns at once; a background loop writes what is queued in batches (<see cref="QueryAuditSettings.QueryRecordBatch"/>
/// per statement). A full queue never blocks a query: the record is dropped and counted (<see cref="Dropped"/>, the metric
/// <c>liveedit.query_records.dropped</c>, a warning at most once a minute). A batch the database refuses is retried a few
/// times, then counted as <see cref="Failed"/> and logged as an error.
/// </summary>
public sealed class QueryRecordWriter : BackgroundService
{
    /// <summary>The meter of the query records' counters.</summary>
    public const string MeterName = "LiveEdit.Audit";

    private static readonly Meter Meter = new(MeterName);
    private static readonly Counter<long> WrittenCounter = Meter.CreateCounter<long>("liveedit.query_records.written", description: "Query records written to the ledger's database");
    private static readonly Counter<long> DroppedCounter = Meter.CreateCounter<long>("liveedit.query_records.dropped", description: "Query records dropped because the writer's queue was full");
    private static readonly Counter<long> FailedCounter = Meter.CreateCounter<long>("liveedit.query_records.failed", description: "Query records lost because the database refused them");

    private readonly Channel<NewQueryRecord> _queue;
    private readonly Func<IReadOnlyList<NewQueryRecord>, CancellationToken, Task> _append;
    private readonly Func<IReadOnlyList<NewQueryRecord>, CancellationToken, Task>? _rehearse;
    private readonly QueryAuditSettings _settings;
    private readonly ILogger<QueryRecordWriter> _log;
    private readonly TimeProvider _clock;
    private long _written, _dropped, _failed, _queued, _lastDropWarning = long.MinValue;

    /// <summary>A writer into <paramref name="store"/>.</summary>
    public QueryRecordWriter(QueryRecordStore store, QueryAuditSettings settings, ILogger<QueryRecordWriter> log, TimeProvider clock)
        : this((records, ct) => store.AppendAsync(records, ct), settings, log, clock) =>
        _rehearse = (records, ct) => store.RehearseAppendAsync(records, ct);

    /// <summary>A writer that hands each batch to <paramref name="append"/> (a store, or a test's stand-in).</summary>
    public QueryRecordWriter(Func<IReadOnlyList<NewQueryRecord>, CancellationToken, Task> append, QueryAuditSettings settings,
        ILogger<QueryRecordWriter> log, TimeProvider clock)
    {
        settings.Validate();
        _append = append;
        _settings = settings;
        _log = log;
        _clock = clock;
        _queue = Channel.CreateBounded<NewQueryRecord>(new BoundedChannelOptions(settings.QueryRecordQueue)
        {
            FullMode = BoundedChannelFullMode.Wait, // with TryWrite only: a full queue answers false at once, never waits
            SingleReader = true,
        });
    }

    /// <summary>Records written so far.</summary>
    public long Written => Interlocked.Read(ref _written);

    /// <summary>Records dropped because the queue was full.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Records lost because the database refused their batch after the retries.</summary>
    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>Records queued or being written.</summary>
    public long Pending => Interlocked.Read(ref _queued);

    /// <summary>Queues <paramref name="record"/> for writing; false (and counted as dropped) when the queue is full or closed. Never waits.</summary>
    public bool TryRecord(NewQueryRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        Interlocked.Increment(ref _queued);
        if (_queue.Writer.TryWrite(record)) return true;
        Interlocked.Decrement(ref _queued);
        var dropped = Interlocked.Increment(ref _dropped);
        DroppedCounter.Add(1);
        var now = _clock.GetTimestamp();
        var last = Interlocked.Read(ref _lastDropWarning);
        if ((last == long.MinValue || _clock.GetElapsedTime(last, now) >= TimeSpan.FromMinutes(1))
            && Interlocked.CompareExchange(ref _lastDropWarning, now, last) == last)
            _log.LogWarning("Query records: the writer's queue of {Capacity} is full; {Dropped} records dropped so far (the queries were answered)",
                _settings.QueryRecordQueue, dropped);
        return false;
    }

    /// <summary>
    /// Queues the record of an answered query: the caller's name, SHA-256 of the uploaded image bytes (when there was an
    /// image) and of the prompt's UTF-8 bytes, the answer, its version and the experts that fired with their weights.
    /// </summary>
    public bool Record(string user, ReadOnlySpan<byte> image, bool hasImage, string prompt, QueryResult result) =>
        TryRecord(NewRecord(user, image, hasImage, prompt, result));

    private NewQueryRecord NewRecord(string user, ReadOnlySpan<byte> image, bool hasImage, string prompt, QueryResult result)
    {
        ArgumentNullException.ThrowIfNull(result);
        return new NewQueryRecord(_clock.GetUtcNow(), user, result.Version, hasImage ? Sha256Hex.Of(image) : null,
            Sha256Hex.Of(Encoding.UTF8.GetBytes(prompt)), result.Answer,
            result.Experts.Select(e => new FiredExpert(e.EditId, e.Weight)).ToArray());
    }

    private static readonly RuntimeMethodHandle[] RecordPath = typeof(QueryRecordWriter).GetMethods()
        .Where(m => m.Name is nameof(Record) or nameof(TryRecord) && m.DeclaringType == typeof(QueryRecordWriter)).Select(m => m.MethodHandle).ToArray();

    /// <summary>
    /// The record path without the record, for a host's warm-up query: makes the record <see cref="Record(string, byte[], string, QueryResult)"/>
    /// would queue and runs the store's statement for it selecting no row (<see cref="QueryRecordStore.RehearseAppendAsync"/>), so
    /// that nothing is written, counted or queued, and the first client's record is not the first the writer sends. A failure
    /// is logged, never thrown: the warm-up goes on without it.
    /// </summary>
    public async Task RehearseAsync(string user, byte[]? image, string prompt, QueryResult result, CancellationToken ct = default)
    {
        var record = NewRecord(user, image, image is not null, prompt, result);
        // What a client's record runs on the request path beyond NewRecord, compiled without queueing anything.
        foreach (var method in RecordPath) System.Runtime.CompilerServices.RuntimeHelpers.PrepareMethod(method);
        if (_rehearse is null) return;
        try
        {
            await _rehearse(new List<NewQueryRecord> { record }, ct); // a list, as the writer hands the store
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            _log.LogWarning("Query records: rehearsing the write failed ({Failure}); the first record is written cold", $"{e.GetType().Name}: {e.Message}");
        }
    }

    /// <summary>Queues the record of an answered query (<paramref name="image"/>: the uploaded bytes, null for a text-only question).</summary>
    public bool Record(string user, byte[]? image, string prompt, QueryResult result) =>
        Record(user, image, image is not null, prompt, result);

    /// <summary>Waits until nothing is queued or being written (for shutdown and tests).</summary>
    public async Task FlushAsync(CancellationToken ct = default)
    {
        while (Pending > 0) await Task.Delay(TimeSpan.FromMilliseconds(10), _clock, ct);
    }

    /// <inheritdoc/>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        // No more records; the loop writes what is queued, then ends (bounded by the host's shutdown timeout).
        _queue.Writer.TryComplete();
        await base.StopAsync(cancellationToken);
        // A host stopped before the loop ever ran (it starts on the thread pool) still writes what was queued.
        await DrainAsync(new CancellationToken(canceled: true));
    }

    /// <inheritdoc/>
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => DrainAsync(stoppingToken);

    /// <summary>Writes batches until the queue is completed and empty. One caller at a time: the loop, or the stop after it.</summary>
    private async Task DrainAsync(CancellationToken stoppingToken)
    {
        var reader = _queue.Reader;
        var batch = new List<NewQueryRecord>(_settings.QueryRecordBatch);
        while (await reader.WaitToReadAsync(CancellationToken.None))
        {
            while (batch.Count < _settings.QueryRecordBatch && reader.TryRead(out var record)) batch.Add(record);
            if (batch.Count == 0) continue;
            await WriteAsync(batch, stoppingToken);
            Interlocked.Add(ref _queued, -batch.Count);
            batch.Clear();
        }
    }

    private async Task WriteAsync(List<NewQueryRecord> batch, CancellationToken stoppingToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await _append(batch, CancellationToken.None);
                Interlocked.Add(ref _written, batch.Count);
                WrittenCounter.Add(batch.Count);
                return;
            }
            catch (Exception e) when (attempt < _settings.QueryRecordAttempts && !stoppingToken.IsCancellationRequested)
            {
                _log.LogWarning("Query records: writing {Count} failed (attempt {Attempt}): {Failure}", batch.Count, attempt, $"{e.GetType().Name}: {e.Message}");
                try
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(250 * (1 << attempt)), _clock, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    // Stopping: one last attempt, then give up.
                }
            }
            catch (Exception e)
            {
                Interlocked.Add(ref _failed, batch.Count);
                FailedCounter.Add(batch.Count);
                _log.LogError("Query records: {Count} records lost after {Attempt} attempts: {Failure}", batch.Count, attempt, $"{e.GetType().Name}: {e.Message}");
                return;
            }
        }
    }
}
