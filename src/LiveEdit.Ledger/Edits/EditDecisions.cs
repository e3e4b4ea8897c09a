using LiveEdit.Ledger.Errors;

namespace LiveEdit.Ledger.Edits;

/// <summary>
/// Pure decisions: given an edit's state and a command, return the event to append or throw a
/// <see cref="LedgerException"/>. No I/O; the ledger checks blob existence and appends.
/// </summary>
public static class EditDecisions
{
    public static EditProposed Handle(ProposeEdit c, DateTimeOffset now)
    {
        if (c.EditId == Guid.Empty) throw new InvalidEditInputException("editId", "must not be the empty Guid.");
        Sha256Hex.Require(c.ImageSha256, "imageSha256");
        RequireText(c.Prompt, "prompt", EditLimits.MaxPromptLength);
        RequireText(c.Target, "target", EditLimits.MaxTargetLength);
        OptionalText(c.Rationale, "rationale", EditLimits.MaxRationaleLength);
        RequireText(c.ProposedBy, "proposedBy", EditLimits.MaxActorLength);
        var tags = c.Tags ?? [];
        if (tags.Count > EditLimits.MaxTags) throw new InvalidEditInputException("tags", $"at most {EditLimits.MaxTags} tags, got {tags.Count}.");
        foreach (var tag in tags) RequireText(tag, "tags", EditLimits.MaxTagLength);
        if (c.Supersedes == c.EditId) throw new InvalidEditInputException("supersedes", "an edit cannot supersede itself.");
        return new EditProposed(c.EditId, c.ImageSha256, c.Prompt, c.Target, c.Rationale ?? "", c.ProposedBy.Trim(),
            tags.ToArray(), c.Supersedes, now);
    }

    /// <param name="served">The models the ledger serves edits with, which a signature on an edit without an expert is bound to.</param>
    public static EditApproved Handle(Edit s, ApproveEdit c, ApprovalPolicy policy, DateTimeOffset now, SignatureModels? served = null)
    {
        RequireText(c.ApprovedBy, "approvedBy", EditLimits.MaxActorLength);
        if (s.IsApproved) throw Transition(s, "approve", "it is already approved");
        if (s.Status != EditStatus.Proposed) throw Transition(s, "approve", $"it is {s.Status.ToString().ToLowerInvariant()}");
        if (policy == ApprovalPolicy.FourEyes && SameActor(s.ProposedBy, c.ApprovedBy))
            throw new FourEyesViolationException(s.Id, c.ApprovedBy.Trim());
        // Four eyes hold for the signer too: whoever calls, the proposer never signs the approval of their own edit.
        if (c.Signature is { } signature)
        {
            SignatureRules.Check(s, signature, SignatureMeanings.ForApproval, served);
            if (policy == ApprovalPolicy.FourEyes && SameActor(s.ProposedBy, signature.SignerUserName))
                throw new FourEyesViolationException(s.Id, signature.SignerUserName.Trim());
        }
        return new EditApproved(s.Id, c.ApprovedBy.Trim(), now, Signed(c.Signature));
    }

    /// <param name="served">The models the ledger serves edits with, which a signature on an edit without an expert is bound to.</param>
    public static EditRejected Handle(Edit s, RejectEdit c, DateTimeOffset now, SignatureModels? served = null)
    {
        RequireText(c.RejectedBy, "rejectedBy", EditLimits.MaxActorLength);
        RequireText(c.Reason, "reason", EditLimits.MaxRationaleLength);
        if (s.Status is not (EditStatus.Proposed or EditStatus.Approved))
            throw Transition(s, "reject", s.Status == EditStatus.Active ? "it is active; retract it instead" : $"it is {s.Status.ToString().ToLowerInvariant()}");
        if (c.Signature is { } signature) SignatureRules.Check(s, signature, SignatureMeanings.ForRejection, served);
        return new EditRejected(s.Id, c.RejectedBy.Trim(), c.Reason, now, Signed(c.Signature));
    }

