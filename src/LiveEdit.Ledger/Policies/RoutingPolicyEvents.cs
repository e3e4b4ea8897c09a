namespace LiveEdit.Ledger.Policies;

/// <summary>
/// The routing policy's values as the ledger records them (docs/routing-policy.md): the hard filter's margin, the band
/// of its survivors, and the hubness correction's weight, K and filter bank. All 0 (and no bank) is the paper's routing.
/// The serving core's <c>RoutingPolicy</c> defines their meaning, canonical form and SHA-256.
/// </summary>
public sealed record RecordedRoutingPolicy(double Margin, double Band, double HubnessWeight, int HubnessTopK, string? FilterBankSha256);

/// <summary>
/// From this event on the edited model routes with <paramref name="Policy"/>: a chained event on the ledger's own
/// routing-policy stream (<see cref="EditLedger.RoutingPolicyStreamId"/>), never part of an edit. Versions before the
/// first such event route with the first one's policy: a host records the policy that was in force when it first
/// serves a ledger that has none (<paramref name="Inception"/>).
/// </summary>
/// <param name="PolicySha256">SHA-256 of the policy's canonical form: the name answers report.</param>
/// <param name="SetBy">Who set it: an admin's name, or the host that recorded the inception policy.</param>
/// <param name="Reason">Why, in the setter's words.</param>
/// <param name="Inception">True for the policy a host recorded because the ledger had none: it also stands for the versions before it.</param>
/// <param name="RequestId">The idempotency id of the request that set it (from the caller and its Idempotency-Key), or null.</param>
public sealed record RoutingPolicySet(
    Guid StreamId,
    RecordedRoutingPolicy Policy,
    string PolicySha256,
    string SetBy,
    string Reason,
    bool Inception,
    Guid? RequestId,
    DateTimeOffset SetAt);

/// <summary>A recorded policy and the version (global sequence) of its event.</summary>
public sealed record RoutingPolicyVersion(long Version, RoutingPolicySet Event);

/// <summary>
/// What <see cref="EditLedger.SetRoutingPolicyAsync"/> did: appended <see cref="Event"/> at <see cref="Version"/>, or,
/// for a retried request (same request id, same policy), found it already there (<see cref="Replayed"/>).
/// </summary>
public sealed record RoutingPolicyResult(long Version, RoutingPolicySet Event, bool Replayed);

/// <summary>
/// A policy change was decided on another current policy than the one in force (If-Match): nothing was written.
/// </summary>
public sealed class RoutingPolicyVersionMismatchException(long expected, long current)
    : Errors.LedgerException("version_mismatch", Errors.LedgerErrorKind.Conflict,
        $"the routing policy in force is the one set at version {current}, but the change expected version {expected}; read it again (GET /routing-policy) and decide on what it is now")
{
    /// <summary>The version the caller expected.</summary>
    public long Expected { get; } = expected;
    /// <summary>The version of the policy event in force (0: none recorded).</summary>
    public long Current { get; } = current;
}
