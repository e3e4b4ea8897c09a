using LiveEdit.Ledger.Audit;
using LiveEdit.Ledger.Errors;
using LiveEdit.Ledger.Versions;
using Npgsql;

namespace LiveEdit.Ledger;

// Versions and time travel: the head, the version at a time, the active expert set at any version (the one
// road every reader takes: chained, authenticated activations and removals), the versions list and diffs.
public sealed partial class EditLedger
{
    /// <summary>The current model version: the global sequence of the last event (0 for an empty ledger).</summary>
    public async Task<long> GetHeadAsync(CancellationToken ct = default)
    {
        await using var connection = Connect();
        await connection.OpenAsync(ct);
        return await HeadAsync(connection, ct);
    }

    private async Task<long> HeadAsync(NpgsqlConnection connection, CancellationToken ct)
    {
        // Only chained events are versions: the chain's primary key answers this without reading mt_events.
        await using var command = new NpgsqlCommand($"select coalesce(max(seq_id), 0) from {_schema}.ledger_chain", connection);
        return (long)(await command.ExecuteScalarAsync(ct))!;
    }

    /// <summary>The version in force at <paramref name="asOf"/>: the last event at or before it.</summary>
    /// <exception cref="VersionBeforeFirstEventException"/>
    public async Task<long> GetVersionAtAsync(DateTimeOffset asOf, CancellationToken ct = default)
    {
        await using var connection = Connect();
        await connection.OpenAsync(ct);
        var at = asOf.ToUniversalTime();
        // The last event at or before the time, found on the time index (an index-only range scan, not a scan of every
        // event); it counts only when the ledger chained it. A row the ledger did not chain there (a tombstone, a row
        // inserted behind its back) sends the search below it, a few times, then to the exhaustive query. max(seq_id + 0), not
        // max(seq_id): the planner turns the latter into a backward walk of the primary key that filters on time, visiting
        // every event after t.
        long? below = null;
        for (var attempt = 0; attempt < 4; attempt++)
        {
            await using var candidate = new NpgsqlCommand($"""
                select m.seq_id, exists (select 1 from {_schema}.ledger_chain c where c.seq_id = m.seq_id)
                from (select max(e.seq_id + 0) as seq_id from {_events} e where e.timestamp <= @t and e.seq_id < @below) m
                """, connection);
            candidate.Parameters.AddWithValue("t", at);
            candidate.Parameters.AddWithValue("below", below ?? long.MaxValue);
            await using var reader = await candidate.ExecuteReaderAsync(ct);
            await reader.ReadAsync(ct);
            if (reader.IsDBNull(0)) break;
            if (reader.GetBoolean(1)) return reader.GetInt64(0);
            below = reader.GetInt64(0);
        }
        await using var command = new NpgsqlCommand(
            $"select (select max(e.seq_id) from {_events} e {Chained("e")} where e.timestamp <= @t), (select min(e.timestamp) from {_events} e {Chained("e")})", connection);
        command.Parameters.AddWithValue("t", at);
        await using var exhaustive = await command.ExecuteReaderAsync(ct);
        await exhaustive.ReadAsync(ct);
        if (exhaustive.IsDBNull(0))
            throw new VersionBeforeFirstEventException(asOf, exhaustive.IsDBNull(1) ? null : new DateTimeOffset(exhaustive.GetFieldValue<DateTime>(1), TimeSpan.Zero));
        return exhaustive.GetInt64(0);
    }

    /// <summary>The active expert set at the head.</summary>
    public async Task<ActiveExpertSet> GetActiveExpertsAsync(CancellationToken ct = default)
    {
        await using var connection = Connect();
        await connection.OpenAsync(ct);
        return await ActiveAtAsync(connection, await HeadAsync(connection, ct), ct);
    }

    /// <summary>The active expert set at version <paramref name="version"/>, in activation order; the same however many events follow.</summary>
    /// <exception cref="VersionOutOfRangeException"/>
    public async Task<ActiveExpertSet> GetActiveExpertsAsync(long version, CancellationToken ct = default)
    {
        await using var connection = Connect();
        await connection.OpenAsync(ct);
        await RequireVersionAsync(connection, version, ct);
        return await ActiveAtAsync(connection, version, ct);
    }

