using JasperFx.Events;
using LiveEdit.Ledger.Audit;
using LiveEdit.Ledger.Edits;
using LiveEdit.Ledger.Errors;
using LiveEdit.Ledger.Projections;
using LiveEdit.Ledger.Versions;
using Marten;
using Npgsql;

namespace LiveEdit.Ledger;

// Audit: what the hash chain vouches for (an edit's chained events, its proposal, the recorded experts), verifying
// the chain, checking its head, acknowledging incidents and upgrading an unsigned chain.
public sealed partial class EditLedger
{
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

    /// <summary>
    /// An edit as its chained events hold it, from one read of its stream: what <see cref="GetProposalAsync"/>,
    /// <see cref="LoadAsync"/> and <see cref="GetHistoryAsync"/> return, read once instead of three times (and from one
    /// snapshot of the stream, so the three always agree).
    /// </summary>
    /// <exception cref="EditNotFoundException"/>
    public async Task<ChainedEdit> GetChainedEditAsync(Guid editId, CancellationToken ct = default)
    {
        var (events, version) = await FetchChainedStreamAsync(editId, ct);
        var known = Known(editId, events, version);
        return new ChainedEdit((EditProposed)events[0].Data, known.State, version, History(events));
    }

    /// <summary>Every event of an edit with its global version.</summary>
    /// <exception cref="EditNotFoundException"/>
    public async Task<IReadOnlyList<EditHistoryEntry>> GetHistoryAsync(Guid editId, CancellationToken ct = default) =>
        History((await FetchChainedStreamAsync(editId, ct)).Events);

    private static EditHistoryEntry[] History(IReadOnlyList<IEvent> events) =>
        events.Select(e => new EditHistoryEntry(e.Sequence, e.Version, e.Timestamp, e.Data)).ToArray();

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
}
