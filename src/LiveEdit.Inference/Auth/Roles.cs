namespace LiveEdit.Inference.Auth;

/// <summary>The roles an API key can hold (configuration <c>Auth:Keys</c>).</summary>
public static class Roles
{
    /// <summary>Proposes edits; queries the head; reads its own edits only.</summary>
    public const string Proposer = "proposer";

    /// <summary>Approves or rejects edits; can query.</summary>
    public const string Approver = "approver";

    /// <summary>Reads everything, including past versions and the audit; changes nothing.</summary>
    public const string Auditor = "auditor";

    /// <summary>Everything, including retraction.</summary>
    public const string Admin = "admin";

    /// <summary>
    /// The host's own warm-up request over HTTP (<see cref="WarmUpKey"/>): queries the head, nothing else. Not in
    /// <see cref="All"/>, so no configured key can hold it.
    /// </summary>
    public const string WarmUp = "liveedit-warm-up";

    public static readonly IReadOnlySet<string> All = new HashSet<string>([Proposer, Approver, Auditor, Admin], StringComparer.Ordinal);
}

/// <summary>Authorisation policy names used by the endpoints.</summary>
public static class Policies
{
    /// <summary>Every role: query the head, read the head version, list and read own edits.</summary>
    public const string Read = "read";

    /// <summary>Approver, auditor, admin: every edit with its history, versions, diffs, active sets, past-version queries.</summary>
    public const string ReadAll = "read-all";

    /// <summary><c>POST /query</c>: every role, and the host's own warm-up request (<see cref="Roles.WarmUp"/>).</summary>
    public const string Query = "query";
    public const string Propose = "propose";
    public const string Approve = "approve";
    public const string Retract = "retract";
    public const string Audit = "audit";

    /// <summary>Admin only: set the routing policy in force (docs/routing-policy.md).</summary>
    public const string SetRoutingPolicy = "set-routing-policy";
}
