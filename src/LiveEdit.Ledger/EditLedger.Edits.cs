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
        return await session.Query<EditSummary>()
            .Where(x => (x.Status == EditStatus.Proposed || x.Status == EditStatus.Approved) && x.ExpertSha256 == null)
            .OrderBy(x => x.ProposedAt)
            .Take(take)
            .ToListAsync(ct);
    }
}
