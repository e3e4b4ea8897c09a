using JasperFx.Events;
using LiveEdit.Ledger.Errors;
using LiveEdit.Ledger.Projections;
using Marten.Services;
using Npgsql;

namespace LiveEdit.Ledger;

// Appending: the advisory lock that orders every append, Marten's IDocumentSession inside one transaction, and the hash
// chain extended in that same transaction.
public sealed partial class EditLedger
{
    private sealed record StreamAppend(Guid EditId, long? VersionBefore, IReadOnlyList<object> Events, bool LedgerStream = false);

    private Task<long> AppendAsync(IReadOnlyList<StreamAppend> appends, CancellationToken ct) =>
        AppendAsync((_, _, _) => Task.FromResult<(IReadOnlyList<StreamAppend>, long?)>((appends, null)), ct);

    /// <param name="plan">Decides, inside the lock and the transaction, what to append and which sequence (if any) it acknowledges.</param>
    private async Task<long> AppendAsync(
        Func<NpgsqlConnection, NpgsqlTransaction, CancellationToken, Task<(IReadOnlyList<StreamAppend> Appends, long? Acknowledges)>> plan,
        CancellationToken ct)
    {
        await using var connection = Connect();
        await connection.OpenAsync(ct);
        // A lock held by the connection, taken before BEGIN and held until after COMMIT: sequence numbers are drawn and
        // committed in lock order (a visible version never gains an earlier event), and Marten stamps the
        // events inside the lock, so timestamps follow sequence order too (with one host's clock; several
        // hosts need synchronised clocks).
        await using (var lockCommand = new NpgsqlCommand("select pg_advisory_lock(@k)", connection))
        {
            lockCommand.Parameters.AddWithValue("k", _lockKey);
            await lockCommand.ExecuteNonQueryAsync(ct);
        }
        try
        {
            await using var tx = await connection.BeginTransactionAsync(ct);
            var (appends, acknowledges) = await plan(connection, tx, ct);
            var written = new List<Guid>();
            await using (var session = _store.LightweightSession(SessionOptions.ForTransaction(tx, false)))
            {
                foreach (var append in appends)
                {
                    var action = append.LedgerStream
                        ? session.Events.Append(append.EditId, append.Events.ToArray())
                        : append.VersionBefore is { } before
                            ? session.Events.Append(append.EditId, before + append.Events.Count, append.Events.ToArray())
                            : session.Events.StartStream<EditSummary>(append.EditId, append.Events.ToArray());
                    written.AddRange(action.Events.Select(e => e.Id));
                }
                try
                {
                    await session.SaveChangesAsync(ct);
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
            }
            long head;
            try
            {
                head = await _chain.ExtendAsync(connection, tx, written,
                    acknowledges is { } acked ? new HashSet<long> { acked } : new HashSet<long>(), ct);
            }
            catch (ChainRefusedException refused)
            {
                Integrity.Refused(refused);
                throw; // the transaction rolls back on dispose: nothing of this append stays
            }
            await tx.CommitAsync(ct);
            Integrity.Accepted();
            return head;
        }
        finally
        {
            try
            {
                await using var unlock = new NpgsqlCommand("select pg_advisory_unlock(@k)", connection);
                unlock.Parameters.AddWithValue("k", _lockKey);
                await unlock.ExecuteNonQueryAsync(CancellationToken.None);
            }
            catch (Exception) when (connection.State != System.Data.ConnectionState.Open)
            {
                // A broken connection: PostgreSQL released the lock with the session.
            }
            catch (Exception)
            {
                // Never hand a connection that may still hold the lock back to the pool.
                NpgsqlConnection.ClearPool(connection);
                throw;
            }
        }
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
