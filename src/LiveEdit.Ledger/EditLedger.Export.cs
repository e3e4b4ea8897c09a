using System.Text.Json;
using System.Text.Json.Serialization;
using LiveEdit.Ledger.Edits;
using LiveEdit.Ledger.Errors;
using LiveEdit.Ledger.Versions;

namespace LiveEdit.Ledger;

/// <summary>An edit's chained events in ledger order, as the hash chain vouches for them.</summary>
public sealed record ChainedEditHistory(Guid EditId, IReadOnlyList<EditHistoryEntry> Events)
{
    /// <summary>The chained proposal (every history read here starts with one).</summary>
    public EditProposed Proposal => (EditProposed)Events[0].Event;
}

// Export: the chained histories of many edits at once, for audit reports.
public sealed partial class EditLedger
{
    private static readonly JsonSerializerOptions EventJson = new(JsonSerializerDefaults.Web) { Converters = { new JsonStringEnumConverter() } };

    private static readonly IReadOnlyDictionary<string, Type> EditEventTypes = new Dictionary<string, Type>
    {
        [EventTypeNames.Proposed] = typeof(EditProposed),
        [EventTypeNames.Approved] = typeof(EditApproved),
        [EventTypeNames.Rejected] = typeof(EditRejected),
        [EventTypeNames.ExpertGenerated] = typeof(ExpertGenerated),
        [EventTypeNames.Activated] = typeof(EditActivated),
        [EventTypeNames.Retracted] = typeof(EditRetracted),
        [EventTypeNames.Superseded] = typeof(EditSuperseded),
        [EventTypeNames.GenerationFailed] = typeof(ExpertGenerationFailed),
    };

    /// <summary>
    /// Every edit with a chained event at a version in (<paramref name="after"/>, <paramref name="upTo"/>], each with its
    /// whole chained history (earlier and later events too), in ledger order; read in one query. As
    /// <see cref="GetHistoryAsync"/>: only rows whose chain entry carries this ledger's MAC for that very row, and only
    /// edits whose first such row is their proposal.
    /// </summary>
    public async Task<IReadOnlyList<ChainedEditHistory>> ReadEditHistoriesAsync(long after, long upTo, CancellationToken ct = default)
    {
        if (after < 0) throw new InvalidEditInputException("after", "must be 0 or more.");
        if (upTo < after) throw new InvalidEditInputException("upTo", $"must not be before 'after' ({after}).");
        await using var connection = Connect();
        await connection.OpenAsync(ct);
        var rows = await _chain.ReadAuthenticAsync(connection, $"""
            e.stream_id in (select s.stream_id from {_events} s {Chained("s")} where s.seq_id > @after and s.seq_id <= @upTo)
            and e.stream_id <> all(@ledgerStreams) and e.type = any(@types)
            """,
            p =>
            {
                p.AddWithValue("after", after);
                p.AddWithValue("upTo", upTo);
                p.AddWithValue("ledgerStreams", new[] { IncidentStreamId, RoutingPolicyStreamId });
                p.AddWithValue("types", EditEventTypes.Keys.ToArray());
            }, _ => false, ct);
        var histories = new List<ChainedEditHistory>();
        foreach (var stream in rows.OrderBy(r => r.Seq).GroupBy(r => r.StreamId))
        {
            var events = stream.Select((r, i) => new EditHistoryEntry(r.Seq, i + 1, new DateTimeOffset(r.Timestamp, TimeSpan.Zero),
                JsonSerializer.Deserialize(r.Data, EditEventTypes[r.Type], EventJson)!)).ToArray();
            if (events[0].Event is EditProposed) histories.Add(new ChainedEditHistory(stream.Key, events));
        }
        return histories.OrderBy(h => h.Events[0].Version).ToArray();
    }
}
