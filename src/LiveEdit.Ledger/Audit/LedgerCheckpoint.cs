using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;

namespace LiveEdit.Ledger.Audit;

/// <summary>
/// A signed statement about the ledger's hash chain: "in schema <see cref="Schema"/>, the chain entry at
/// <see cref="Sequence"/> had record hash <see cref="ChainHash"/> at <see cref="Time"/>". Since every chain
/// hash covers every event before it, a ledger that still has that hash at that sequence has not been
/// rewritten up to there. Kept outside PostgreSQL, as one JSON file per checkpoint.
/// </summary>
/// <remarks>
/// The signature (ECDSA P-256 with SHA-256, IEEE P1363 form r‖s, base64) is over <see cref="CanonicalBytes()"/>:
/// the UTF-8 bytes of these eight lines, each ended by a line feed, with no other whitespace:
/// <code>
/// liveedit-ledger-checkpoint
/// version=1
/// schema=&lt;schema&gt;
/// sequence=&lt;decimal&gt;
/// chainHash=&lt;64 lower-case hex&gt;
/// eventsChained=&lt;decimal&gt;
/// time=&lt;yyyy-MM-ddTHH:mm:ss.fffffffZ&gt;
/// keyId=&lt;64 lower-case hex&gt;
/// </code>
/// </remarks>
public sealed record LedgerCheckpoint(
    string Schema,
    long Sequence,
    string ChainHash,
    long EventsChained,
    DateTimeOffset Time,
    string KeyId,
    string Signature)
{
    /// <summary>The <c>format</c> field of every checkpoint file.</summary>
    public const string Format = "liveedit-ledger-checkpoint";

    /// <summary>The <c>version</c> field this code writes and reads.</summary>
    public const int CurrentVersion = 1;

    /// <summary>How <see cref="Time"/> is written, in the file and in the signed bytes.</summary>
    public const string TimeFormat = "yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'";

    /// <summary>Largest checkpoint file read, in bytes (a real one is about 500).</summary>
    public const int MaxFileBytes = 16 * 1024;

    private static readonly Regex SchemaName = new("^[A-Za-z_][A-Za-z0-9_]{0,62}$", RegexOptions.CultureInvariant);

    /// <summary>The bytes the signature covers (see the remarks on <see cref="LedgerCheckpoint"/>).</summary>
    public static byte[] CanonicalBytes(string schema, long sequence, string chainHash, long eventsChained, DateTimeOffset time, string keyId)
    {
        RequireValid(schema, sequence, chainHash, eventsChained, keyId);
        var text = new StringBuilder()
            .Append(Format).Append('\n')
            .Append("version=").Append(CurrentVersion.ToString(CultureInfo.InvariantCulture)).Append('\n')
            .Append("schema=").Append(schema).Append('\n')
            .Append("sequence=").Append(sequence.ToString(CultureInfo.InvariantCulture)).Append('\n')
            .Append("chainHash=").Append(chainHash).Append('\n')
            .Append("eventsChained=").Append(eventsChained.ToString(CultureInfo.InvariantCulture)).Append('\n')
            .Append("time=").Append(FormatTime(time)).Append('\n')
            .Append("keyId=").Append(keyId).Append('\n')
            .ToString();
        return Encoding.UTF8.GetBytes(text);
    }

    /// <summary>The bytes this checkpoint's <see cref="Signature"/> covers.</summary>
    public byte[] CanonicalBytes() => CanonicalBytes(Schema, Sequence, ChainHash, EventsChained, Time, KeyId);

    /// <summary>The file name a checkpoint is written under: <c>checkpoint-&lt;schema&gt;-&lt;sequence&gt;.json</c>.</summary>
    public string FileName => $"checkpoint-{Schema}-{Sequence.ToString(CultureInfo.InvariantCulture)}.json";

    /// <summary>One line for an outside notary to keep: everything that was signed, and the signature.</summary>
    public string NotaryLine =>
        $"ledger checkpoint: schema {Schema}, sequence {Sequence.ToString(CultureInfo.InvariantCulture)}, chain hash {ChainHash}, " +
        $"time {FormatTime(Time)}, key {KeyId}, signature {Signature}";

    /// <summary>The time as written in the file and the signed bytes (UTC, 100 ns resolution).</summary>
    public static string FormatTime(DateTimeOffset time) => time.UtcDateTime.ToString(TimeFormat, CultureInfo.InvariantCulture);

    /// <summary>The checkpoint file's JSON text.</summary>
    public string ToJson() => JsonSerializer.Serialize(new CheckpointFile
    {
        Format = Format,
        Version = CurrentVersion,
        Schema = Schema,
        Sequence = Sequence,
        ChainHash = ChainHash,
        EventsChained = EventsChained,
        Time = FormatTime(Time),
        KeyId = KeyId,
        Signature = Signature,
    }, FileJson) + "\n";

    /// <summary>Reads a checkpoint file's JSON text; the signature is not checked here.</summary>
    /// <exception cref="CheckpointFormatException">Not a checkpoint: bad JSON, a missing, unknown or invalid field.</exception>
    public static LedgerCheckpoint Parse(string json)
    {
        CheckpointFile? file;
        try
        {
            file = JsonSerializer.Deserialize<CheckpointFile>(json, FileJson);
        }
        catch (JsonException e)
        {
            throw new CheckpointFormatException(e.Message.IndexOf("including:", StringComparison.Ordinal) is var at and >= 0
                ? $"not a checkpoint file: missing field(s) {Short(e.Message[(at + 10)..].Trim().TrimEnd('.'))}"
                : $"not a checkpoint file: invalid or unexpected JSON at {e.Path ?? "$"} (line {(e.LineNumber ?? 0) + 1})");
        }
        if (file is null) throw new CheckpointFormatException("not a checkpoint file: it is JSON null");
        if (file.Format != Format) throw new CheckpointFormatException($"format is not '{Format}'");
        if (file.Version != CurrentVersion) throw new CheckpointFormatException($"version {file.Version} is not {CurrentVersion}");
        if (!DateTimeOffset.TryParseExact(file.Time, TimeFormat, CultureInfo.InvariantCulture,
                DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var time))
            throw new CheckpointFormatException($"time must be UTC as {TimeFormat}");
        try
        {
            RequireValid(file.Schema, file.Sequence, file.ChainHash, file.EventsChained, file.KeyId);
        }
        catch (ArgumentException e)
        {
            throw new CheckpointFormatException(e.Message);
        }
        if (string.IsNullOrEmpty(file.Signature) || file.Signature.Length > 200)
            throw new CheckpointFormatException("signature is missing or too long");
        return new LedgerCheckpoint(file.Schema, file.Sequence, file.ChainHash, file.EventsChained, time, file.KeyId, file.Signature);
    }

    private static void RequireValid(string schema, long sequence, string chainHash, long eventsChained, string keyId)
    {
        if (schema is null || !SchemaName.IsMatch(schema)) throw new ArgumentException("schema must be a plain PostgreSQL identifier");
        if (sequence < 1) throw new ArgumentException("sequence must be positive");
        if (!Sha256Hex.IsValid(chainHash)) throw new ArgumentException("chainHash must be 64 lower-case hex characters");
        if (eventsChained < 1) throw new ArgumentException("eventsChained must be positive");
        if (!Sha256Hex.IsValid(keyId)) throw new ArgumentException("keyId must be 64 lower-case hex characters");
    }

    private static string Short(string text)
    {
        var printable = new string(text.Where(c => !char.IsControl(c)).ToArray());
        return printable.Length <= 120 ? printable : printable[..120] + "…";
    }

    private static readonly JsonSerializerOptions FileJson = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        WriteIndented = true,
        MaxDepth = 4,
        AllowDuplicateProperties = false,
    };

    private sealed class CheckpointFile
    {
        [JsonRequired] public string Format { get; init; } = "";
        [JsonRequired] public int Version { get; init; }
        [JsonRequired] public string Schema { get; init; } = "";
        [JsonRequired] public long Sequence { get; init; }
        [JsonRequired] public string ChainHash { get; init; } = "";
        [JsonRequired] public long EventsChained { get; init; }
        [JsonRequired] public string Time { get; init; } = "";
        [JsonRequired] public string KeyId { get; init; } = "";
        [JsonRequired] public string Signature { get; init; } = "";
    }
}

/// <summary>A checkpoint file that cannot be read as one (its signature was not even looked at).</summary>
public sealed class CheckpointFormatException(string message) : Exception(message);
