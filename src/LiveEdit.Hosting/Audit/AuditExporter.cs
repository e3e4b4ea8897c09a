using System.Data;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Audit;
using LiveEdit.Ledger.Edits;
using LiveEdit.Ledger.Errors;
using Marten.Storage;
using Npgsql;

namespace LiveEdit.Hosting.Audit;

/// <summary>What to export: the range's two ends (a version, a date or a time; whole ledger when null) and who asks.</summary>
/// <param name="CheckpointFolder">Where the signed checkpoints are; null: none looked for.</param>
/// <param name="PublicKey">The key they must be signed with; null: their signatures are not checked.</param>
public sealed record AuditExportRequest(string? From, string? To, string GeneratedBy, string? CheckpointFolder = null, CheckpointPublicKey? PublicKey = null);

/// <summary>A bound of the export's range that is not a version or time of this ledger; <see cref="Parameter"/> names it.</summary>
public sealed class AuditRangeException(string parameter, string message) : Exception(message)
{
    /// <summary><c>from</c> or <c>to</c>.</summary>
    public string Parameter { get; } = parameter;
}

/// <summary>
/// Builds an <see cref="AuditExport"/> from the ledger: reads the chained histories of the edits in range in one query,
/// walks the whole hash chain, re-hashes every stored blob and looks for every blob the edits name, and reads the last
/// signed checkpoint. Never leaves a failed check out: the export's <see cref="AuditExport.Status"/> and
/// <see cref="AuditChecks.Failures"/> carry it.
/// </summary>
public sealed class AuditExporter(EditLedger ledger, TimeProvider? clock = null)
{
    /// <summary>What <see cref="AuditChecks.ExpertRegeneration"/> says: that check is not part of an export.</summary>
    public const string RegenerationNotRun =
        "not run: re-generating every expert from its chained edit and comparing SHA-256s is a separate, slower check (liveedit verify --experts)";

    private readonly TimeProvider _clock = clock ?? TimeProvider.System;

    /// <summary>The export of <paramref name="request"/>'s range.</summary>
    /// <exception cref="AuditRangeException">A bound is not a version or time, or lies outside the ledger.</exception>
    public async Task<AuditExport> ExportAsync(AuditExportRequest request, CancellationToken ct = default)
    {
        var head = await ledger.GetHeadAsync(ct);
        var (fromVersion, toVersion) = await ResolveAsync(request.From, request.To, head, ct);
        var verification = await ledger.VerifyAsync(ct);
        var histories = toVersion >= fromVersion && toVersion > 0
            ? await ledger.ReadEditHistoriesAsync(Math.Max(0, fromVersion - 1), toVersion, ct)
            : [];
        var edits = histories.Select(h => Edit(h)).ToArray();
        var named = edits.SelectMany(e => e.ExpertSha256 is null ? [e.ImageSha256] : new[] { e.ImageSha256, e.ExpertSha256 }).ToHashSet(StringComparer.Ordinal);
        var blobs = await CheckBlobsAsync(named, ct);
        var policies = (await ledger.ListRoutingPoliciesAsync(ct))
            .Where(p => p.Version >= fromVersion && p.Version <= toVersion)
            .Select(p => new AuditPolicyChange(p.Version, p.Event.SetAt, p.Event.SetBy, p.Event.Reason, p.Event.PolicySha256, p.Event.Inception, Fields(p.Event.Policy)))
            .ToArray();
        var checkpoints = new LedgerCheckpoints(ledger);
        var chainHead = await checkpoints.ReadHeadAsync(null, ct);
        var (checkpoint, note, checkpointFailures) = await CheckpointAsync(checkpoints, verification, request, ct);

        var failures = new List<string>();
        failures.AddRange(verification.Breaks.Select(b =>
            $"hash chain broken at version {b.Version}{(b.EditId is { } id ? $" (edit {id})" : "")}: {b.Kind}: {b.Message}"));
        failures.AddRange(blobs.Problems.Select(p => $"blob {p.Sha256} is {p.Problem}{(p.ActualSha256 is { } actual ? $" (its bytes hash to {actual})" : "")}"));
        failures.AddRange(checkpointFailures);
        var checks = new AuditChecks(failures,
            new AuditChainCheck(verification.IsIntact, verification.EventsChecked, verification.Head, verification.Breaks, verification.Acknowledged),
            blobs, RegenerationNotRun);
        return new AuditExport(AuditExport.FormatName, AuditExport.CurrentVersion, failures.Count == 0 ? AuditStatus.Passed : AuditStatus.Failed, checks,
            _clock.GetUtcNow(), request.GeneratedBy, checkpoints.Schema,
            new AuditRange(request.From ?? "0", request.To ?? "head", fromVersion, toVersion),
            new AuditChainState(chainHead?.Sequence ?? 0, chainHead?.RecordHash, chainHead?.EntriesUpTo ?? 0, checkpoint, note),
            edits, policies);
    }

