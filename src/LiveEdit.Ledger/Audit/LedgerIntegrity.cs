using LiveEdit.Ledger.Errors;

namespace LiveEdit.Ledger.Audit;

/// <summary>
/// The ledger's last word on its own chain: set when an append is refused (or <see cref="EditLedger.CheckChainAsync"/>
/// finds the head unsafe to extend), cleared when an append or a check succeeds. Read by health checks. Thread-safe.
/// </summary>
public sealed class LedgerIntegrity
{
    private volatile ChainRefusedException? _refusal;

    /// <summary>The last refusal while the condition holds, or null.</summary>
    public ChainRefusedException? LastRefusal => _refusal;

    internal void Refused(ChainRefusedException refusal) => _refusal = refusal;

    internal void Accepted() => _refusal = null;
}
