namespace LiveEdit.Contracts;

/// <summary>Command: generate the low-rank expert of one edit. A hint only; the ledger says whether work is pending.</summary>
public sealed record GenerateExpert(Guid EditId);
