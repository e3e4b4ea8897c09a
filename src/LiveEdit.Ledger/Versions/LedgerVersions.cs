namespace LiveEdit.Ledger.Versions;

/// <summary>An edit whose expert is part of the model at some version.</summary>
/// <param name="ActivatedAtVersion">Global sequence of the edit's <c>EditActivated</c> event; experts are fused in this order.</param>
public sealed record ActiveExpert(Guid EditId, string ExpertSha256, long ActivatedAtVersion, DateTimeOffset ActivatedAt);

/// <summary>One activation or removal on the active set's road (<see cref="EditLedger.GetActiveExpertChangesAsync"/>).</summary>
/// <param name="Version">The event's global sequence.</param>
/// <param name="EditId">The edit activated or removed.</param>
/// <param name="ExpertSha256">The expert an activation brings (null for a removal, and for an activation that names none, which adds nothing).</param>
/// <param name="Removal">True for a retraction or supersession: the edit leaves the active set if it was in it.</param>
/// <param name="At">The event's time.</param>
public sealed record ActiveSetChange(long Version, Guid EditId, string? ExpertSha256, bool Removal, DateTimeOffset At);

/// <summary>What changed in the active expert set after <paramref name="After"/> up to <paramref name="Version"/> (the head when read), in order.</summary>
public sealed record ActiveSetChanges(long After, long Version, IReadOnlyList<ActiveSetChange> Changes);

/// <summary>The active expert set at <paramref name="Version"/>, in activation order.</summary>
public sealed record ActiveExpertSet(long Version, IReadOnlyList<ActiveExpert> Experts)
{
    /// <summary>The edit ids in activation order.</summary>
    public IReadOnlyList<Guid> EditIds => Experts.Select(e => e.EditId).ToArray();
}

/// <summary>What an event did to its edit.</summary>
public enum LedgerChange
{
    Proposed,
    Approved,
    Rejected,
    ExpertGenerated,
    Activated,
    Retracted,
    Superseded,
    /// <summary>A worker recorded that the edit's expert can never be generated.</summary>
    GenerationFailed,
    /// <summary>An admin (or a host, at inception) set the routing policy; the edit id is <see cref="EditLedger.RoutingPolicyStreamId"/>.</summary>
    RoutingPolicySet,
}

/// <summary>One version of the ledger: the event with this global sequence.</summary>
/// <param name="ChangesModel">True when the active expert set differs from the previous version's, or the routing policy was set.</param>
public sealed record LedgerVersion(long Version, DateTimeOffset Timestamp, Guid EditId, LedgerChange Change, bool ChangesModel);

/// <summary>How the active set at <paramref name="To"/> differs from the one at <paramref name="From"/>.</summary>
/// <param name="Activated">Edits active at <paramref name="To"/> but not at <paramref name="From"/>, in activation order.</param>
/// <param name="Removed">Edits active at <paramref name="From"/> but not at <paramref name="To"/> (retracted or superseded; or, when <paramref name="To"/> &lt; <paramref name="From"/>, not yet activated).</param>
public sealed record VersionDiff(long From, long To, IReadOnlyList<ActiveExpert> Activated, IReadOnlyList<ActiveExpert> Removed)
{
    /// <summary>The routing policy event in force at <see cref="From"/> (null when the ledger holds none).</summary>
    public Policies.RoutingPolicyVersion? PolicyFrom { get; init; }

    /// <summary>The routing policy event in force at <see cref="To"/> (null when the ledger holds none).</summary>
    public Policies.RoutingPolicyVersion? PolicyTo { get; init; }
}

/// <summary>One event of an edit's history.</summary>
public sealed record EditHistoryEntry(long Version, long StreamVersion, DateTimeOffset Timestamp, object Event);

/// <summary>An edit as its chained events hold it (<see cref="EditLedger.GetChainedEditAsync"/>).</summary>
/// <param name="Proposal">The chained proposal.</param>
/// <param name="State">The decision state its chained events fold to.</param>
/// <param name="Version">The stream's last version (chained or not): the version the next command on it decides at.</param>
/// <param name="History">Its chained events with their global versions, in order.</param>
public sealed record ChainedEdit(Edits.EditProposed Proposal, Edits.Edit State, long Version, IReadOnlyList<EditHistoryEntry> History);

/// <summary>Result of a command: the events appended (in sequence order, including an automatic
/// <c>EditActivated</c> and an <c>EditSuperseded</c> on the older edit) and the ledger version they produced.</summary>
/// <param name="StreamVersion">The edit stream's version after the append (pass it back as expectedVersion for optimistic concurrency).</param>
/// <param name="LedgerVersion">Global sequence of the last event appended: the model version that includes this command.</param>
public sealed record EditCommandResult(Guid EditId, long StreamVersion, long LedgerVersion, IReadOnlyList<object> Events);