    /// <summary>The active expert set in force at <paramref name="asOf"/>.</summary>
    /// <exception cref="VersionBeforeFirstEventException"/>
    public async Task<ActiveExpertSet> GetActiveExpertsAsync(DateTimeOffset asOf, CancellationToken ct = default) =>
        await GetActiveExpertsAsync(await GetVersionAtAsync(asOf, ct), ct);

    private async Task RequireVersionAsync(NpgsqlConnection connection, long version, CancellationToken ct)
    {
        var head = await HeadAsync(connection, ct);
        if (version < 0 || version > head) throw new VersionOutOfRangeException(version, head);
    }

    /// <summary>
    /// The active-set road's index: the sequences of activations and removals alone, in order, so the active set at a
    /// version is an index-only scan that touches no other event (proposals, approvals, experts with their keys). Its
    /// predicate is the one in <see cref="ActiveAtAsync"/>, word for word, which is how the planner matches a partial index.
    /// Marten's migration is told to leave it be (<see cref="LedgerStore.ConfigureLedger"/>), and every
    /// <see cref="EnsureSchemaAsync"/> creates it when missing.
    /// </summary>
    private string ActiveRoadIndexSql() => $"""
        create index if not exists {ActiveRoadIndex} on {_events} (seq_id)
            where type in ('{EventTypeNames.Activated}', '{EventTypeNames.Retracted}', '{EventTypeNames.Superseded}');

        """;

    /// <summary>Name of the active-set road's index on the events table.</summary>
    internal const string ActiveRoadIndex = "ledger_active_road";

    /// <summary>
    /// The time index: events by time, with their sequence, so the version in force at a time is an index-only range scan
    /// (<see cref="GetVersionAtAsync"/>). Left be by Marten's migration and created by <see cref="EnsureSchemaAsync"/> as the
    /// road's index is; without it the same query scans the events, slower and equally right.
    /// </summary>
    private string VersionTimeIndexSql() => $"""
        create index if not exists {VersionTimeIndex} on {_events} (timestamp, seq_id);

        """;

    /// <summary>Name of the time index on the events table.</summary>
    internal const string VersionTimeIndex = "ledger_version_time";

    /// <summary>An activation or removal whose chain entry was found authentic, as the ledger read it then.</summary>
    private sealed record RoadEvent(Guid Stream, string Type, string? Expert, DateTime Timestamp);

    // Activations and removals found authentic, by sequence. Rows are insert-only for the application role, so an event,
    // once authentic, stays what it was (a superuser's rewrite is what verify reports); this is the same promise the
    // chain's own authenticity cache rests on, holding the few fields the active set needs instead of a flag.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<long, RoadEvent> _road = new();

    // One string per type, not one per remembered event.
    private static string RoadType(string type) => type switch
    {
        EventTypeNames.Activated => EventTypeNames.Activated,
        EventTypeNames.Retracted => EventTypeNames.Retracted,
        EventTypeNames.Superseded => EventTypeNames.Superseded,
        _ => type,
    };

    // Up to this many unknown sequences are read by sequence; more (a cold ledger) by the range they span.
    private const int ReadBySequenceUpTo = 256;

    private static string? ExpertOf(HashChain.AuthenticRow row)
    {
        if (row.Type != EventTypeNames.Activated) return null;
        using var data = System.Text.Json.JsonDocument.Parse(row.Data);
        return data.RootElement.TryGetProperty("expertSha256", out var sha) && sha.ValueKind == System.Text.Json.JsonValueKind.String ? sha.GetString() : null;
    }

    private async Task<ActiveExpertSet> ActiveAtAsync(NpgsqlConnection connection, long version, CancellationToken ct)
    {
        var events = await RoadAsync(connection, 0, version, ct);
        var removed = events.Where(r => r.Event.Type != EventTypeNames.Activated).Select(r => r.Event.Stream).ToHashSet();
        var experts = events
            .Where(r => r.Event.Type == EventTypeNames.Activated && r.Event.Expert is not null && !removed.Contains(r.Event.Stream))
            .Select(r => new ActiveExpert(r.Event.Stream, r.Event.Expert!, r.Seq, new DateTimeOffset(r.Event.Timestamp, TimeSpan.Zero)))
            .ToArray();
        return new ActiveExpertSet(version, experts);
    }

