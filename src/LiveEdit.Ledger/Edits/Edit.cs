namespace LiveEdit.Ledger.Edits;

/// <summary>Where an edit stands in its life.</summary>
public enum EditStatus
{
    /// <summary>Proposed, waiting for approval.</summary>
    Proposed,
    /// <summary>Approved, waiting for its expert.</summary>
    Approved,
    /// <summary>Rejected before activation; final.</summary>
    Rejected,
    /// <summary>Part of the model.</summary>
    Active,
    /// <summary>Withdrawn; final.</summary>
    Retracted,
    /// <summary>Replaced by a later edit; final unless retracted.</summary>
    Superseded,
    /// <summary>Its expert can never be generated (a permanent error, recorded with the reason); final unless retracted.</summary>
    Failed,
}

/// <summary>
/// The state of one edit that the decisions in <see cref="EditDecisions"/> need. Immutable; built by
/// folding the edit's events with <see cref="Create"/> and <see cref="Apply(EditApproved, Edit)"/>.
/// </summary>
/// <param name="Prompt">The prompt as chained in <c>EditProposed</c>: what the expert is generated from.</param>
/// <param name="Target">The target as chained in <c>EditProposed</c>: what the expert learns.</param>
public sealed record Edit(
    Guid Id,
    string ImageSha256,
    string Prompt,
    string Target,
    string ProposedBy,
    Guid? Supersedes,
    EditStatus Status,
    bool IsApproved,
    string? ExpertSha256)
{
    /// <summary>SHA-256 of the proposal's canonical content (<see cref="EditContent.Sha256"/>): what signatures bind to.</summary>
    public string ContentSha256 { get; init; } = "";

    /// <summary>The generator that made the edit's expert (from <see cref="ExpertGenerated"/>); null before.</summary>
    public string? GeneratorSha256 { get; init; }

    /// <summary>The base model the edit's expert was made for (from <see cref="ExpertGenerated"/>); null before.</summary>
    public string? BaseModelSha256 { get; init; }

    /// <summary>True once an expert was recorded for the edit.</summary>
    public bool HasExpert => ExpertSha256 is not null;

    /// <summary>True when the edit can no longer change the model except by nothing (rejected, retracted).</summary>
    public bool IsFinal => Status is EditStatus.Rejected or EditStatus.Retracted;

    public static Edit Create(EditProposed e) =>
        new(e.EditId, e.ImageSha256, e.Prompt, e.Target, e.ProposedBy, e.Supersedes, EditStatus.Proposed, false, null) { ContentSha256 = EditContent.Sha256(e) };

    public static Edit Apply(EditApproved e, Edit s) => s with { IsApproved = true, Status = EditStatus.Approved };
    public static Edit Apply(EditRejected e, Edit s) => s with { Status = EditStatus.Rejected };
    public static Edit Apply(ExpertGenerated e, Edit s) => s with { ExpertSha256 = e.ExpertSha256, GeneratorSha256 = e.GeneratorSha256, BaseModelSha256 = e.BaseModelSha256 };
    public static Edit Apply(EditActivated e, Edit s) => s with { Status = EditStatus.Active };
    public static Edit Apply(EditRetracted e, Edit s) => s with { Status = EditStatus.Retracted };
    public static Edit Apply(EditSuperseded e, Edit s) => s with { Status = EditStatus.Superseded };
    public static Edit Apply(ExpertGenerationFailed e, Edit s) => s with { Status = EditStatus.Failed };

    /// <summary>Folds one event into the state; <paramref name="state"/> is null before the first event.</summary>
    public static Edit Next(Edit? state, object @event) => (state, @event) switch
    {
        (null, EditProposed e) => Create(e),
        (not null, EditApproved e) => Apply(e, state),
        (not null, EditRejected e) => Apply(e, state),
        (not null, ExpertGenerated e) => Apply(e, state),
        (not null, EditActivated e) => Apply(e, state),
        (not null, EditRetracted e) => Apply(e, state),
        (not null, EditSuperseded e) => Apply(e, state),
        (not null, ExpertGenerationFailed e) => Apply(e, state),
        _ => throw new InvalidOperationException($"Event {@event.GetType().Name} cannot apply to {(state is null ? "a new edit" : $"edit {state.Id}")}."),
    };

    /// <summary>Folds a whole stream.</summary>
    public static Edit? Fold(IEnumerable<object> events) => events.Aggregate((Edit?)null, Next);
}
