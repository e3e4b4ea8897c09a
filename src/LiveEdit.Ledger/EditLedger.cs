using System.Security.Cryptography;
using System.Text;
using JasperFx.Events;
using LiveEdit.Ledger.Audit;
using LiveEdit.Ledger.Blobs;
using LiveEdit.Ledger.Edits;
using LiveEdit.Ledger.Errors;
using LiveEdit.Ledger.Projections;
using LiveEdit.Ledger.Versions;
using Marten;
using Marten.Services;
using Marten.Storage;
using Npgsql;

namespace LiveEdit.Ledger;

/// <summary>
/// The edit ledger: commands that append events (decided by <see cref="EditDecisions"/>), the blob store,
/// model versions and time travel, and the audit hash chain. Thread-safe; create one per store.
/// </summary>
/// <remarks>
/// Every append runs under a PostgreSQL advisory lock held for the whole transaction, so global
/// sequences are assigned and committed in order: a version, once visible, never changes, and the
/// hash chain is total. Commands read the edit without the lock and append with an expected stream
/// version; a writer that lost a race gets <see cref="ConcurrencyConflictException"/>. Any
/// <see cref="LedgerException"/> from a command means nothing was written.
/// </remarks>
public sealed class EditLedger
{
    private readonly IDocumentStore _store;
    private readonly LedgerOptions _options;
    private readonly string _schema;
    private readonly string _events;
    private readonly long _lockKey;
    private readonly HashChain _chain;

    /// <summary>A ledger over a store configured with <see cref="LedgerStore.ConfigureLedger"/>.</summary>
    public EditLedger(IDocumentStore store, LedgerOptions? options = null)
    {
        _store = store;
        _options = options ?? new LedgerOptions();
        _schema = store.Options.Events.DatabaseSchemaName;
        _events = $"{_schema}.mt_events";
        _lockKey = BitConverter.ToInt64(SHA256.HashData(Encoding.UTF8.GetBytes("liveedit-ledger:" + _schema)), 0);
        _chain = new HashChain(_schema);
        Blobs = new BlobStore(Connect, _schema, _options.MaxBlobBytes);
    }

    /// <summary>The content-addressed blob store in the same database.</summary>
    public BlobStore Blobs { get; }

    /// <summary>The approval policy in force.</summary>
    public ApprovalPolicy Policy => _options.Policy;

    /// <summary>Key of the PostgreSQL advisory lock that serialises appends to this ledger's schema.</summary>
    public long AppendLockKey => _lockKey;

    /// <summary>The underlying Marten store (for the async daemon and custom queries).</summary>
    public IDocumentStore Store => _store;

    /// <summary>Creates Marten's tables and the ledger's blob and chain tables if missing. Idempotent.</summary>
    public async Task EnsureSchemaAsync(CancellationToken ct = default)
    {
        await _store.Storage.ApplyAllConfiguredChangesToDatabaseAsync();
        await using var connection = Connect();
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand(BlobStore.SchemaSql(_schema) + HashChain.SchemaSql(_schema), connection);
        await command.ExecuteNonQueryAsync(ct);
    }

    // ---------------------------------------------------------------- commands

    /// <summary>Proposes an edit (and approves it in the same transaction under <see cref="ApprovalPolicy.AutoApprove"/>).</summary>
    public async Task<EditCommandResult> ProposeAsync(ProposeEdit command, CancellationToken ct = default)
    {
        var now = _options.Clock.GetUtcNow();
        var proposed = EditDecisions.Handle(command, now);
        await Blobs.RequireAsync(proposed.ImageSha256, "imageSha256", ct);
        if (proposed.Supersedes is { } older) await LoadAsync(older, ct);
        var events = new List<object> { proposed };
        if (_options.Policy == ApprovalPolicy.AutoApprove)
            events.Add(EditDecisions.Handle(Edit.Create(proposed), new ApproveEdit(proposed.EditId, _options.AutoApprover), ApprovalPolicy.AutoApprove, now));
        var head = await AppendAsync([new StreamAppend(proposed.EditId, null, events)], ct);
        return new EditCommandResult(proposed.EditId, events.Count, head, events);
    }

    /// <summary>Approves an edit; activates it in the same transaction when its expert already exists.</summary>
    /// <param name="expectedVersion">The stream version the caller saw, or null to use the one just read.</param>
    public Task<EditCommandResult> ApproveAsync(ApproveEdit command, long? expectedVersion = null, CancellationToken ct = default) =>
        ExecuteAsync(command.EditId, expectedVersion, (s, now) => EditDecisions.Handle(s, command, _options.Policy, now), null, ct);

