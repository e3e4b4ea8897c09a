namespace LiveEdit.Ledger.Audit;

/// <summary>
/// The database owner acknowledged a row the ledger did not write, or changed or deleted behind its back
/// (<see cref="EditLedger.AcknowledgeIncidentAsync"/>). Chained like every ledger event, on the ledger's own
/// stream (<see cref="EditLedger.IncidentStreamId"/>); never part of an edit's history or of the model.
/// </summary>
/// <param name="StreamId">Always <see cref="EditLedger.IncidentStreamId"/>.</param>
/// <param name="Sequence">The global sequence of the row concerned.</param>
/// <param name="Kind">One of <see cref="IncidentKinds"/>.</param>
/// <param name="RecordSha256">SHA-256 of the row's canonical form as acknowledged (empty for a deleted row): if the row changes again, the acknowledgement no longer covers it.</param>
public sealed record LedgerIncidentAcknowledged(
    Guid StreamId,
    long Sequence,
    string Kind,
    string RecordSha256,
    string Reason,
    string AcknowledgedBy,
    DateTimeOffset At);

/// <summary>What can be wrong with a row, as recorded in <see cref="LedgerIncidentAcknowledged.Kind"/>.</summary>
public static class IncidentKinds
{
    /// <summary>A row in mt_events the ledger never wrote (inserted through SQL).</summary>
    public const string Foreign = "foreign";
    /// <summary>A chained row whose content changed after it was appended.</summary>
    public const string Changed = "changed";
    /// <summary>A chained row that is gone.</summary>
    public const string Deleted = "deleted";
}

/// <summary>Result of <see cref="EditLedger.AcknowledgeIncidentAsync"/>.</summary>
/// <param name="Version">The sequence of the chained acknowledgement event.</param>
public sealed record IncidentAcknowledgement(long Version, LedgerIncidentAcknowledged Event);

/// <summary>Why the ledger refuses to extend its chain (see <see cref="Errors.ChainRefusedException"/>).</summary>
public enum ChainRefusal
{
    /// <summary>A row above the chain head that the ledger did not write.</summary>
    ForeignRow,
    /// <summary>The chain head's row no longer matches its entry.</summary>
    ChangedRow,
    /// <summary>The chain head's row is gone.</summary>
    DeletedRow,
    /// <summary>The chain head's entry has no valid MAC.</summary>
    ForgedEntry,
}
