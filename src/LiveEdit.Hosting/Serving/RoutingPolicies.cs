using LiveEdit.Ledger;
using LiveEdit.Ledger.Policies;
using LiveEdit.Model.Editor;

namespace LiveEdit.Hosting.Serving;

/// <summary>A routing policy and where it comes from: the version of its ledger event (null: none recorded, the inception rule).</summary>
public sealed record PolicyInForce(RoutingPolicy Policy, long? EventVersion)
{
    /// <summary>SHA-256 of the policy's canonical form.</summary>
    public string Sha256 => Policy.Sha256;
}

/// <summary>
/// The routing policy in force at each version of a ledger, for one editor (docs/routing-policy.md). Policies are
/// read from chained, authentic <see cref="RoutingPolicySet"/> events only; their values are checked against the SHA-256
/// recorded with them and against the editor (a hubness correction needs its filter bank).
/// </summary>
public sealed class RoutingPolicies(EditLedger ledger, EditorModules editor, string recorder = "inference-host")
{
    private int _recorded;
    // The recorded policies as last read, and the version up to which that read is final: a policy event is appended at a
    // version above every visible one (appends commit in lock order), so the answer for a version at or below one the
    // caller had already seen never changes. Queries then read the policy events only after the ledger has moved.
    private (IReadOnlyList<RoutingPolicyVersion> Recorded, long FinalUpTo)? _known;

    /// <summary>The ledger's form of <paramref name="policy"/>.</summary>
    public static RecordedRoutingPolicy ToRecorded(RoutingPolicy policy) =>
        new(policy.Margin, policy.Band, policy.HubnessWeight, policy.HubnessTopK, policy.FilterBankSha256);

    /// <summary>The serving core's form of a recorded policy.</summary>
    public static RoutingPolicy FromRecorded(RecordedRoutingPolicy policy) =>
        new(policy.Margin, policy.Band, policy.HubnessWeight, policy.HubnessTopK, policy.FilterBankSha256);

    /// <summary>
    /// The policy in force before any policy event: for a ledger whose experts carry a legacy generator id (an identity
    /// alias of the editor), the policy that id binds, which is what the editor held when they were made and served;
    /// otherwise the editor folder's <see cref="EditorModules.DefaultPolicy"/>.
    /// </summary>
    public async Task<RoutingPolicy> InceptionPolicyAsync(CancellationToken ct = default)
    {
        if (editor.IdentityAliases.Count == 0) return editor.DefaultPolicy;
        // Chained, authentic events only: a row inserted behind the ledger's back does not choose the policy.
        var generators = await ledger.ListChainedGeneratorIdsAsync(ct);
        for (var i = generators.Count - 1; i >= 0; i--)
            if (editor.AliasOf(generators[i]) is { } alias) return alias.Policy;
        return editor.DefaultPolicy;
    }

    /// <summary>
    /// Records the inception policy (<see cref="InceptionPolicyAsync"/>) as a chained event when the ledger holds no policy
    /// event yet; once per process. A host calls it before it first serves: a later change of the editor's default can
    /// then never change what an earlier version answers.
    /// </summary>
    public async Task EnsureRecordedAsync(CancellationToken ct = default)
    {
        if (Volatile.Read(ref _recorded) == 1) return;
        if ((await ledger.ListRoutingPoliciesAsync(ct)).Count == 0)
        {
            var policy = await InceptionPolicyAsync(ct);
            try
            {
                await ledger.RecordInceptionRoutingPolicyAsync(ToRecorded(policy), policy.Sha256, recorder,
                    $"the policy in force before any was recorded (generator {editor.GeneratorSha256[..12]}): {policy}", ct);
            }
            catch (LiveEdit.Ledger.Errors.ChainRefusedException)
            {
                // The ledger refuses appends until an incident is acknowledged; reads go on with the same rule, computed
                // (AtAsync), and the next call tries again.
                return;
            }
        }
        Volatile.Write(ref _recorded, 1);
    }

    /// <summary>The policy in force at <paramref name="version"/> (the rule of <see cref="EditLedger.PolicyAt"/>; the inception policy when none is recorded).</summary>
    /// <exception cref="InvalidOperationException">A recorded policy whose values do not hash to its recorded SHA-256, or that this editor cannot route with.</exception>
    /// <remarks><paramref name="version"/> must be one the caller has seen (at most the head it read).</remarks>
    public async Task<PolicyInForce> AtAsync(long version, CancellationToken ct = default)
    {
        var known = _known;
        IReadOnlyList<RoutingPolicyVersion> recorded;
        if (known is { } k && version <= k.FinalUpTo) recorded = k.Recorded;
        else
        {
            recorded = await ledger.ListRoutingPoliciesAsync(ct);
            // Kept only once a policy is recorded: before that, the inception event may still land below a later version.
            if (recorded.Count > 0) _known = (recorded, Math.Max(version, known?.FinalUpTo ?? 0));
        }
        return EditLedger.PolicyAt(recorded, version) is { } at ? Check(at) : new PolicyInForce(await InceptionPolicyAsync(ct), null);
    }

    private PolicyInForce Check(RoutingPolicyVersion at)
    {
        var policy = FromRecorded(at.Event.Policy);
        if (!string.Equals(policy.Sha256, at.Event.PolicySha256, StringComparison.OrdinalIgnoreCase))
            throw new InvalidOperationException($"the routing policy recorded at version {at.Version} hashes to {policy.Sha256[..12]}, not to its recorded {at.Event.PolicySha256[..12]}");
        try
        {
            policy.RequireFits(editor);
        }
        catch (InvalidRoutingPolicyException e)
        {
            throw new InvalidOperationException($"the routing policy recorded at version {at.Version} does not fit this editor: {e.Message}", e);
        }
        return new PolicyInForce(policy, at.Version);
    }
}
