namespace LiveEdit.Ledger.Edits;

// All events of one edit's life. Positional, past tense, stream id (the edit id) first, time last.
// Hashes are lower-case hex SHA-256 of bytes in the blob store.

/// <summary>Someone proposed a knowledge correction: on this image, this prompt should answer this target.</summary>
public sealed record EditProposed(
    Guid EditId,
    string ImageSha256,
    string Prompt,
    string Target,
    string Rationale,
    string ProposedBy,
    IReadOnlyList<string> Tags,
    Guid? Supersedes,
    DateTimeOffset ProposedAt);

/// <summary>The edit was approved (by a person, or by the <see cref="ApprovalPolicy.AutoApprove"/> policy).</summary>
/// <param name="Signature">The approver's electronic signature, bound to the edit; null in events recorded before signatures
/// existed and in automatic approvals.</param>
public sealed record EditApproved(Guid EditId, string ApprovedBy, DateTimeOffset ApprovedAt, ElectronicSignature? Signature = null);

/// <summary>The edit was rejected before it ever became active.</summary>
/// <param name="Signature">The signature of whoever rejected it; null in events recorded before signatures existed.</param>
public sealed record EditRejected(Guid EditId, string RejectedBy, string Reason, DateTimeOffset RejectedAt, ElectronicSignature? Signature = null);

/// <summary>
/// A worker generated the edit's expert. The expert's bytes are in the blob store under
/// <paramref name="ExpertSha256"/>; its visual key (k×d_m floats, row-major) is recorded inline as well, so
/// the chain itself holds the key each expert is filtered by.
/// </summary>
public sealed record ExpertGenerated(
    Guid EditId,
    string ExpertSha256,
    string GeneratorSha256,
    string BaseModelSha256,
    int Rank,
    int Dim,
    string WorkerId,
    long DurationMs,
    int KeyRows,
    int KeyDim,
    float[] VisualKey,
    DateTimeOffset GeneratedAt);

/// <summary>
/// The edit is part of the model from this event on. Appended by the ledger in the same transaction
/// as whichever of approval and expert generation came last. Carries the expert hash so that the
/// active set at a version is a function of activation/retraction events alone.
/// </summary>
public sealed record EditActivated(Guid EditId, string ExpertSha256, DateTimeOffset ActivatedAt);

/// <summary>The edit was withdrawn; from this event on it is not part of the model.</summary>
/// <param name="Signature">The signature of whoever retracted it; null in events recorded before signatures existed.</param>
public sealed record EditRetracted(Guid EditId, string RetractedBy, string Reason, DateTimeOffset RetractedAt, ElectronicSignature? Signature = null);

/// <summary>
/// A later edit that named this one in <see cref="EditProposed.Supersedes"/> became active; this edit
/// leaves the model in the same transaction so that both experts never fire together.
/// </summary>
public sealed record EditSuperseded(Guid EditId, Guid SupersededBy, DateTimeOffset SupersededAt);

/// <summary>
/// A worker met an error that no retry can cure (the edit's text does not fit the model, its image cannot be decoded,
/// its target holds words the model cannot say). The edit is <see cref="EditStatus.Failed"/> from this event on and
/// no work is sent for it again.
/// </summary>
/// <param name="Code">Stable code of the failure, e.g. <c>target_too_long</c>, <c>unreadable_image</c>.</param>
/// <param name="Reason">One line for people: what was wrong, with at most a short excerpt of the input.</param>
public sealed record ExpertGenerationFailed(Guid EditId, string Code, string Reason, string WorkerId, DateTimeOffset FailedAt);
