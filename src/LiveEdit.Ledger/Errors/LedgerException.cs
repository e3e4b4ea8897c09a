namespace LiveEdit.Ledger.Errors;

/// <summary>
/// What kind of failure a <see cref="LedgerException"/> is, so hosts can map it without knowing every
/// type: <see cref="InvalidInput"/> → 400, <see cref="NotFound"/> → 404, <see cref="Conflict"/> → 409,
/// <see cref="RuleViolation"/> → 422, <see cref="Integrity"/> → 500 (the stored data is damaged).
/// </summary>
public enum LedgerErrorKind
{
    InvalidInput,
    NotFound,
    Conflict,
    RuleViolation,
    Integrity,
}

/// <summary>
/// Base of every error the ledger reports on purpose. Whenever one is thrown by a command, nothing was
/// written. <see cref="Code"/> is a stable snake_case identifier for clients and logs.
/// </summary>
public abstract class LedgerException(string code, LedgerErrorKind kind, string message, Exception? inner = null)
    : Exception(message, inner)
{
    /// <summary>Stable machine-readable code, e.g. <c>edit_not_found</c>.</summary>
    public string Code { get; } = code;

    /// <summary>The family of the error; see <see cref="LedgerErrorKind"/> for the HTTP mapping.</summary>
    public LedgerErrorKind Kind { get; } = kind;

    /// <summary>Suggested HTTP status for hosts.</summary>
    public virtual int HttpStatus => Kind switch
    {
        LedgerErrorKind.InvalidInput => 400,
        LedgerErrorKind.NotFound => 404,
        LedgerErrorKind.Conflict => 409,
        LedgerErrorKind.RuleViolation => 422,
        _ => 500,
    };
}

/// <summary>A command argument is malformed: empty or over-long text, a bad hash, bad key dimensions…</summary>
public sealed class InvalidEditInputException(string parameter, string message)
    : LedgerException("invalid_input", LedgerErrorKind.InvalidInput, $"{parameter}: {message}")
{
    /// <summary>Which argument was wrong.</summary>
    public string Parameter { get; } = parameter;
}

/// <summary>No edit has this id.</summary>
public sealed class EditNotFoundException(Guid editId)
    : LedgerException("edit_not_found", LedgerErrorKind.NotFound, $"No edit with id {editId}.")
{
    public Guid EditId { get; } = editId;
}

/// <summary>An edit with this id already exists (proposals must use a new id).</summary>
public sealed class EditAlreadyExistsException(Guid editId)
    : LedgerException("edit_already_exists", LedgerErrorKind.Conflict, $"An edit with id {editId} already exists.")
{
    public Guid EditId { get; } = editId;
}

/// <summary>The command is not allowed in the edit's current state (approve a retracted edit, retract twice…).</summary>
public sealed class InvalidEditTransitionException(Guid editId, string command, Edits.EditStatus status, string why)
    : LedgerException("invalid_transition", LedgerErrorKind.Conflict, $"Cannot {command} edit {editId}: {why} (status {status}).")
{
    public Guid EditId { get; } = editId;
    public string Command { get; } = command;
    public Edits.EditStatus Status { get; } = status;
}

/// <summary>Under the four-eyes policy the proposer approved their own edit.</summary>
public sealed class FourEyesViolationException(Guid editId, string actor)
    : LedgerException("four_eyes_violation", LedgerErrorKind.RuleViolation,
        $"Edit {editId} was proposed by '{actor}'; under the four-eyes policy someone else must approve it.")
{
    public Guid EditId { get; } = editId;
}

/// <summary>Another writer changed the edit between this writer's read and its append.</summary>
public sealed class ConcurrencyConflictException(Guid editId, long? expectedVersion, long? actualVersion, Exception? inner = null)
    : LedgerException("concurrency_conflict", LedgerErrorKind.Conflict,
        $"Edit {editId} was changed by another writer (expected version {expectedVersion?.ToString() ?? "?"}, found {actualVersion?.ToString() ?? "a newer one"}); read it again and retry.",
        inner)
{
    public Guid EditId { get; } = editId;
}

/// <summary>No blob with this hash is stored.</summary>
public sealed class BlobNotFoundException(string sha256)
    : LedgerException("blob_not_found", LedgerErrorKind.NotFound, $"No blob with SHA-256 {sha256} in the blob store; put the bytes first.")
{
    public string Sha256 { get; } = sha256;
}

/// <summary>The stored bytes no longer hash to their key: the blob table was tampered with or damaged.</summary>
public sealed class BlobCorruptedException(string sha256, string actualSha256)
    : LedgerException("blob_corrupted", LedgerErrorKind.Integrity,
        $"Blob {sha256} is corrupted: its stored bytes hash to {actualSha256}.")
{
    public string Sha256 { get; } = sha256;
    public string ActualSha256 { get; } = actualSha256;
}

/// <summary>An as-of timestamp lies before the first event: no version of the model existed then.</summary>
public sealed class VersionBeforeFirstEventException(DateTimeOffset asOf, DateTimeOffset? firstEventAt)
    : LedgerException("version_before_first_event", LedgerErrorKind.NotFound,
        firstEventAt is { } first
            ? $"{asOf:O} is before the first ledger event ({first:O})."
            : $"{asOf:O}: the ledger has no events yet.")
{
    public DateTimeOffset AsOf { get; } = asOf;
}

/// <summary>A version (global sequence) below 0 or above the ledger's head.</summary>
public sealed class VersionOutOfRangeException(long version, long head)
    : LedgerException("version_out_of_range", LedgerErrorKind.NotFound,
        $"Version {version} does not exist: versions run from 0 (empty ledger) to the head, {head}.")
{
    public long Version { get; } = version;
    public long Head { get; } = head;
}

/// <summary>
/// The ledger refuses to append: its chain head's row or MAC does not match, or a row it did not write sits above
/// the head. Nothing was written, and every append is refused until the database owner records the incident with
/// <see cref="EditLedger.AcknowledgeIncidentAsync"/> (<c>liveedit ledger acknowledge</c>). HTTP 503: the ledger is
/// unavailable for writes, not the request wrong.
/// </summary>
public sealed class ChainRefusedException(long sequence, Audit.ChainRefusal reason, string message)
    : LedgerException("chain_refused", LedgerErrorKind.Integrity,
        $"The ledger refuses to append: {message}. Appends stay blocked until the database owner runs `liveedit ledger acknowledge {sequence} --reason \"…\"`.")
{
    /// <summary>The sequence of the offending row or entry.</summary>
    public long Sequence { get; } = sequence;

    /// <summary>What is wrong there.</summary>
    public Audit.ChainRefusal Reason { get; } = reason;

    /// <inheritdoc/>
    public override int HttpStatus => 503;
}
