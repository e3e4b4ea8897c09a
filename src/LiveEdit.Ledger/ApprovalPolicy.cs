namespace LiveEdit.Ledger;

/// <summary>How edits get approved.</summary>
public enum ApprovalPolicy
{
    /// <summary>Every proposal is approved in the same transaction by <see cref="LedgerOptions.AutoApprover"/> (benchmarks, demos).</summary>
    AutoApprove,
    /// <summary>A person other than the proposer must approve (regulated use).</summary>
    FourEyes,
}