    /// <summary>Rejects an edit that is not active.</summary>
    public Task<EditCommandResult> RejectAsync(RejectEdit command, long? expectedVersion = null, CancellationToken ct = default) =>
        ExecuteAsync(command.EditId, expectedVersion, (s, now) => EditDecisions.Handle(s, command, now), null, ct);

    /// <summary>Records a generated expert; activates the edit in the same transaction when it is approved.</summary>
    /// <remarks>A second worker racing on the same edit gets <see cref="ConcurrencyConflictException"/> or
    /// <see cref="InvalidEditTransitionException"/>: exactly one <c>ExpertGenerated</c> is ever appended.</remarks>
    public Task<EditCommandResult> RecordExpertAsync(RecordExpert command, long? expectedVersion = null, CancellationToken ct = default) =>
        ExecuteAsync(command.EditId, expectedVersion, (s, now) => EditDecisions.Handle(s, command, now),
            token => Blobs.RequireAsync(command.ExpertSha256, "expertSha256", token), ct);

    /// <summary>Activates an approved edit with an expert (normally done by the ledger itself).</summary>
    public Task<EditCommandResult> ActivateAsync(ActivateEdit command, long? expectedVersion = null, CancellationToken ct = default) =>
        ExecuteAsync(command.EditId, expectedVersion, (s, now) => EditDecisions.Handle(s, command, now), null, ct);

    /// <summary>Retracts an edit; from the returned version on it is not part of the model.</summary>
    public Task<EditCommandResult> RetractAsync(RetractEdit command, long? expectedVersion = null, CancellationToken ct = default) =>
        ExecuteAsync(command.EditId, expectedVersion, (s, now) => EditDecisions.Handle(s, command, now), null, ct);

    private async Task<EditCommandResult> ExecuteAsync(
        Guid editId, long? expectedVersion, Func<Edit, DateTimeOffset, object> decide, Func<CancellationToken, Task>? precondition, CancellationToken ct)
    {
        var (state, version) = await LoadAsync(editId, ct);
        if (expectedVersion is { } expected && expected != version) throw new ConcurrencyConflictException(editId, expected, version);
        var now = _options.Clock.GetUtcNow();
        var first = decide(state, now);
        if (precondition is not null) await precondition(ct);

        var events = new List<object> { first };
        state = Edit.Next(state, first);
        if (EditDecisions.ActivationDue(state, now) is { } activated)
        {
            events.Add(activated);
            state = Edit.Next(state, activated);
        }

        var appends = new List<StreamAppend> { new(editId, version, events) };
        if (events.Any(e => e is EditActivated) && state.Supersedes is { } olderId)
        {
            var (older, olderVersion) = await LoadAsync(olderId, ct);
            // The older edit leaves first: no sequence number inside this transaction has both experts active.
            if (EditDecisions.SupersessionDue(older, editId, now) is { } superseded)
                appends.Insert(0, new StreamAppend(olderId, olderVersion, [superseded]));
        }

        var head = await AppendAsync(appends, ct);
        return new EditCommandResult(editId, version + events.Count, head, appends.SelectMany(a => a.Events).ToArray());
    }

    private sealed record StreamAppend(Guid EditId, long? VersionBefore, IReadOnlyList<object> Events);