    /// <summary>The range as versions, both ends inclusive.</summary>
    private async Task<(long From, long To)> ResolveAsync(string? from, string? to, long head, CancellationToken ct)
    {
        var fromVersion = from is null ? 0 : await BoundAsync(from, "from", head, ct) switch
        {
            (long v, false) => v,
            (long v, true) => v + 1, // a time: the first version after it
        };
        var toVersion = to is null ? head : (await BoundAsync(to, "to", head, ct)).Version;
        if (from is not null && to is not null && IsTime(from) && IsTime(to) && ParseTime(to, "to") < ParseTime(from, "from"))
            throw new AuditRangeException("to", $"'to' ({to}) is before 'from' ({from})");
        // Two versions the wrong way round are a mistake; a time window with no event in it is an empty range.
        if (toVersion < fromVersion && (from is null || !IsTime(from)) && (to is null || !IsTime(to)))
            throw new AuditRangeException("to", $"'to' (version {toVersion}) is before 'from' (version {fromVersion})");
        return (fromVersion, toVersion);
    }

    /// <summary>A version as given, or, for a time, the version in force then (0 before the first event).</summary>
    private async Task<(long Version, bool IsTime)> BoundAsync(string text, string name, long head, CancellationToken ct)
    {
        if (text.Length is 0 or > 40) throw new AuditRangeException(name, $"'{name}' must be a ledger version or an ISO-8601 date or time");
        if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var version))
        {
            if (version > head) throw new AuditRangeException(name, $"'{name}' version {version} is after the ledger's head {head}");
            return (version, false);
        }
        var at = ParseTime(text, name);
        // A date alone as the end of the range means the whole of that day.
        if (name == "to" && text.Length == 10) at = at.AddDays(1).AddTicks(-1);
        try
        {
            return (await ledger.GetVersionAtAsync(at, ct), true);
        }
        catch (VersionBeforeFirstEventException)
        {
            return (0, true);
        }
    }

    private static bool IsTime(string text) => !long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out _);

    private static DateTimeOffset ParseTime(string text, string name) =>
        DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var at)
            ? at
            : throw new AuditRangeException(name, $"'{name}' is neither a ledger version (a whole number) nor an ISO-8601 date or time (e.g. 2026-03-03 or 2026-03-03T12:00:00Z)");

    private static AuditEdit Edit(ChainedEditHistory history)
    {
        var proposal = history.Proposal;
        var state = LiveEdit.Ledger.Edits.Edit.Fold(history.Events.Select(e => e.Event))!;
        var intervals = new List<AuditInterval>();
        long? open = null;
        foreach (var entry in history.Events)
        {
            switch (entry.Event)
            {
                case EditActivated:
                    open ??= entry.Version;
                    break;
                case EditRetracted or EditSuperseded when open is { } start:
                    intervals.Add(new AuditInterval(start, entry.Version));
                    open = null;
                    break;
            }
        }
        if (open is { } still) intervals.Add(new AuditInterval(still, null));
        return new AuditEdit(history.EditId, state.Status.ToString(), proposal.Prompt, proposal.Target, proposal.Rationale, proposal.ImageSha256,
            proposal.ProposedBy, proposal.ProposedAt, proposal.Tags, proposal.Supersedes, state.ExpertSha256, intervals,
            history.Events.Select(e => Event(e.Version, e.Timestamp, e.Event)).ToArray());
    }

    private static readonly JsonSerializerOptions EventJson = new(JsonSerializerDefaults.Web);

    private static AuditEvent Event(long version, DateTimeOffset at, object e)
    {
        var (kind, actor, reason, details) = e switch
        {
            EditProposed p => ("proposed", p.ProposedBy, p.Rationale, Details(("imageSha256", p.ImageSha256), ("tags", string.Join(", ", p.Tags)), ("supersedes", p.Supersedes?.ToString()))),
            EditApproved a => ("approved", a.ApprovedBy, (string?)null, Details()),
            EditRejected r => ("rejected", r.RejectedBy, r.Reason, Details()),
            ExpertGenerated g => ("expert generated", g.WorkerId, null, Details(("expertSha256", g.ExpertSha256), ("generatorSha256", g.GeneratorSha256),
                ("baseModelSha256", g.BaseModelSha256), ("rank", Text(g.Rank)), ("dim", Text(g.Dim)), ("durationMs", Text(g.DurationMs)))),
            EditActivated a => ("activated", null, null, Details(("expertSha256", a.ExpertSha256))),
            EditRetracted r => ("retracted", r.RetractedBy, r.Reason, Details()),
            EditSuperseded s => ("superseded", null, null, Details(("supersededBy", s.SupersededBy.ToString()))),
            ExpertGenerationFailed f => ("generation failed", f.WorkerId, f.Reason, Details(("code", f.Code))),
            _ => (e.GetType().Name, null, null, Details()),
        };
        return new AuditEvent(version, at, kind, actor, reason, details, Signature(e));
    }

    /// <summary>
    /// The electronic signature an event carries (its <c>signature</c> member, whatever its fields), flattened to named
    /// values; null when the event carries none. Read from the event's JSON form so every recorded field is shown.
    /// </summary>
    private static IReadOnlyList<AuditField>? Signature(object e)
    {
        var json = JsonSerializer.SerializeToElement(e, e.GetType(), EventJson);
        if (!json.TryGetProperty("signature", out var signature) || signature.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined) return null;
        var fields = new List<AuditField>();
        Flatten(signature, "", fields);
        return fields;
    }

    private static void Flatten(JsonElement element, string prefix, List<AuditField> into)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var p in element.EnumerateObject()) Flatten(p.Value, prefix.Length == 0 ? p.Name : $"{prefix}.{p.Name}", into);
                break;
            case JsonValueKind.Array:
                var i = 0;
                foreach (var item in element.EnumerateArray()) Flatten(item, $"{prefix}[{i++}]", into);
                break;
            case JsonValueKind.Null:
                break;
            default:
                into.Add(new AuditField(prefix.Length == 0 ? "value" : prefix, element.ValueKind == JsonValueKind.String ? element.GetString()! : element.GetRawText()));
                break;
        }
    }

    private static IReadOnlyList<AuditField> Details(params (string Name, string? Value)[] fields) =>
        fields.Where(f => !string.IsNullOrEmpty(f.Value)).Select(f => new AuditField(f.Name, f.Value!)).ToArray();

    private static IReadOnlyList<AuditField> Fields(LiveEdit.Ledger.Policies.RecordedRoutingPolicy p) => Details(
        ("margin", Text(p.Margin)), ("band", Text(p.Band)), ("hubnessWeight", Text(p.HubnessWeight)), ("hubnessTopK", Text(p.HubnessTopK)),
        ("filterBankSha256", p.FilterBankSha256));

    private static string Text(IFormattable value) => value.ToString(null, CultureInfo.InvariantCulture);

    /// <summary>Re-hashes every stored blob (streamed, hashed on every core) and looks for every blob in <paramref name="named"/>.</summary>
    private async Task<AuditBlobCheck> CheckBlobsAsync(IReadOnlySet<string> named, CancellationToken ct)
    {
        var problems = new List<AuditBlobProblem>();
        var present = new HashSet<string>(StringComparer.Ordinal);
        long count = 0, bytes = 0;
        var schema = ledger.Store.Options.Events.DatabaseSchemaName;
        await using (var connection = ledger.Store.Storage.Database.CreateConnection(ConnectionUsage.Read))
        {
            await connection.OpenAsync(ct);
            await using var select = new NpgsqlCommand($"select sha256, content from {schema}.ledger_blobs", connection);
            await using var reader = await select.ExecuteReaderAsync(CommandBehavior.SequentialAccess, ct);
            var pending = new List<Task<AuditBlobProblem?>>();
            while (await reader.ReadAsync(ct))
            {
                var sha = reader.GetString(0);
                var content = await reader.GetFieldValueAsync<byte[]>(1, ct);
                present.Add(sha);
                count++;
                bytes += content.Length;
                pending.Add(Task.Run(() =>
                {
                    var actual = Convert.ToHexStringLower(SHA256.HashData(content));
                    return actual == sha ? null : new AuditBlobProblem(sha, "corrupt", actual);
                }, ct));
            }
            foreach (var problem in await Task.WhenAll(pending))
                if (problem is not null) problems.Add(problem);
        }
        problems.AddRange(named.Where(sha => !present.Contains(sha)).Order(StringComparer.Ordinal).Select(sha => new AuditBlobProblem(sha, "missing", null)));
        problems.Sort((a, b) => string.CompareOrdinal(a.Sha256, b.Sha256));
        return new AuditBlobCheck(problems.Count == 0, count, bytes, problems);
    }

    private static async Task<(AuditCheckpoint? Checkpoint, string Note, IReadOnlyList<string> Failures)> CheckpointAsync(LedgerCheckpoints checkpoints,
        LedgerVerification walk, AuditExportRequest request, CancellationToken ct)
    {
        if (request.CheckpointFolder is not { } folder) return (null, "no checkpoint folder configured: no signed checkpoint was looked for", []);
        if (request.PublicKey is { } key)
        {
            CheckpointVerification result;
            try
            {
                result = await checkpoints.VerifyCheckpointsAsync(folder, key, walk, ct);
            }
            catch (CheckpointException e)
            {
                return (null, e.Message, [$"checkpoints: {e.Message}"]);
            }
            var failures = result.Problems.Where(p => p.Kind != CheckpointProblemKind.NoCheckpoints)
                .Select(p => $"checkpoint {p.File}: {p.Kind}: {p.Message}").ToArray();
            var last = result.Verified.LastOrDefault();
            var note = last is null
                ? $"no checkpoint of schema '{checkpoints.Schema}' in '{folder}' signed by key {key.KeyId[..16]}… still matches the chain"
                : $"checkpoints in '{folder}' checked against key {key.KeyId[..16]}…: {result.Verified.Count} still extended by the ledger, {failures.Length} problem(s)";
            return (last is null ? null : Checkpoint(last, "signature valid; the ledger still extends it"), note, failures);
        }
        // No key: the newest checkpoint file of this schema, shown as found; its hash is still compared with the chain.
        LedgerCheckpoint? newest = null;
        try
        {
            foreach (var path in Directory.Exists(folder) ? Directory.GetFiles(folder, "*.json") : [])
            {
                try
                {
                    var c = LedgerCheckpoint.Parse(await File.ReadAllTextAsync(path, ct));
                    if (c.Schema == checkpoints.Schema && (newest is null || c.Sequence > newest.Sequence)) newest = c;
                }
                catch (CheckpointFormatException)
                {
                    // Not a checkpoint: left for `liveedit verify --checkpoints`, which names every such file.
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (null, $"cannot read checkpoint folder '{folder}': {e.Message}", [$"checkpoints: cannot read '{folder}': {e.Message}"]);
        }
        if (newest is null) return (null, $"no checkpoint of schema '{checkpoints.Schema}' in '{folder}'", []);
        var hashes = await checkpoints.ReadHashesAsync([newest.Sequence], ct);
        var matches = hashes.GetValueOrDefault(newest.Sequence) == newest.ChainHash;
        return (Checkpoint(newest, matches ? "signature not checked (no public key given); its chain hash matches the ledger" : "signature not checked; its chain hash does NOT match the ledger"),
            $"newest checkpoint in '{folder}'", matches ? [] : [$"checkpoint {newest.FileName}: the chain entry at sequence {newest.Sequence} no longer has the signed hash"]);
    }

    private static AuditCheckpoint Checkpoint(LedgerCheckpoint c, string verified) =>
        new(c.FileName, c.Sequence, c.ChainHash, c.EventsChained, c.Time, c.KeyId, verified);
}