    /// <summary>
    /// What changed in the active expert set after version <paramref name="after"/>, up to the head: the authenticated
    /// activations and removals in that range only, in sequence order (the same road <see cref="GetActiveExpertsAsync(long, CancellationToken)"/>
    /// folds from the start). Applied in order to the active set at <paramref name="after"/>, they give the active set at
    /// <see cref="ActiveSetChanges.Version"/>; a reader that follows the head reads what each append changed, not the whole set.
    /// </summary>
    public async Task<ActiveSetChanges> GetActiveExpertChangesAsync(long after, CancellationToken ct = default)
    {
        await using var connection = Connect();
        await connection.OpenAsync(ct);
        var head = await HeadAsync(connection, ct);
        if (head <= after) return new ActiveSetChanges(after, head, []);
        var events = await RoadAsync(connection, after, head, ct);
        return new ActiveSetChanges(after, head, events.Select(r => new ActiveSetChange(r.Seq, r.Event.Stream,
            r.Event.Type == EventTypeNames.Activated ? r.Event.Expert : null, r.Event.Type != EventTypeNames.Activated,
            new DateTimeOffset(r.Event.Timestamp, TimeSpan.Zero))).ToArray());
    }

    /// <summary>The authenticated activations and removals with a sequence in (<paramref name="after"/>, <paramref name="upTo"/>], in order.</summary>
    private async Task<List<(long Seq, RoadEvent Event)>> RoadAsync(NpgsqlConnection connection, long after, long upTo, CancellationToken ct)
    {
        // The sequences of activations and removals in the range: an index-only scan of the active road's index.
        var sequences = new List<long>();
        await using (var command = new NpgsqlCommand($"""
            select a.seq_id from {_events} a
            where a.seq_id > @after and a.seq_id <= @v and a.type in ('{EventTypeNames.Activated}', '{EventTypeNames.Retracted}', '{EventTypeNames.Superseded}')
            order by a.seq_id
            """, connection))
        {
            command.Parameters.AddWithValue("after", after);
            command.Parameters.AddWithValue("v", upTo);
            await using var reader = await command.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct)) sequences.Add(reader.GetInt64(0));
        }
        // Those not yet known: read with their chain entries, and kept only when the entry is authentic (a row inserted with
        // a home-made chain entry must not add or remove an expert). A fresh ledger reads every one once, in one query over
        // the range they span (the road's index again; rows already known in it are skipped unhashed); later reads only
        // the few new ones by sequence.
        var unknown = sequences.Where(q => !_road.ContainsKey(q)).ToArray();
        if (unknown.Length > 0)
        {
            const string Road = $"e.type in ('{EventTypeNames.Activated}', '{EventTypeNames.Retracted}', '{EventTypeNames.Superseded}')";
            var wanted = unknown.ToHashSet();
            var rows = unknown.Length <= ReadBySequenceUpTo
                ? await _chain.ReadAuthenticAsync(connection, $"e.seq_id = any(@s) and {Road}", p => p.AddWithValue("s", unknown), q => !wanted.Contains(q), ct)
                : await _chain.ReadAuthenticAsync(connection, $"e.seq_id >= @from and e.seq_id <= @to and {Road}",
                    p => { p.AddWithValue("from", unknown[0]); p.AddWithValue("to", unknown[^1]); }, q => !wanted.Contains(q), ct);
            foreach (var row in rows) _road.TryAdd(row.Seq, new RoadEvent(row.StreamId, RoadType(row.Type), ExpertOf(row), row.Timestamp));
        }

        var events = new List<(long Seq, RoadEvent Event)>(sequences.Count);
        foreach (var seq in sequences)
            if (_road.TryGetValue(seq, out var road)) events.Add((seq, road));
        return events;
    }

    /// <summary>Versions after <paramref name="after"/>, oldest first, with what changed at each.</summary>
    /// <param name="modelChangesOnly">Only versions at which the active expert set changed.</param>
    public async Task<IReadOnlyList<LedgerVersion>> ListVersionsAsync(long after = 0, int limit = 1_000, bool modelChangesOnly = false, CancellationToken ct = default)
    {
        if (limit is < 1 or > 100_000) throw new InvalidEditInputException("limit", "must be in 1..100000.");
        await using var connection = Connect();
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand($"""
            select * from (
              select e.seq_id, e.timestamp, e.stream_id, e.type,
                     e.type in ('{EventTypeNames.Activated}', '{EventTypeNames.RoutingPolicySet}')
                     or (e.type in ('{EventTypeNames.Retracted}', '{EventTypeNames.Superseded}')
                         and exists (select 1 from {_events} a {Chained("a")} where a.stream_id = e.stream_id and a.type = '{EventTypeNames.Activated}' and a.seq_id < e.seq_id)
                         and not exists (select 1 from {_events} r {Chained("r")} where r.stream_id = e.stream_id and r.seq_id < e.seq_id
                                         and r.type in ('{EventTypeNames.Retracted}', '{EventTypeNames.Superseded}'))) as changes_model
              from {_events} e {Chained("e")}
              where e.seq_id > @after and e.type <> '{EventTypeNames.IncidentAcknowledged}'
                and (not @only or e.type in ('{EventTypeNames.Activated}', '{EventTypeNames.Retracted}', '{EventTypeNames.Superseded}', '{EventTypeNames.RoutingPolicySet}'))
            ) v
            where not @only or v.changes_model
            order by v.seq_id
            limit @limit
            """, connection);
        command.Parameters.AddWithValue("after", after);
        command.Parameters.AddWithValue("only", modelChangesOnly);
        command.Parameters.AddWithValue("limit", limit);
        var versions = new List<LedgerVersion>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
            versions.Add(new LedgerVersion(reader.GetInt64(0), new DateTimeOffset(reader.GetFieldValue<DateTime>(1), TimeSpan.Zero),
                reader.GetGuid(2), ChangeOf(reader.GetString(3)), reader.GetBoolean(4)));
        return versions;
    }

    private static LedgerChange ChangeOf(string type) => type switch
    {
        EventTypeNames.Proposed => LedgerChange.Proposed,
        EventTypeNames.Approved => LedgerChange.Approved,
        EventTypeNames.Rejected => LedgerChange.Rejected,
        EventTypeNames.ExpertGenerated => LedgerChange.ExpertGenerated,
        EventTypeNames.Activated => LedgerChange.Activated,
        EventTypeNames.Retracted => LedgerChange.Retracted,
        EventTypeNames.Superseded => LedgerChange.Superseded,
        EventTypeNames.GenerationFailed => LedgerChange.GenerationFailed,
        EventTypeNames.RoutingPolicySet => LedgerChange.RoutingPolicySet,
        _ => throw new InvalidOperationException($"Unknown event type '{type}' in the ledger."),
    };

    /// <summary>What changed in the active set between two versions.</summary>
    /// <exception cref="VersionOutOfRangeException"/>
    public async Task<VersionDiff> DiffAsync(long from, long to, CancellationToken ct = default)
    {
        await using var connection = Connect();
        await connection.OpenAsync(ct);
        await RequireVersionAsync(connection, from, ct);
        await RequireVersionAsync(connection, to, ct);
        var before = await ActiveAtAsync(connection, from, ct);
        var after = await ActiveAtAsync(connection, to, ct);
        var beforeIds = before.Experts.Select(e => e.EditId).ToHashSet();
        var afterIds = after.Experts.Select(e => e.EditId).ToHashSet();
        var policies = await ReadPoliciesAsync(connection, null, ct);
        return new VersionDiff(from, to,
            after.Experts.Where(e => !beforeIds.Contains(e.EditId)).ToArray(),
            before.Experts.Where(e => !afterIds.Contains(e.EditId)).ToArray())
        {
            PolicyFrom = PolicyAt(policies, from),
            PolicyTo = PolicyAt(policies, to),
        };
    }
}