    public static ExpertGenerated Handle(Edit s, RecordExpert c, DateTimeOffset now)
    {
        Sha256Hex.Require(c.ExpertSha256, "expertSha256");
        Sha256Hex.Require(c.GeneratorSha256, "generatorSha256");
        Sha256Hex.Require(c.BaseModelSha256, "baseModelSha256");
        if (c.Rank is < 1 or > EditLimits.MaxRank) throw new InvalidEditInputException("rank", $"must be in 1..{EditLimits.MaxRank}, got {c.Rank}.");
        if (c.Dim < 1) throw new InvalidEditInputException("dim", $"must be positive, got {c.Dim}.");
        RequireText(c.WorkerId, "workerId", EditLimits.MaxActorLength);
        if (c.DurationMs < 0) throw new InvalidEditInputException("durationMs", "must not be negative.");
        if (c.KeyRows is < 1 or > EditLimits.MaxKeyRows) throw new InvalidEditInputException("keyRows", $"must be in 1..{EditLimits.MaxKeyRows}, got {c.KeyRows}.");
        if (c.KeyDim is < 1 or > EditLimits.MaxKeyDim) throw new InvalidEditInputException("keyDim", $"must be in 1..{EditLimits.MaxKeyDim}, got {c.KeyDim}.");
        if (c.VisualKey is null || c.VisualKey.Length != c.KeyRows * c.KeyDim)
            throw new InvalidEditInputException("visualKey", $"must hold keyRows×keyDim = {c.KeyRows * c.KeyDim} floats, got {c.VisualKey?.Length ?? 0}.");
        if (c.VisualKey.Any(v => !float.IsFinite(v))) throw new InvalidEditInputException("visualKey", "must hold finite floats only.");
        if (s.HasExpert) throw Transition(s, "record an expert for", $"it already has expert {s.ExpertSha256}");
        if (s.Status is not (EditStatus.Proposed or EditStatus.Approved)) throw Transition(s, "record an expert for", $"it is {s.Status.ToString().ToLowerInvariant()}");
        return new ExpertGenerated(s.Id, c.ExpertSha256, c.GeneratorSha256, c.BaseModelSha256, c.Rank, c.Dim, c.WorkerId.Trim(),
            c.DurationMs, c.KeyRows, c.KeyDim, (float[])c.VisualKey.Clone(), now);
    }

    public static ExpertGenerationFailed Handle(Edit s, RecordGenerationFailure c, DateTimeOffset now)
    {
        RequireText(c.Code, "code", EditLimits.MaxTagLength);
        RequireText(c.Reason, "reason", EditLimits.MaxRationaleLength);
        RequireText(c.WorkerId, "workerId", EditLimits.MaxActorLength);
        if (s.HasExpert) throw Transition(s, "record a generation failure for", $"it already has expert {s.ExpertSha256}");
        if (s.Status is not (EditStatus.Proposed or EditStatus.Approved)) throw Transition(s, "record a generation failure for", $"it is {s.Status.ToString().ToLowerInvariant()}");
        return new ExpertGenerationFailed(s.Id, c.Code.Trim(), c.Reason, c.WorkerId.Trim(), now);
    }

    public static EditActivated Handle(Edit s, ActivateEdit c, DateTimeOffset now)
    {
        if (s.Status == EditStatus.Active) throw Transition(s, "activate", "it is already active");
        if (s.Status is not (EditStatus.Proposed or EditStatus.Approved)) throw Transition(s, "activate", $"it is {s.Status.ToString().ToLowerInvariant()}");
        if (!s.IsApproved) throw Transition(s, "activate", "it is not approved");
        if (!s.HasExpert) throw Transition(s, "activate", "it has no expert yet");
        return new EditActivated(s.Id, s.ExpertSha256!, now);
    }

    /// <param name="served">The models the ledger serves edits with, which a signature on an edit without an expert is bound to.</param>
    public static EditRetracted Handle(Edit s, RetractEdit c, DateTimeOffset now, SignatureModels? served = null)
    {
        RequireText(c.RetractedBy, "retractedBy", EditLimits.MaxActorLength);
        RequireText(c.Reason, "reason", EditLimits.MaxRationaleLength);
        if (s.Status == EditStatus.Retracted) throw Transition(s, "retract", "it is already retracted");
        if (s.Status == EditStatus.Rejected) throw Transition(s, "retract", "it was rejected");
        if (c.Signature is { } signature) SignatureRules.Check(s, signature, SignatureMeanings.ForRetraction, served);
        return new EditRetracted(s.Id, c.RetractedBy.Trim(), c.Reason, now, Signed(c.Signature));
    }

    private static ElectronicSignature? Signed(ElectronicSignature? signature) => signature is null ? null : SignatureRules.Normalised(signature);

    /// <summary>The activation that is due once an edit is approved and has its expert; null when none is.</summary>
    public static EditActivated? ActivationDue(Edit s, DateTimeOffset now) =>
        s is { IsApproved: true, HasExpert: true, Status: EditStatus.Approved } ? new EditActivated(s.Id, s.ExpertSha256!, now) : null;

    /// <summary>When <paramref name="newer"/> activates, the edit it supersedes leaves the model unless already out.</summary>
    public static EditSuperseded? SupersessionDue(Edit older, Guid newer, DateTimeOffset now) =>
        older.Status is EditStatus.Proposed or EditStatus.Approved or EditStatus.Active
            ? new EditSuperseded(older.Id, newer, now)
            : null;

    private static bool SameActor(string a, string b) =>
        string.Equals(a.Trim(), b.Trim(), StringComparison.OrdinalIgnoreCase);

    private static InvalidEditTransitionException Transition(Edit s, string command, string why) => new(s.Id, command, s.Status, why);

    private static void RequireText(string? value, string parameter, int max)
    {
        if (string.IsNullOrWhiteSpace(value)) throw new InvalidEditInputException(parameter, "must not be empty.");
        if (value.Length > max) throw new InvalidEditInputException(parameter, $"must be at most {max} characters, got {value.Length}.");
    }

    private static void OptionalText(string? value, string parameter, int max)
    {
        if (value is not null && value.Length > max) throw new InvalidEditInputException(parameter, $"must be at most {max} characters, got {value.Length}.");
    }
}
