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
public sealed partial class EditLedger
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
        _chain = new HashChain(_schema, _options.ChainKey ?? LedgerChainKey.Development);
        Blobs = new BlobStore(Connect, _schema, _options.MaxBlobBytes);
    }

    /// <summary>The content-addressed blob store in the same database.</summary>
    public BlobStore Blobs { get; }

    /// <summary>The ledger's last refusal to extend its chain, for health checks.</summary>
    public LedgerIntegrity Integrity { get; } = new();

    /// <summary>
    /// The ledger's own stream: <see cref="LedgerIncidentAcknowledged"/> events. Not an edit: never in edit
    /// listings, histories, versions or the model.
    /// </summary>
    public static readonly Guid IncidentStreamId = Guid.Parse("1ed9e700-0000-4000-8000-00000000c4a1");

    /// <summary>The approval policy in force.</summary>
    public ApprovalPolicy Policy => _options.Policy;

    /// <summary>Key of the PostgreSQL advisory lock that serialises appends to this ledger's schema.</summary>
    public long AppendLockKey => _lockKey;

    /// <summary>The underlying Marten store (for the async daemon and custom queries).</summary>
    public IDocumentStore Store => _store;

    /// <summary>Creates Marten's tables and the ledger's blob and chain tables if missing. Idempotent.</summary>
    public async Task EnsureSchemaAsync(CancellationToken ct = default)
    {
        await _store.Storage.ApplyAllConfiguredChangesToDatabaseAsync(JasperFx.AutoCreate.CreateOrUpdate);
        await using var connection = Connect();
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand(BlobStore.SchemaSql(_schema) + HashChain.SchemaSql(_schema), connection);
        await command.ExecuteNonQueryAsync(ct);
    }

    /// <summary>
    /// Creates or updates every object of the ledger (connected as the owner role), adds the insert-only triggers
    /// on events, chain and blobs, and grants <paramref name="appRole"/> (when given) what serving needs: no
    /// UPDATE, DELETE or TRUNCATE on those tables. Idempotent. See <see cref="Storage.LedgerSchema"/>.
    /// </summary>
    public async Task MigrateAsync(string? appRole, CancellationToken ct = default)
    {
        await EnsureSchemaAsync(ct);
        await using var connection = Connect();
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand(Storage.LedgerSchema.ProtectionSql(_schema, appRole), connection);
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

    /// <summary>Records that the edit's expert can never be generated; the edit is Failed and no work is sent for it again.</summary>
    public Task<EditCommandResult> RecordGenerationFailureAsync(RecordGenerationFailure command, long? expectedVersion = null, CancellationToken ct = default) =>
        ExecuteAsync(command.EditId, expectedVersion, (s, now) => EditDecisions.Handle(s, command, now), null, ct);

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

    // ---------------------------------------------------------------- reads of one edit

    /// <summary>The decision state of an edit and its stream version.</summary>
    /// <exception cref="EditNotFoundException"/>
    /// <remarks>The state folds only chained events (a row inserted behind the ledger's back never decides
    /// anything); the version is the stream's last, so the next append does not collide with such a row.</remarks>
    public async Task<(Edit Edit, long Version)> LoadAsync(Guid editId, CancellationToken ct = default)
    {
        var (events, version) = await FetchChainedStreamAsync(editId, ct);
        return (Edit.Fold(events.Select(e => e.Data))!, version);
    }

    /// <summary>The chained events of an edit's stream, and the stream's last version (chained or not).</summary>
    private async Task<(IReadOnlyList<IEvent> Events, long Version)> FetchChainedStreamAsync(Guid editId, CancellationToken ct)
    {
        if (editId == IncidentStreamId || editId == RoutingPolicyStreamId) throw new EditNotFoundException(editId);
        await using var session = _store.QuerySession();
        var events = await session.Events.FetchStreamAsync(editId, token: ct);
        if (events.Count == 0) throw new EditNotFoundException(editId);
        IReadOnlySet<long> authentic;
        await using (var connection = Connect())
        {
            await connection.OpenAsync(ct);
            // Only rows whose chain entry carries this ledger's MAC for that very row: a row inserted with a
            // home-made chain entry (a forged approval, say) never reaches a decision.
            authentic = await _chain.AuthenticAsync(connection, events.Select(e => e.Sequence).ToArray(), ct);
        }
        var kept = events.Where(e => authentic.Contains(e.Sequence)).ToArray();
        if (kept.Length == 0 || kept[0].Data is not EditProposed) throw new EditNotFoundException(editId);
        return (kept, events[^1].Version);
    }

    /// <summary>The chained proposal of an edit: the prompt, target and image hash that decide its expert.</summary>
    /// <exception cref="EditNotFoundException"/>
    public async Task<EditProposed> GetProposalAsync(Guid editId, CancellationToken ct = default)
    {
        var (events, _) = await FetchChainedStreamAsync(editId, ct);
        return (EditProposed)events[0].Data;
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

    /// <summary>Every <see cref="ExpertGenerated"/> event in the ledger, in sequence order: the recorded experts as the chained events hold them.</summary>
    public async Task<IReadOnlyList<ExpertGenerated>> ListRecordedExpertsAsync(CancellationToken ct = default)
    {
        await using var session = _store.QuerySession();
        var events = await session.Events.QueryAllRawEvents()
            .Where(e => e.EventTypeName == EventTypeNames.ExpertGenerated)
            .OrderBy(e => e.Sequence)
            .ToListAsync(ct);
        return events.Select(e => e.Data).OfType<ExpertGenerated>().ToArray();
    }

    /// <summary>Every event of an edit with its global version.</summary>
    /// <exception cref="EditNotFoundException"/>
    public async Task<IReadOnlyList<EditHistoryEntry>> GetHistoryAsync(Guid editId, CancellationToken ct = default)
    {
        var (events, _) = await FetchChainedStreamAsync(editId, ct);
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
        // Only chained events are versions: the chain's primary key answers this without reading mt_events.
        await using var command = new NpgsqlCommand($"select coalesce(max(seq_id), 0) from {_schema}.ledger_chain", connection);
        return (long)(await command.ExecuteScalarAsync(ct))!;
    }

    /// <summary>The version in force at <paramref name="asOf"/>: the last event at or before it.</summary>
    /// <exception cref="VersionBeforeFirstEventException"/>
    public async Task<long> GetVersionAtAsync(DateTimeOffset asOf, CancellationToken ct = default)
    {
        await using var connection = Connect();
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand(
            $"select (select max(e.seq_id) from {_events} e {Chained("e")} where e.timestamp <= @t), (select min(e.timestamp) from {_events} e {Chained("e")})", connection);
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
        // Activations and removals up to the version, chained; then only those whose chain entry is authentic (a
        // row inserted with a home-made chain entry must not add or remove an expert).
        var rows = new List<(long Seq, Guid Stream, string Type, string? Expert, DateTime Timestamp)>();
        await using (var command = new NpgsqlCommand($"""
            select a.seq_id, a.stream_id, a.type, a.data->>'expertSha256', a.timestamp
            from {_events} a {Chained("a")}
            where a.seq_id <= @v and a.type in ('{EventTypeNames.Activated}', '{EventTypeNames.Retracted}', '{EventTypeNames.Superseded}')
            order by a.seq_id
            """, connection))
        {
            command.Parameters.AddWithValue("v", version);
            await using var reader = await command.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
                rows.Add((reader.GetInt64(0), reader.GetGuid(1), reader.GetString(2), reader.IsDBNull(3) ? null : reader.GetString(3), reader.GetFieldValue<DateTime>(4)));
        }
        var authentic = await _chain.AuthenticAsync(connection, rows.Select(r => r.Seq).ToArray(), ct);
        var removed = rows.Where(r => r.Type != EventTypeNames.Activated && authentic.Contains(r.Seq)).Select(r => r.Stream).ToHashSet();
        var experts = rows
            .Where(r => r.Type == EventTypeNames.Activated && r.Expert is not null && authentic.Contains(r.Seq) && !removed.Contains(r.Stream))
            .Select(r => new ActiveExpert(r.Stream, r.Expert!, r.Seq, new DateTimeOffset(r.Timestamp, TimeSpan.Zero)))
            .ToArray();
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
                     e.type in ('{EventTypeNames.Activated}', '{EventTypeNames.RoutingPolicySet}')
                     or (e.type in ('{EventTypeNames.Retracted}', '{EventTypeNames.Superseded}')
                         and exists (select 1 from {_events} a {Chained("a")} where a.stream_id = e.stream_id and a.type = '{EventTypeNames.Activated}' and a.seq_id < e.seq_id)
                         and not exists (select 1 from {_events} r {Chained("r")} where r.stream_id = e.stream_id and r.seq_id < e.seq_id
                                         and r.type in ('{EventTypeNames.Retracted}', '{EventTypeNames.Superseded}'))) as changes_model
              from {_events} e {Chained("e")}
              where e.seq_id > @after and e.type <> '{EventTypeNames.IncidentAcknowledged}'
                and (not @only or e.type in ('{EventTypeNames.Activated}', '{EventTypeNames.Retracted}', '{EventTypeNames.Superseded}', '{EventTypeNames.RoutingPolicySet}'))
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
        EventTypeNames.GenerationFailed => LedgerChange.GenerationFailed,
        EventTypeNames.RoutingPolicySet => LedgerChange.RoutingPolicySet,
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
        var policies = await ReadPoliciesAsync(connection, null, ct);
        return new VersionDiff(from, to,
            after.Experts.Where(e => !beforeIds.Contains(e.EditId)).ToArray(),
            before.Experts.Where(e => !afterIds.Contains(e.EditId)).ToArray())
        {
            PolicyFrom = PolicyAt(policies, from),
            PolicyTo = PolicyAt(policies, to),
        };
    }

    /// <summary>The visual-key index as last written by the async daemon (may lag the head; see <see cref="VisualKeyIndex.LastVersion"/>).</summary>
    public async Task<VisualKeyIndex?> GetVisualKeyIndexAsync(CancellationToken ct = default)
    {
        await using var session = _store.QuerySession();
        return await session.LoadAsync<VisualKeyIndex>(VisualKeyIndex.DocumentId, ct);
    }

    // ---------------------------------------------------------------- audit

    /// <summary>
    /// Walks every event record against the hash chain (links, record hashes, MACs, rows inserted in gaps or
    /// after the last entry) and every <see cref="EditSummary"/> row against its edit's chained events; lists
    /// every break, and every incident acknowledged with <see cref="AcknowledgeIncidentAsync"/>.
    /// </summary>
    public async Task<LedgerVerification> VerifyAsync(CancellationToken ct = default)
    {
        Dictionary<Guid, EditSummary> summaries;
        await using (var session = _store.QuerySession())
            summaries = (await session.Query<EditSummary>().ToListAsync(ct)).ToDictionary(x => x.Id);
        await using var connection = Connect();
        await connection.OpenAsync(ct);
        return await _chain.VerifyAsync(connection, summaries, ct);
    }

    /// <summary>
    /// Checks, without appending, what every append checks first: the chain head's MAC and row, and that no row the
    /// ledger did not write sits above it. Returns null when appends are accepted, else the refusal (also kept in
    /// <see cref="Integrity"/>). Two small queries; for health checks.
    /// </summary>
    public async Task<ChainRefusedException?> CheckChainAsync(CancellationToken ct = default)
    {
        await using var connection = Connect();
        await connection.OpenAsync(ct);
        await using var tx = await connection.BeginTransactionAsync(System.Data.IsolationLevel.RepeatableRead, ct);
        var refusal = await _chain.CheckHeadAsync(connection, tx, ct);
        await tx.RollbackAsync(ct);
        if (refusal is null) Integrity.Accepted();
        else Integrity.Refused(refusal);
        return refusal;
    }

    /// <summary>
    /// Records, as a chained <see cref="LedgerIncidentAcknowledged"/> event, that the row at <paramref name="sequence"/>
    /// was inserted, changed or deleted behind the ledger's back. The row stays where it is, visible for ever:
    /// <see cref="VerifyAsync"/> reports it as acknowledged instead of as a break, and appends refused because of it
    /// resume. Reads that decide the model keep ignoring it. Meant for the database owner (<c>liveedit ledger acknowledge</c>).
    /// </summary>
    /// <exception cref="InvalidEditInputException">Empty or over-long reason or actor; nothing wrong at <paramref name="sequence"/>; already acknowledged.</exception>
    public async Task<IncidentAcknowledgement> AcknowledgeIncidentAsync(long sequence, string reason, string acknowledgedBy, CancellationToken ct = default)
    {
        if (sequence < 1) throw new InvalidEditInputException("sequence", "must be a positive event sequence.");
        if (string.IsNullOrWhiteSpace(reason)) throw new InvalidEditInputException("reason", "must not be empty.");
        if (reason.Length > EditLimits.MaxRationaleLength) throw new InvalidEditInputException("reason", $"must be at most {EditLimits.MaxRationaleLength} characters, got {reason.Length}.");
        if (string.IsNullOrWhiteSpace(acknowledgedBy)) throw new InvalidEditInputException("acknowledgedBy", "must not be empty.");
        if (acknowledgedBy.Length > EditLimits.MaxActorLength) throw new InvalidEditInputException("acknowledgedBy", $"must be at most {EditLimits.MaxActorLength} characters, got {acknowledgedBy.Length}.");
        LedgerIncidentAcknowledged? acknowledged = null;
        var version = await AppendAsync(async (connection, tx, token) =>
        {
            var (kind, sha, _) = await _chain.DescribeIncidentAsync(connection, tx, sequence, token);
            acknowledged = new LedgerIncidentAcknowledged(IncidentStreamId, sequence, kind, sha, reason, acknowledgedBy.Trim(), _options.Clock.GetUtcNow());
            return ([new StreamAppend(IncidentStreamId, null, [acknowledged], LedgerStream: true)], sequence);
        }, ct);
        return new IncidentAcknowledgement(version, acknowledged!);
    }

    /// <summary>
    /// Re-chains, with MACs under this ledger's key, a ledger whose every chain entry is in the earlier unsigned format,
    /// after walking that chain with the earlier algorithm (refused on any break, mixed entries or unchained rows; nothing
    /// changes then). Returns the number of entries re-chained, 0 when there is nothing to upgrade. An explicit owner's
    /// step, never automatic: the unsigned format needs no key, so whoever rewrote it consistently would get the rewrite
    /// signed. Run it once after upgrading, having verified the ledger with the earlier release or against a checkpoint.
    /// Needs the table owner (the chain's insert-only trigger is disabled for the rewrite).
    /// </summary>
    /// <exception cref="InvalidOperationException">The unsigned chain does not verify.</exception>
    public async Task<int> UpgradeUnsignedChainAsync(CancellationToken ct = default)
    {
        await using var connection = Connect();
        await connection.OpenAsync(ct);
        await using (var take = new NpgsqlCommand("select pg_advisory_lock(@k)", connection))
        {
            take.Parameters.AddWithValue("k", _lockKey);
            await take.ExecuteNonQueryAsync(ct);
        }
        try
        {
            await using var tx = await connection.BeginTransactionAsync(ct);
            var count = await _chain.UpgradeUnsignedAsync(connection, tx, ct);
            await tx.CommitAsync(ct);
            return count;
        }
        finally
        {
            await using var release = new NpgsqlCommand("select pg_advisory_unlock(@k)", connection);
            release.Parameters.AddWithValue("k", _lockKey);
            await release.ExecuteNonQueryAsync(CancellationToken.None);
        }
    }

    /// <summary>SQL join that keeps only rows of <paramref name="alias"/> (mt_events) at a sequence the ledger chained.</summary>
    /// <remarks>On the sequence alone (a primary-key join): also matching the event id doubles the active-set query's time
    /// (the planner misjudges the two-column join) and stops no one, since whoever can replace a chained row can copy its
    /// id. A row changed at a chained sequence is caught by the next append's head check or by verify, not here.</remarks>
    private string Chained(string alias) => $"join {_schema}.ledger_chain c_{alias} on c_{alias}.seq_id = {alias}.seq_id";

    private NpgsqlConnection Connect() => _store.Storage.Database.CreateConnection(ConnectionUsage.ReadWrite);
}
