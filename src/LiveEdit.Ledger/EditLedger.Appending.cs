using System.Collections.Concurrent;
using JasperFx.Events;
using LiveEdit.Ledger.Audit;
using LiveEdit.Ledger.Errors;
using LiveEdit.Ledger.Projections;
using Marten;
using Marten.Services;
using Npgsql;

namespace LiveEdit.Ledger;

// Appending: one chain writer per ledger with group commit. Concurrent appends queue; whoever holds the writer takes a
// batch, runs each append inside one transaction under the advisory lock (each behind a savepoint of its own), extends the
// hash chain once for the batch, commits once and answers every caller with its own result or exception.
public sealed partial class EditLedger
{
    private sealed record StreamAppend(Guid EditId, long? VersionBefore, IReadOnlyList<object> Events, bool LedgerStream = false);

    private delegate Task<(IReadOnlyList<StreamAppend> Appends, long? Acknowledges)> AppendPlan(
        NpgsqlConnection connection, NpgsqlTransaction tx, CancellationToken ct);

    /// <summary>One caller's append waiting for the writer.</summary>
    /// <param name="Alone">Written in a batch of its own: its plan reads the ledger inside the transaction (which must not see
    /// another caller's unchained rows) or acknowledges an incident (which must not let other appends past it).</param>
    /// <param name="Decided">What the plan appends, when it was decided before the lock (every append but the alone ones).</param>
    private sealed record PendingAppend(AppendPlan Plan, bool Alone, CancellationToken Ct, IReadOnlyList<StreamAppend>? Decided = null)
    {
        public TaskCompletionSource<long> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>Most appends written in one transaction. Each takes a subtransaction; PostgreSQL keeps 64 per
    /// transaction in shared memory before other connections' snapshots slow down.</summary>
    internal const int MaxAppendBatch = 48;

    private readonly ConcurrentQueue<PendingAppend> _pending = new();
    private readonly SemaphoreSlim _writer = new(1, 1);

    /// <summary>Appends waiting for the writer (for tests that need several appends in one batch).</summary>
    internal int PendingAppends => _pending.Count;

    private long _batchesCommitted;

    /// <summary>Transactions this ledger's writer committed (for tests that check grouping).</summary>
    internal long BatchesCommitted => Interlocked.Read(ref _batchesCommitted);

    private long _batchesSavedTogether;

    /// <summary>Of those, batches of several appends saved by one Marten unit of work (for tests of the common road).</summary>
    internal long BatchesSavedTogether => Interlocked.Read(ref _batchesSavedTogether);

    private async Task<long> AppendAsync(IReadOnlyList<StreamAppend> appends, CancellationToken ct)
    {
        // One span per command's append (the edit is the last stream: a supersession appends the older edit first).
        using var activity = LedgerTelemetry.StartAppend(appends[^1].EditId, appends.SelectMany(a => a.Events));
        try
        {
            var head = await EnqueueAsync(new PendingAppend((_, _, _) => Task.FromResult<(IReadOnlyList<StreamAppend>, long?)>((appends, null)), false, ct, appends));
            LedgerTelemetry.Appended(activity, head);
            return head;
        }
        catch (Exception e)
        {
            LedgerTelemetry.Appended(activity, null, e);
            throw;
        }
    }

    /// <param name="plan">Decides, inside the lock and the transaction, what to append and which sequence (if any) it
    /// acknowledges. Runs in a batch of its own.</param>
    private Task<long> AppendAsync(AppendPlan plan, CancellationToken ct) => EnqueueAsync(new PendingAppend(plan, true, ct));

    private async Task<long> EnqueueAsync(PendingAppend mine)
    {
        mine.Ct.ThrowIfCancellationRequested();
        _pending.Enqueue(mine);
        await GroupWriter.DrainUntilAnsweredAsync(mine.Done.Task, _writer, TakeBatch, WriteBatchAsync);
        return await mine.Done.Task;
    }

    private List<PendingAppend> TakeBatch()
    {
        var batch = new List<PendingAppend>();
        while (batch.Count < MaxAppendBatch && _pending.TryPeek(out var next))
        {
            if (next.Alone && batch.Count > 0) break;
            _pending.TryDequeue(out _);
            if (next.Ct.IsCancellationRequested)
            {
                next.Done.TrySetCanceled(next.Ct);
                continue;
            }
            batch.Add(next);
            if (next.Alone) break;
        }
        return batch;
    }