    private async Task<long> AppendAsync(IReadOnlyList<StreamAppend> appends, CancellationToken ct)
    {
        await using var connection = Connect();
        await connection.OpenAsync(ct);
        // Session-level lock taken before BEGIN and held until after COMMIT: sequence numbers are drawn and
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
            await using (var session = _store.LightweightSession(SessionOptions.ForTransaction(tx, false)))
            {
                foreach (var append in appends)
                {
                    if (append.VersionBefore is { } before)
                        session.Events.Append(append.EditId, before + append.Events.Count, append.Events.ToArray());
                    else
                        session.Events.StartStream<EditSummary>(append.EditId, append.Events.ToArray());
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
            var head = await _chain.ExtendAsync(connection, tx, ct);
            await tx.CommitAsync(ct);
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

    // ---------------------------------------------------------------- reads of one edit

    /// <summary>The decision state of an edit and its stream version.</summary>
    /// <exception cref="EditNotFoundException"/>
    public async Task<(Edit Edit, long Version)> LoadAsync(Guid editId, CancellationToken ct = default)
    {
        await using var session = _store.QuerySession();
        var events = await session.Events.FetchStreamAsync(editId, token: ct);
        if (events.Count == 0) throw new EditNotFoundException(editId);
        return (Edit.Fold(events.Select(e => e.Data))!, events[^1].Version);
    }

    /// <summary>The inline summary of an edit.</summary>
    /// <exception cref="EditNotFoundException"/>
    public async Task<EditSummary> GetEditAsync(Guid editId, CancellationToken ct = default)
    {
        await using var session = _store.QuerySession();
        return await session.LoadAsync<EditSummary>(editId, ct) ?? throw new EditNotFoundException(editId);
    }

    /// <summary>Summaries of edits, newest proposal first, optionally of one status.</summary>
    public async Task<IReadOnlyList<EditSummary>> ListEditsAsync(EditStatus? status = null, int skip = 0, int take = 100, CancellationToken ct = default)
    {
        if (take is < 1 or > 10_000) throw new InvalidEditInputException("take", "must be in 1..10000.");
        if (skip < 0) throw new InvalidEditInputException("skip", "must not be negative.");
        await using var session = _store.QuerySession();
        IQueryable<EditSummary> query = session.Query<EditSummary>();
        if (status is { } wanted) query = query.Where(x => x.Status == wanted);
        return await query.OrderByDescending(x => x.ProposedAt).Skip(skip).Take(take).ToListAsync(ct);
    }

    /// <summary>Summaries of the edits one user proposed (all edits when <paramref name="proposedBy"/> is null), newest first.</summary>
    public async Task<IReadOnlyList<EditSummary>> ListEditsAsync(EditStatus? status, string? proposedBy, int skip = 0, int take = 100, CancellationToken ct = default)
    {
        if (proposedBy is null) return await ListEditsAsync(status, skip, take, ct);
        if (take is < 1 or > 10_000) throw new InvalidEditInputException("take", "must be in 1..10000.");
        if (skip < 0) throw new InvalidEditInputException("skip", "must not be negative.");
        await using var session = _store.QuerySession();
        IQueryable<EditSummary> query = session.Query<EditSummary>().Where(x => x.ProposedBy == proposedBy);
        if (status is { } wanted) query = query.Where(x => x.Status == wanted);
        return await query.OrderByDescending(x => x.ProposedAt).Skip(skip).Take(take).ToListAsync(ct);
    }

    /// <summary>
    /// Edits that still need an expert (proposed or approved, none recorded), oldest first: what a
    /// reconciler re-publishes when a generation message was lost.
    /// </summary>
    public async Task<IReadOnlyList<EditSummary>> ListEditsAwaitingExpertAsync(int take = 1_000, CancellationToken ct = default)
    {
        if (take is < 1 or > 10_000) throw new InvalidEditInputException("take", "must be in 1..10000.");
        await using var session = _store.QuerySession();
        return await session.Query<EditSummary>()
            .Where(x => (x.Status == EditStatus.Proposed || x.Status == EditStatus.Approved) && x.ExpertSha256 == null)
            .OrderBy(x => x.ProposedAt)
            .Take(take)
            .ToListAsync(ct);
    }

    /// <summary>Every event of an edit with its global version.</summary>
    /// <exception cref="EditNotFoundException"/>
    public async Task<IReadOnlyList<EditHistoryEntry>> GetHistoryAsync(Guid editId, CancellationToken ct = default)
    {
        await using var session = _store.QuerySession();
        var events = await session.Events.FetchStreamAsync(editId, token: ct);
        if (events.Count == 0) throw new EditNotFoundException(editId);
        return events.Select(e => new EditHistoryEntry(e.Sequence, e.Version, e.Timestamp, e.Data)).ToArray();
    }

    // ---------------------------------------------------------------- versions and time travel

    /// <summary>The current model version: the global sequence of the last event (0 for an empty ledger).</summary>
    public async Task<long> GetHeadAsync(CancellationToken ct = default)
    {
        await using var connection = Connect();
        await connection.OpenAsync(ct);
        return await HeadAsync(connection, ct);
    }

    private async Task<long> HeadAsync(NpgsqlConnection connection, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand($"select coalesce(max(seq_id), 0) from {_events} where type <> '{EventTypeNames.MartenTombstone}'", connection);
        return (long)(await command.ExecuteScalarAsync(ct))!;
    }

    /// <summary>The version in force at <paramref name="asOf"/>: the last event at or before it.</summary>
    /// <exception cref="VersionBeforeFirstEventException"/>
    public async Task<long> GetVersionAtAsync(DateTimeOffset asOf, CancellationToken ct = default)
    {
        await using var connection = Connect();
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand(
            $"select (select max(seq_id) from {_events} where timestamp <= @t and type <> '{EventTypeNames.MartenTombstone}'), (select min(timestamp) from {_events} where type <> '{EventTypeNames.MartenTombstone}')", connection);
        command.Parameters.AddWithValue("t", asOf.ToUniversalTime());
        await using var reader = await command.ExecuteReaderAsync(ct);
        await reader.ReadAsync(ct);
        if (reader.IsDBNull(0))
            throw new VersionBeforeFirstEventException(asOf, reader.IsDBNull(1) ? null : new DateTimeOffset(reader.GetFieldValue<DateTime>(1), TimeSpan.Zero));
        return reader.GetInt64(0);
    }

    /// <summary>The active expert set at the head.</summary>
    public async Task<ActiveExpertSet> GetActiveExpertsAsync(CancellationToken ct = default)
    {
        await using var connection = Connect();
        await connection.OpenAsync(ct);
        return await ActiveAtAsync(connection, await HeadAsync(connection, ct), ct);
    }

    /// <summary>The active expert set at version <paramref name="version"/>, in activation order; the same however many events follow.</summary>
    /// <exception cref="VersionOutOfRangeException"/>
    public async Task<ActiveExpertSet> GetActiveExpertsAsync(long version, CancellationToken ct = default)
    {
        await using var connection = Connect();
        await connection.OpenAsync(ct);
        await RequireVersionAsync(connection, version, ct);
        return await ActiveAtAsync(connection, version, ct);
    }

    /// <summary>The active expert set in force at <paramref name="asOf"/>.</summary>
    /// <exception cref="VersionBeforeFirstEventException"/>
    public async Task<ActiveExpertSet> GetActiveExpertsAsync(DateTimeOffset asOf, CancellationToken ct = default) =>
        await GetActiveExpertsAsync(await GetVersionAtAsync(asOf, ct), ct);

    /// <summary>
    /// The active set at <paramref name="version"/> read from the inline <see cref="EditSummary"/> documents
    /// instead of the raw events. Same result; kept for comparison and benchmarks.
    /// </summary>
    public async Task<ActiveExpertSet> GetActiveExpertsFromSummariesAsync(long version, CancellationToken ct = default)
    {
        await using (var connection = Connect())
        {
            await connection.OpenAsync(ct);
            await RequireVersionAsync(connection, version, ct);
        }
        await using var session = _store.QuerySession();
        var rows = await session.Query<EditSummary>()
            .Where(x => x.ActivatedAtVersion != null && x.ActivatedAtVersion <= version && (x.RemovedAtVersion == null || x.RemovedAtVersion > version))
            .OrderBy(x => x.ActivatedAtVersion)
            .Select(x => new { x.Id, x.ExpertSha256, x.ActivatedAtVersion, x.ActivatedAt })
            .ToListAsync(ct);
        return new ActiveExpertSet(version, rows.Select(r => new ActiveExpert(r.Id, r.ExpertSha256!, r.ActivatedAtVersion!.Value, r.ActivatedAt!.Value)).ToArray());
    }

    private async Task RequireVersionAsync(NpgsqlConnection connection, long version, CancellationToken ct)
    {
        var head = await HeadAsync(connection, ct);
        if (version < 0 || version > head) throw new VersionOutOfRangeException(version, head);
    }

    private async Task<ActiveExpertSet> ActiveAtAsync(NpgsqlConnection connection, long version, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand($"""
            select a.stream_id, a.data->>'expertSha256', a.seq_id, a.timestamp
            from {_events} a
            where a.type = '{EventTypeNames.Activated}' and a.seq_id <= @v
              and not exists (
                select 1 from {_events} r
                where r.stream_id = a.stream_id and r.seq_id <= @v
                  and r.type in ('{EventTypeNames.Retracted}', '{EventTypeNames.Superseded}'))
            order by a.seq_id
            """, connection);
        command.Parameters.AddWithValue("v", version);
        var experts = new List<ActiveExpert>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
            experts.Add(new ActiveExpert(reader.GetGuid(0), reader.GetString(1), reader.GetInt64(2),
                new DateTimeOffset(reader.GetFieldValue<DateTime>(3), TimeSpan.Zero)));
        return new ActiveExpertSet(version, experts);
    }

    /// <summary>Versions after <paramref name="after"/>, oldest first, with what changed at each.</summary>
    /// <param name="modelChangesOnly">Only versions at which the active expert set changed.</param>
    public async Task<IReadOnlyList<LedgerVersion>> ListVersionsAsync(long after = 0, int limit = 1_000, bool modelChangesOnly = false, CancellationToken ct = default)
    {
        if (limit is < 1 or > 100_000) throw new InvalidEditInputException("limit", "must be in 1..100000.");
        await using var connection = Connect();
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand($"""
            select * from (
              select e.seq_id, e.timestamp, e.stream_id, e.type,
                     e.type = '{EventTypeNames.Activated}'
                     or (e.type in ('{EventTypeNames.Retracted}', '{EventTypeNames.Superseded}')
                         and exists (select 1 from {_events} a where a.stream_id = e.stream_id and a.type = '{EventTypeNames.Activated}' and a.seq_id < e.seq_id)
                         and not exists (select 1 from {_events} r where r.stream_id = e.stream_id and r.seq_id < e.seq_id
                                         and r.type in ('{EventTypeNames.Retracted}', '{EventTypeNames.Superseded}'))) as changes_model
              from {_events} e
              where e.seq_id > @after and e.type <> '{EventTypeNames.MartenTombstone}'
                and (not @only or e.type in ('{EventTypeNames.Activated}', '{EventTypeNames.Retracted}', '{EventTypeNames.Superseded}'))
            ) v
            where not @only or v.changes_model
            order by v.seq_id
            limit @limit
            """, connection);
        command.Parameters.AddWithValue("after", after);
        command.Parameters.AddWithValue("only", modelChangesOnly);
        command.Parameters.AddWithValue("limit", limit);
        var versions = new List<LedgerVersion>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
            versions.Add(new LedgerVersion(reader.GetInt64(0), new DateTimeOffset(reader.GetFieldValue<DateTime>(1), TimeSpan.Zero),
                reader.GetGuid(2), ChangeOf(reader.GetString(3)), reader.GetBoolean(4)));
        return versions;
    }

    private static LedgerChange ChangeOf(string type) => type switch
    {
        EventTypeNames.Proposed => LedgerChange.Proposed,
        EventTypeNames.Approved => LedgerChange.Approved,
        EventTypeNames.Rejected => LedgerChange.Rejected,
        EventTypeNames.ExpertGenerated => LedgerChange.ExpertGenerated,
        EventTypeNames.Activated => LedgerChange.Activated,
        EventTypeNames.Retracted => LedgerChange.Retracted,
        EventTypeNames.Superseded => LedgerChange.Superseded,
        _ => throw new InvalidOperationException($"Unknown event type '{type}' in the ledger."),
    };

    /// <summary>What changed in the active set between two versions.</summary>
    /// <exception cref="VersionOutOfRangeException"/>
    public async Task<VersionDiff> DiffAsync(long from, long to, CancellationToken ct = default)
    {
        await using var connection = Connect();
        await connection.OpenAsync(ct);
        await RequireVersionAsync(connection, from, ct);
        await RequireVersionAsync(connection, to, ct);
        var before = await ActiveAtAsync(connection, from, ct);
        var after = await ActiveAtAsync(connection, to, ct);
        var beforeIds = before.Experts.Select(e => e.EditId).ToHashSet();
        var afterIds = after.Experts.Select(e => e.EditId).ToHashSet();
        return new VersionDiff(from, to,
            after.Experts.Where(e => !beforeIds.Contains(e.EditId)).ToArray(),
            before.Experts.Where(e => !afterIds.Contains(e.EditId)).ToArray());
    }

    /// <summary>The visual-key index as last written by the async daemon (may lag the head; see <see cref="VisualKeyIndex.LastVersion"/>).</summary>
    public async Task<VisualKeyIndex?> GetVisualKeyIndexAsync(CancellationToken ct = default)
    {
        await using var session = _store.QuerySession();
        return await session.LoadAsync<VisualKeyIndex>(VisualKeyIndex.DocumentId, ct);
    }

    // ---------------------------------------------------------------- audit

    /// <summary>Walks every event record against the hash chain and reports the first break.</summary>
    public async Task<LedgerVerification> VerifyAsync(CancellationToken ct = default)
    {
        await using var connection = Connect();
        await connection.OpenAsync(ct);
        return await _chain.VerifyAsync(connection, ct);
    }

    private NpgsqlConnection Connect() => _store.Storage.Database.CreateConnection(ConnectionUsage.ReadWrite);
}
