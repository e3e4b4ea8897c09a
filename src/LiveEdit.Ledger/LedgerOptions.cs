namespace LiveEdit.Ledger;

/// <summary>Behaviour of an <see cref="EditLedger"/>.</summary>
public sealed class LedgerOptions
{
    /// <summary>How edits get approved. Default <see cref="ApprovalPolicy.FourEyes"/>.</summary>
    public ApprovalPolicy Policy { get; set; } = ApprovalPolicy.FourEyes;

    /// <summary>The approver recorded under <see cref="ApprovalPolicy.AutoApprove"/>.</summary>
    public string AutoApprover { get; set; } = "auto-approve";

    /// <summary>Clock for the <c>…At</c> fields of events (the event records' own timestamps come from PostgreSQL).</summary>
    public TimeProvider Clock { get; set; } = TimeProvider.System;

    /// <summary>Largest blob accepted by <see cref="Blobs.BlobStore.PutAsync"/>, in bytes (PostgreSQL bytea stops at 1 GiB).</summary>
    public int MaxBlobBytes { get; set; } = 256 * 1024 * 1024;

    /// <summary>
    /// Secret key of the hash chain's MACs (at least 32 bytes; see <see cref="LedgerChainKey"/>). Never store it in
    /// PostgreSQL. When null the ledger uses <see cref="LedgerChainKey.Development"/>, which protects nothing: hosts
    /// read it with <see cref="LedgerChainKey.FromConfiguration"/>, which refuses a missing key outside development.
    /// </summary>
    public byte[]? ChainKey { get; set; }

    /// <summary>
    /// The generator and base model this ledger's host serves edits with: an electronic signature on an edit that has no
    /// expert yet must be bound to them (docs/signatures.md). Null: the binding's generator and base model are taken as given.
    /// </summary>
    public Edits.SignatureModels? ServedModels { get; set; }
}