    private async Task WriteBatchAsync(List<PendingAppend> batch)
    {
        // The batch as a whole is not cancellable: once a caller's plan has run, its rows commit with the others.
        var ct = CancellationToken.None;
        try
        {
            await using var connection = Connect();
            await connection.OpenAsync(ct);
            await WriteLockedBatchAsync(connection, batch, ct);
        }
        catch (Exception e)
        {
            foreach (var item in batch) item.Done.TrySetException(e);
        }
    }

    /// <summary>
    /// Begins a transaction that first takes the schema's append lock (a transaction-level advisory lock: no round trip of
    /// its own, since BEGIN travels with it, and none to release it).
    /// </summary>
    /// <remarks>PostgreSQL releases a transaction's locks only after its commit is visible to others, so sequence numbers are
    /// drawn and committed in lock order (a visible version never gains an earlier event), and Marten stamps the events inside
    /// the lock, so timestamps follow sequence order too (with one host's clock; several hosts need synchronised clocks).
    /// Several ledgers (processes) on one schema take turns transaction by transaction. A broken connection ends the
    /// transaction and with it the lock.</remarks>
    private async Task<NpgsqlTransaction> BeginLockedAsync(NpgsqlConnection connection, CancellationToken ct)
    {
        var tx = await connection.BeginTransactionAsync(ct);
        try
        {
            await using var lockCommand = new NpgsqlCommand("select pg_advisory_xact_lock(@k)", connection, tx);
            lockCommand.Parameters.AddWithValue("k", _lockKey);
            await lockCommand.ExecuteNonQueryAsync(ct);
            return tx;
        }
        catch
        {
            await tx.DisposeAsync();
            throw;
        }
    }

    private async Task WriteLockedBatchAsync(NpgsqlConnection connection, List<PendingAppend> batch, CancellationToken ct)
    {
        // A batch of one decided append takes the same road: no savepoint, and a failure (rare) is written again behind one.
        if (await TryWriteTogetherAsync(connection, batch, ct)) return;
        await WriteOneByOneAsync(connection, batch.Where(item => !item.Done.Task.IsCompleted).ToList(), ct);
    }

    /// <summary>
    /// The common case: appends decided before the lock, each on streams no other append of the batch touches, saved by one
    /// Marten unit of work (its reads of stream versions and projected summaries, and its writes, once for the batch) instead
    /// of one unit of work per append behind a savepoint of its own. False, with nothing written, when the batch does not qualify
    /// or the save fails (a lost race, an edit id that exists): the caller then writes it append by append, which finds and
    /// refuses exactly the appends at fault.
    /// </summary>
    private async Task<bool> TryWriteTogetherAsync(NpgsqlConnection connection, List<PendingAppend> batch, CancellationToken ct)
    {
        var streams = new HashSet<Guid>();
        if (batch.Any(item => item.Decided is null) || !batch.SelectMany(item => item.Decided!).All(a => streams.Add(a.EditId))) return false;
        var live = new List<PendingAppend>();
        foreach (var item in batch)
        {
            if (item.Ct.IsCancellationRequested) item.Done.TrySetCanceled(item.Ct);
            else live.Add(item);
        }
        if (live.Count == 0) return true;

        await using var tx = await BeginLockedAsync(connection, ct);
        var accepted = new List<(PendingAppend Item, List<Guid> Written)>();
        await using (var unit = _store.LightweightSession(SessionOptions.ForTransaction(tx, false)))
        {
            foreach (var item in live) accepted.Add((item, Stage(unit, item.Decided!)));
            try
            {
                await unit.SaveChangesAsync(ct);
            }
            catch (Exception) when (connection.State == System.Data.ConnectionState.Open)
            {
                await tx.RollbackAsync(ct);
                return false;
            }
        }
        await ChainAndCommitAsync(connection, tx, accepted, new HashSet<long>(), ct);
        if (live.Count > 1) Interlocked.Increment(ref _batchesSavedTogether);
        return true;
    }

