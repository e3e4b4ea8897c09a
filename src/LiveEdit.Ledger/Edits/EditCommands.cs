namespace LiveEdit.Ledger.Edits;

// Commands are imperative; the ledger supplies the time and the edit's state, EditDecisions decide.

/// <summary>Propose a correction. <paramref name="ImageSha256"/> must already be in the blob store.</summary>
public sealed record ProposeEdit(
    Guid EditId,
    string ImageSha256,
    string Prompt,
    string Target,
    string Rationale,
    string ProposedBy,
    IReadOnlyList<string>? Tags = null,
    Guid? Supersedes = null);

/// <summary>Approve a proposed edit.</summary>
/// <param name="Signature">The approver's signature, bound to the edit (<see cref="SignatureRules.BindingFor"/>); checked on append.</param>
public sealed record ApproveEdit(Guid EditId, string ApprovedBy, ElectronicSignature? Signature = null);

/// <summary>Reject an edit that is not active yet.</summary>
/// <param name="Signature">The signature of whoever rejects it, bound to the edit; checked on append.</param>
public sealed record RejectEdit(Guid EditId, string RejectedBy, string Reason, ElectronicSignature? Signature = null);

/// <summary>Record the expert a worker generated. <paramref name="ExpertSha256"/> must already be in the blob store.</summary>
public sealed record RecordExpert(
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
    float[] VisualKey);

/// <summary>Record that the edit's expert can never be generated (a permanent error met by a worker).</summary>
public sealed record RecordGenerationFailure(Guid EditId, string Code, string Reason, string WorkerId);

/// <summary>Activate an approved edit that has its expert (the ledger also does this by itself).</summary>
public sealed record ActivateEdit(Guid EditId);

/// <summary>Withdraw an edit; if active, it leaves the model.</summary>
/// <param name="Signature">The signature of whoever retracts it, bound to the edit; checked on append.</param>
public sealed record RetractEdit(Guid EditId, string RetractedBy, string Reason, ElectronicSignature? Signature = null);

/// <summary>Input limits. Anything outside them is rejected with <see cref="Errors.InvalidEditInputException"/>.</summary>
public static class EditLimits
{
    /// <summary>Longest prompt, in UTF-16 chars.</summary>
    public const int MaxPromptLength = 2_000;
    /// <summary>Longest target answer, in UTF-16 chars.</summary>
    public const int MaxTargetLength = 500;
    /// <summary>Longest rationale or reason.</summary>
    public const int MaxRationaleLength = 4_000;
    /// <summary>Longest actor or worker name.</summary>
    public const int MaxActorLength = 200;
    /// <summary>Most tags on one edit.</summary>
    public const int MaxTags = 32;
    /// <summary>Longest tag.</summary>
    public const int MaxTagLength = 64;
    /// <summary>Most key rows (k).</summary>
    public const int MaxKeyRows = 64;
    /// <summary>Widest key row (d_m).</summary>
    public const int MaxKeyDim = 4_096;
    /// <summary>Highest expert rank.</summary>
    public const int MaxRank = 1_024;
}
