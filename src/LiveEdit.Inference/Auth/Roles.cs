namespace LiveEdit.Inference.Auth;

/// <summary>The roles an API key can hold (configuration <c>Auth:Keys</c>).</summary>
public static class Roles
{
    /// <summary>Proposes edits; can query.</summary>
    public const string Proposer = "proposer";

    /// <summary>Approves or rejects edits; can query.</summary>
    public const string Approver = "approver";

    /// <summary>Reads everything, including past versions and the audit; changes nothing.</summary>
    public const string Auditor = "auditor";

    /// <summary>Everything, including retraction.</summary>
    public const string Admin = "admin";

    public static readonly IReadOnlySet<string> All = new HashSet<string>([Proposer, Approver, Auditor, Admin], StringComparer.Ordinal);
}

/// <summary>Authorisation policy names used by the endpoints.</summary>
public static class Policies
{
    public const string Read = "read";
    public const string Propose = "propose";
    public const string Approve = "approve";
    public const string Retract = "retract";
    public const string Audit = "audit";
}