    /// <summary>Each append behind a savepoint of its own: a plan that throws (a lost race, a refused command) takes back only its own rows.</summary>
    private async Task WriteOneByOneAsync(NpgsqlConnection connection, List<PendingAppend> batch, CancellationToken ct)
    {
        if (batch.Count == 0) return;
        await using var tx = await BeginLockedAsync(connection, ct);
        var accepted = new List<(PendingAppend Item, List<Guid> Written)>();
        var acknowledged = new HashSet<long>();
        foreach (var item in batch)
        {
            await tx.SaveAsync("append", ct);
            try
            {
                var (written, acknowledges) = await RunPlanAsync(connection, tx, item, item.Ct);
                await tx.ReleaseAsync("append", ct);
                accepted.Add((item, written));
                if (acknowledges is { } acked) acknowledged.Add(acked);
            }
            catch (Exception e)
            {
                await tx.RollbackAsync("append", ct);
                item.Done.TrySetException(e);
            }
        }
        if (accepted.Count == 0) return; // nothing written: the transaction rolls back on dispose
        await ChainAndCommitAsync(connection, tx, accepted, acknowledged, ct);
    }

    /// <summary>Extends the hash chain once over every row the accepted appends wrote, commits, and answers each caller.</summary>
    private async Task ChainAndCommitAsync(NpgsqlConnection connection, NpgsqlTransaction tx, List<(PendingAppend Item, List<Guid> Written)> accepted,
        HashSet<long> acknowledged, CancellationToken ct)
    {
        HashChain.Extension extension;
        try
        {
            extension = await _chain.ExtendAsync(connection, tx, accepted.SelectMany(a => a.Written).ToList(), acknowledged, ct);
        }
        catch (ChainRefusedException refused)
        {
            Integrity.Refused(refused);
            throw; // every caller of the batch gets it; the transaction rolls back on dispose: nothing of the batch stays
        }
        await tx.CommitAsync(ct);
        // What this ledger chained and committed is authentic: later reads of these rows need not authenticate them again.
        _chain.Remember(extension.Sequences.Values);
        Interlocked.Increment(ref _batchesCommitted);
        Integrity.Accepted();
        // Each caller gets the version its own append reached (an append that wrote nothing: the head it saw).
        var head = extension.PreviousHead;
        foreach (var (item, written) in accepted)
        {
            if (written.Count > 0) head = written.Max(id => extension.Sequences[id]);
            item.Done.TrySetResult(head);
        }
    }

    /// <summary>Puts the appends' events into <paramref name="unit"/>; returns the Marten ids of the events staged.</summary>
    private static List<Guid> Stage(IDocumentSession unit, IReadOnlyList<StreamAppend> appends)
    {
        var written = new List<Guid>();
        foreach (var append in appends)
        {
            var action = append.LedgerStream
                ? unit.Events.Append(append.EditId, append.Events.ToArray())
                : append.VersionBefore is { } before
                    ? unit.Events.Append(append.EditId, before + append.Events.Count, append.Events.ToArray())
                    : unit.Events.StartStream<EditSummary>(append.EditId, append.Events.ToArray());
            written.AddRange(action.Events.Select(e => e.Id));
        }
        return written;
    }

    private async Task<(List<Guid> Written, long? Acknowledges)> RunPlanAsync(NpgsqlConnection connection, NpgsqlTransaction tx, PendingAppend item, CancellationToken ct)
    {
        var (appends, acknowledges) = await item.Plan(connection, tx, ct);
        await using var unit = _store.LightweightSession(SessionOptions.ForTransaction(tx, false));
        var written = Stage(unit, appends);
        try
        {
            await unit.SaveChangesAsync(ct);
        }
        catch (Exception e) when (Find<ExistingStreamIdCollisionException>(e) is not null || Find<Marten.Exceptions.ExistingStreamIdCollisionException>(e) is not null)
        {
            throw new EditAlreadyExistsException(appends.First(a => a.VersionBefore is null).EditId);
        }
        catch (Exception e) when (Find<JasperFx.ConcurrencyException>(e) is { } conflict)
        {
            var loser = appends.FirstOrDefault(a => conflict.Message.Contains(a.EditId.ToString(), StringComparison.OrdinalIgnoreCase)) ?? appends[0];
            throw new ConcurrencyConflictException(loser.EditId, loser.VersionBefore, null, conflict);
        }
        return (written, acknowledges);
    }

    private static T? Find<T>(Exception? e) where T : Exception
    {
        for (; e is not null; e = e.InnerException)
        {
            if (e is T t) return t;
            if (e is AggregateException a && a.InnerExceptions.Select(Find<T>).FirstOrDefault(x => x is not null) is { } inner) return inner;
        }
        return null;
    }
}
