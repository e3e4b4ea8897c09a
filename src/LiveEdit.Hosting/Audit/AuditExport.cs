using System.Text.Json;
using System.Text.Json.Serialization;
using LiveEdit.Ledger.Audit;

namespace LiveEdit.Hosting.Audit;

/// <summary>
/// An audit export: the edits with a chained event in a range of versions, each with its content, history, signatures,
/// expert and active intervals; the routing-policy changes in the range; the chain head and the last signed
/// checkpoint; and the checks run at export time. The same content is written as JSON, HTML and PDF
/// (<see cref="AuditReportJson"/>, <see cref="AuditReportHtml"/>, <see cref="AuditReportPdf"/>).
/// </summary>
/// <param name="Status"><see cref="AuditStatus.Failed"/> when any check failed: the report then leads with the failures.</param>
public sealed record AuditExport(
    string Format,
    int FormatVersion,
    AuditStatus Status,
    AuditChecks Checks,
    DateTimeOffset GeneratedAt,
    string GeneratedBy,
    string Schema,
    AuditRange Range,
    AuditChainState Chain,
    IReadOnlyList<AuditEdit> Edits,
    IReadOnlyList<AuditPolicyChange> RoutingPolicyChanges)
{
    /// <summary>The value of <see cref="Format"/>.</summary>
    public const string FormatName = "liveedit-audit-export";

    /// <summary>The value of <see cref="FormatVersion"/>.</summary>
    public const int CurrentVersion = 1;
}

/// <summary>Whether every check of the export passed.</summary>
public enum AuditStatus
{
    /// <summary>The hash chain and every blob checked out.</summary>
    Passed,
    /// <summary>At least one check failed: see <see cref="AuditChecks.Failures"/>.</summary>
    Failed,
}

/// <summary>The range exported: as asked (a version or a date) and as resolved to versions (both inclusive).</summary>
public sealed record AuditRange(string From, string To, long FromVersion, long ToVersion);

/// <summary>The checks run when the export was made.</summary>
/// <param name="Failures">One line per failure, the most important first; empty when all passed.</param>
/// <param name="ExpertRegeneration">Re-generating experts from their edits is a separate, slower check (<c>liveedit verify --experts</c>): it did not run.</param>
public sealed record AuditChecks(IReadOnlyList<string> Failures, AuditChainCheck HashChain, AuditBlobCheck Blobs, string ExpertRegeneration);

/// <summary>The walk of the whole hash chain (<see cref="LiveEdit.Ledger.EditLedger.VerifyAsync"/>).</summary>
public sealed record AuditChainCheck(bool Intact, long EventsChecked, long Head, IReadOnlyList<ChainBreak> Breaks, IReadOnlyList<AcknowledgedIncident> Acknowledged);

/// <summary>Every stored blob re-hashed, and every blob the chained edits name looked for.</summary>
public sealed record AuditBlobCheck(bool Intact, long BlobsHashed, long BytesHashed, IReadOnlyList<AuditBlobProblem> Problems);

/// <summary>A blob that is corrupt (its bytes hash to something else) or missing.</summary>
public sealed record AuditBlobProblem(string Sha256, string Problem, string? ActualSha256);

/// <summary>The chain head when the export was made and the last signed checkpoint found.</summary>
/// <param name="CheckpointNote">Where checkpoints were looked for and what was found, or why none was.</param>
public sealed record AuditChainState(long HeadSequence, string? HeadRecordHash, long EntriesChained, AuditCheckpoint? LastCheckpoint, string CheckpointNote);

/// <summary>A signed checkpoint of the chain (<see cref="LedgerCheckpoint"/>) and whether the ledger still extends it.</summary>
/// <param name="Verified">What checking it against the public key and the chain said; null when no public key was given.</param>
public sealed record AuditCheckpoint(string File, long Sequence, string ChainHash, long EventsChained, DateTimeOffset Time, string KeyId, string? Verified);

/// <summary>One edit: its content, its expert, when it was active, and every chained event with its signature.</summary>
public sealed record AuditEdit(
    Guid EditId,
    string Status,
    string Prompt,
    string Target,
    string Rationale,
    string ImageSha256,
    string ProposedBy,
    DateTimeOffset ProposedAt,
    IReadOnlyList<string> Tags,
    Guid? Supersedes,
    string? ExpertSha256,
    IReadOnlyList<AuditInterval> ActiveIntervals,
    IReadOnlyList<AuditEvent> History);

/// <summary>Versions during which an edit's expert was part of the model: from <see cref="FromVersion"/> up to, not including, <see cref="UntilVersion"/> (null: still active at the export's head).</summary>
public sealed record AuditInterval(long FromVersion, long? UntilVersion);

/// <summary>
/// A chained event: its version, time, kind, who and why, its other fields, and the electronic signature it carries
/// (name, time, meaning and binding, as recorded), or null when it carries none.
/// </summary>
public sealed record AuditEvent(long Version, DateTimeOffset At, string Kind, string? Actor, string? Reason, IReadOnlyList<AuditField> Details,
    IReadOnlyList<AuditField>? Signature);

/// <summary>A named value of an event, as text.</summary>
public sealed record AuditField(string Name, string Value);

/// <summary>A routing-policy event in the range.</summary>
public sealed record AuditPolicyChange(long Version, DateTimeOffset At, string SetBy, string Reason, string PolicySha256, bool Inception, IReadOnlyList<AuditField> Policy);

/// <summary>The JSON form of an <see cref="AuditExport"/>: what it writes, it reads back as the same export.</summary>
public static class AuditReportJson
{
    /// <summary>The serializer options of the JSON form (camelCase, enums as names, indented).</summary>
    public static JsonSerializerOptions Options { get; } = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter() },
    };

    /// <summary>The export as indented JSON.</summary>
    public static string Write(AuditExport export) => JsonSerializer.Serialize(export, Options);

    /// <summary>An export read back from <see cref="Write"/>'s output.</summary>
    /// <exception cref="JsonException">Not an audit export.</exception>
    public static AuditExport Read(string json)
    {
        var export = JsonSerializer.Deserialize<AuditExport>(json, Options) ?? throw new JsonException("the document is empty");
        if (export.Format != AuditExport.FormatName) throw new JsonException($"not an audit export (format '{export.Format}')");
        return export;
    }
}
