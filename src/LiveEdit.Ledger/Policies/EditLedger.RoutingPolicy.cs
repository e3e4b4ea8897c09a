using System.Text.Json;
using LiveEdit.Ledger.Errors;
using LiveEdit.Ledger.Policies;
using Npgsql;

namespace LiveEdit.Ledger;

// The routing policy in force (docs/routing-policy.md): chained RoutingPolicySet events on a stream of the ledger's own.
public sealed partial class EditLedger
{
    /// <summary>
    /// The ledger's routing-policy stream: <see cref="RoutingPolicySet"/> events. Not an edit: never in edit listings,
    /// histories or the active set; listed among the versions as <see cref="Versions.LedgerChange.RoutingPolicySet"/>.
    /// </summary>
    public static readonly Guid RoutingPolicyStreamId = Guid.Parse("1ed9e700-0000-4000-8000-00000000901c");

    private static readonly JsonSerializerOptions PolicyJson = new(JsonSerializerDefaults.Web);

    /// <summary>
    /// Appends a <see cref="RoutingPolicySet"/>: from its version on the model routes with <paramref name="policy"/>.
    /// Decided under the append lock: with <paramref name="expectedVersion"/> (the version of the policy event the caller
    /// saw, 0 for none) a change made meanwhile refuses it; a <paramref name="requestId"/> already used answers with the
    /// event it set (the same policy) or refuses (another one).
    /// </summary>
    /// <exception cref="InvalidEditInputException">A malformed value, SHA-256, actor or reason.</exception>
    /// <exception cref="RoutingPolicyVersionMismatchException"/>
    /// <exception cref="RoutingPolicyRequestReusedException"/>
    public async Task<RoutingPolicyResult> SetRoutingPolicyAsync(RecordedRoutingPolicy policy, string policySha256, string setBy, string reason,
        long? expectedVersion = null, Guid? requestId = null, CancellationToken ct = default)
    {
        var set = NewPolicyEvent(policy, policySha256, setBy, reason, inception: false, requestId);
        RoutingPolicyResult? replay = null;
        var version = await AppendAsync(async (connection, tx, token) =>
        {
            var recorded = await ReadPoliciesAsync(connection, tx, token);
            if (requestId is { } id && recorded.FirstOrDefault(r => r.Event.RequestId == id) is { } earlier)
            {
                if (earlier.Event.PolicySha256 != set.PolicySha256 || earlier.Event.SetBy != set.SetBy)
                    throw new RoutingPolicyRequestReusedException(earlier.Version);
                replay = new RoutingPolicyResult(earlier.Version, earlier.Event, true);
                return ([], null);
            }
            var current = recorded.Count == 0 ? 0 : recorded[^1].Version;
            if (expectedVersion is { } expected && expected != current) throw new RoutingPolicyVersionMismatchException(expected, current);
            return ([new StreamAppend(RoutingPolicyStreamId, null, [set], LedgerStream: true)], null);
        }, ct);
        return replay ?? new RoutingPolicyResult(version, set, false);
    }

    /// <summary>
    /// Records <paramref name="policy"/> as the inception policy (<see cref="RoutingPolicySet.Inception"/>) unless the
    /// ledger already holds a policy event; returns the first policy event either way. A host calls it before it first
    /// serves, so what a version was served with never depends on a later default.
    /// </summary>
    public async Task<RoutingPolicyVersion> RecordInceptionRoutingPolicyAsync(RecordedRoutingPolicy policy, string policySha256, string setBy, string reason,
        CancellationToken ct = default)
    {
        var set = NewPolicyEvent(policy, policySha256, setBy, reason, inception: true, null);
        RoutingPolicyVersion? first = null;
        var version = await AppendAsync(async (connection, tx, token) =>
        {
            var recorded = await ReadPoliciesAsync(connection, tx, token);
            if (recorded.Count > 0)
            {
                first = recorded[0];
                return ([], null);
            }
            return ([new StreamAppend(RoutingPolicyStreamId, null, [set], LedgerStream: true)], null);
        }, ct);
        return first ?? new RoutingPolicyVersion(version, set);
    }

    /// <summary>Every chained, authentic <see cref="RoutingPolicySet"/>, oldest first (rows without this ledger's MAC are left out).</summary>
    public async Task<IReadOnlyList<RoutingPolicyVersion>> ListRoutingPoliciesAsync(CancellationToken ct = default)
    {
        await using var connection = Connect();
        await connection.OpenAsync(ct);
        return await ReadPoliciesAsync(connection, null, ct);
    }

    /// <summary>
    /// The policy event in force at <paramref name="version"/>: the last one at or before it; before the first one, the
    /// first one (it records what was in force before it); null when the ledger holds none.
    /// </summary>
    /// <exception cref="Errors.VersionOutOfRangeException"/>
    public async Task<RoutingPolicyVersion?> GetRoutingPolicyAtAsync(long version, CancellationToken ct = default)
    {
        await using var connection = Connect();
        await connection.OpenAsync(ct);
        await RequireVersionAsync(connection, version, ct);
        var recorded = await ReadPoliciesAsync(connection, null, ct);
        return PolicyAt(recorded, version);
    }

