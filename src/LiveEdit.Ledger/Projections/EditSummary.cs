using JasperFx.Events;
using LiveEdit.Ledger.Edits;
using Marten.Events.Aggregation;

namespace LiveEdit.Ledger.Projections;

/// <summary>
/// One document per edit, updated inline in the transaction that appends the edit's events.
/// <see cref="ActivatedAtVersion"/> and <see cref="RemovedAtVersion"/> are global sequences (and
/// <see cref="ActivatedAt"/> the activation record's timestamp), so the active set at a version can also
/// be read from these documents. The <c>…By</c>/<c>…At</c> payload fields come from the events.
/// </summary>
public sealed record EditSummary(
    Guid Id,
    string ImageSha256,
    string Prompt,
    string Target,
    string Rationale,
    string ProposedBy,
    IReadOnlyList<string> Tags,
    Guid? Supersedes,
    EditStatus Status,
    string? ApprovedBy,
    string? RejectedBy,
    string? ExpertSha256,
    string? GeneratorSha256,
    string? WorkerId,
    long? ActivatedAtVersion,
    DateTimeOffset? ActivatedAt,
    long? RemovedAtVersion,
    string? RetractedBy,
    string? Reason,
    Guid? SupersededBy,
    long Version,
    DateTimeOffset ProposedAt,
    DateTimeOffset UpdatedAt);

/// <summary>Builds <see cref="EditSummary"/> inline.</summary>
public sealed class EditSummaryProjection : SingleStreamProjection<EditSummary, Guid>
{
    public override EditSummary? Evolve(EditSummary? snapshot, Guid id, IEvent e)
    {
        var s = (snapshot, e.Data) switch
        {
            (null, EditProposed p) => new EditSummary(p.EditId, p.ImageSha256, p.Prompt, p.Target, p.Rationale, p.ProposedBy, p.Tags,
                p.Supersedes, EditStatus.Proposed, null, null, null, null, null, null, null, null, null, null, null, 0, p.ProposedAt, p.ProposedAt),
            (not null, EditApproved a) => snapshot with { Status = EditStatus.Approved, ApprovedBy = a.ApprovedBy, UpdatedAt = a.ApprovedAt },
            (not null, EditRejected r) => snapshot with { Status = EditStatus.Rejected, RejectedBy = r.RejectedBy, Reason = r.Reason, UpdatedAt = r.RejectedAt },
            (not null, ExpertGenerated g) => snapshot with { ExpertSha256 = g.ExpertSha256, GeneratorSha256 = g.GeneratorSha256, WorkerId = g.WorkerId, UpdatedAt = g.GeneratedAt },
            (not null, EditActivated a) => snapshot with { Status = EditStatus.Active, ActivatedAtVersion = e.Sequence, ActivatedAt = ToMicroseconds(e.Timestamp), UpdatedAt = a.ActivatedAt },
            (not null, EditRetracted r) => snapshot with
            {
                Status = EditStatus.Retracted, RetractedBy = r.RetractedBy, Reason = r.Reason, UpdatedAt = r.RetractedAt,
                RemovedAtVersion = snapshot.ActivatedAtVersion is not null ? snapshot.RemovedAtVersion ?? e.Sequence : snapshot.RemovedAtVersion,
            },
            (not null, EditSuperseded x) => snapshot with
            {
                Status = EditStatus.Superseded, SupersededBy = x.SupersededBy, UpdatedAt = x.SupersededAt,
                RemovedAtVersion = snapshot.ActivatedAtVersion is not null ? snapshot.RemovedAtVersion ?? e.Sequence : snapshot.RemovedAtVersion,
            },
            (not null, ExpertGenerationFailed f) => snapshot with { Status = EditStatus.Failed, Reason = $"{f.Code}: {f.Reason}", WorkerId = f.WorkerId, UpdatedAt = f.FailedAt },
            _ => snapshot,
        };
        return s is null ? null : s with { Version = e.Version };
    }

    // PostgreSQL keeps microseconds: match what a read of mt_events.timestamp returns.
    private static DateTimeOffset ToMicroseconds(DateTimeOffset t) => new(t.UtcTicks - t.UtcTicks % 10, TimeSpan.Zero);
}
