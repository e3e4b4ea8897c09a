using LiveEdit.Ledger.Edits;
using LiveEdit.Ledger.Errors;
using LiveEdit.Ledger.Projections;
using Marten;

namespace LiveEdit.Ledger;

// Edits as the inline EditSummary projection holds them: one edit, listings, work still awaiting an expert.
public sealed partial class EditLedger
{
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
        // Written out so that the predicate is the awaiting-expert index's word for word: the planner then reads only the
        // edits still waiting, where a query through the LINQ provider scanned every summary on every reconciler pass.
        return await session.QueryAsync<EditSummary>(
            $"where {AwaitingExpertPredicate} order by (data ->> 'proposedAt')::timestamptz, id limit ?", ct, take);
    }

    /// <summary>
    /// The edits that still need an expert, as the summaries' JSON says it: proposed or approved, no expert recorded. The
    /// predicate of the awaiting-expert index (<see cref="AwaitingExpertIndexSql"/>) and of the reconciler's query alike.
    /// </summary>
    internal const string AwaitingExpertPredicate =
        $"(data ->> 'status') in ('{nameof(EditStatus.Proposed)}', '{nameof(EditStatus.Approved)}') and (data ->> 'expertSha256') is null";

    /// <summary>Name of the partial index of the edits awaiting an expert on the summaries' table.</summary>
    internal const string AwaitingExpertIndex = "ledger_awaiting_expert";

    /// <summary>
    /// A partial index of the summaries that await an expert: the reconciler's pass costs what is waiting, not every edit
    /// the ledger holds (a scan of every summary every few seconds at 100,000 edits). Created by <see cref="EnsureSchemaAsync"/>
    /// when missing, and Marten's migration is told to leave it be (<see cref="LedgerStore.ConfigureLedger"/>); without it
    /// the same query scans the summaries, slower and equally right.
    /// </summary>
    private string AwaitingExpertIndexSql() => $"""
        create index if not exists {AwaitingExpertIndex} on {_schema}.mt_doc_editsummary (id) where {AwaitingExpertPredicate};

        """;
}