    /// <summary>The rule of <see cref="GetRoutingPolicyAtAsync"/> over a list from <see cref="ListRoutingPoliciesAsync"/>.</summary>
    public static RoutingPolicyVersion? PolicyAt(IReadOnlyList<RoutingPolicyVersion> recorded, long version) =>
        recorded.LastOrDefault(r => r.Version <= version) ?? recorded.FirstOrDefault();

    /// <summary>
    /// The generator id of every chained, authentic <c>ExpertGenerated</c> event, in sequence order: which generator ids
    /// the ledger's experts carry (the inception policy of a ledger written before the routing policy left the identity).
    /// </summary>
    public async Task<IReadOnlyList<string>> ListChainedGeneratorIdsAsync(CancellationToken ct = default)
    {
        await using var connection = Connect();
        await connection.OpenAsync(ct);
        var rows = new List<(long Seq, string Generator)>();
        await using (var command = new NpgsqlCommand($"""
            select a.seq_id, a.data->>'generatorSha256' from {_events} a {Chained("a")}
            where a.type = '{EventTypeNames.ExpertGenerated}'
            order by a.seq_id
            """, connection))
        {
            await using var reader = await command.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct)) if (!reader.IsDBNull(1)) rows.Add((reader.GetInt64(0), reader.GetString(1)));
        }
        if (rows.Count == 0) return [];
        var authentic = await _chain.AuthenticAsync(connection, rows.Select(r => r.Seq).ToArray(), ct);
        return rows.Where(r => authentic.Contains(r.Seq)).Select(r => r.Generator).ToArray();
    }

    private RoutingPolicySet NewPolicyEvent(RecordedRoutingPolicy policy, string policySha256, string setBy, string reason, bool inception, Guid? requestId)
    {
        ArgumentNullException.ThrowIfNull(policy);
        void Finite(string field, double value)
        {
            if (!double.IsFinite(value)) throw new InvalidEditInputException(field, "must be a finite number.");
        }
        Finite("margin", policy.Margin);
        Finite("band", policy.Band);
        Finite("hubnessWeight", policy.HubnessWeight);
        if (policy.HubnessTopK < 0) throw new InvalidEditInputException("hubnessTopK", "must not be negative.");
        if (policy.FilterBankSha256 is { } bank) Sha256Hex.Require(bank, "filterBankSha256");
        Sha256Hex.Require(policySha256, "policySha256");
        if (string.IsNullOrWhiteSpace(setBy)) throw new InvalidEditInputException("setBy", "must not be empty.");
        if (setBy.Length > Edits.EditLimits.MaxActorLength) throw new InvalidEditInputException("setBy", $"must be at most {Edits.EditLimits.MaxActorLength} characters, got {setBy.Length}.");
        if (string.IsNullOrWhiteSpace(reason)) throw new InvalidEditInputException("reason", "must not be empty.");
        if (reason.Length > Edits.EditLimits.MaxRationaleLength) throw new InvalidEditInputException("reason", $"must be at most {Edits.EditLimits.MaxRationaleLength} characters, got {reason.Length}.");
        return new RoutingPolicySet(RoutingPolicyStreamId, policy with { FilterBankSha256 = policy.FilterBankSha256?.ToLowerInvariant() },
            policySha256.ToLowerInvariant(), setBy.Trim(), reason, inception, requestId, _options.Clock.GetUtcNow());
    }

    // The chained policy events whose chain entry is authentic (as for the active set: a row inserted with a home-made
    // chain entry never decides how the model routes).
    private async Task<IReadOnlyList<RoutingPolicyVersion>> ReadPoliciesAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, CancellationToken ct)
    {
        var rows = new List<(long Seq, string Data)>();
        await using (var command = new NpgsqlCommand($"""
            select a.seq_id, a.data::text from {_events} a {Chained("a")}
            where a.type = '{EventTypeNames.RoutingPolicySet}' and a.stream_id = @s
            order by a.seq_id
            """, connection, tx))
        {
            command.Parameters.AddWithValue("s", RoutingPolicyStreamId);
            await using var reader = await command.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct)) rows.Add((reader.GetInt64(0), reader.GetString(1)));
        }
        if (rows.Count == 0) return [];
        var authentic = await _chain.AuthenticAsync(connection, rows.Select(r => r.Seq).ToArray(), ct);
        return rows.Where(r => authentic.Contains(r.Seq))
            .Select(r => new RoutingPolicyVersion(r.Seq, JsonSerializer.Deserialize<RoutingPolicySet>(r.Data, PolicyJson)!))
            .ToArray();
    }
}

/// <summary>An idempotency key used before for another policy (or by another caller): nothing was written.</summary>
public sealed class RoutingPolicyRequestReusedException(long version)
    : LedgerException("idempotency_key_reused", LedgerErrorKind.Conflict,
        $"this Idempotency-Key set another routing policy (version {version}); use a new key for a new change")
{
    /// <summary>The version of the policy event the key set.</summary>
    public long Version { get; } = version;
}
