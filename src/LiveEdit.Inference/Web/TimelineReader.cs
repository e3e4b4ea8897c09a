using System.Text.Json;
using LiveEdit.Ledger;
using Marten;
using Npgsql;

namespace LiveEdit.Inference.Web;

/// <summary>What a timeline page asks for: newest first, before a version, with optional filters.</summary>
/// <param name="Before">Only versions below this one (keyset paging); null for the newest.</param>
/// <param name="Person">Only events done by this user (proposer, approver, rejecter, retracter, policy setter, signer).</param>
/// <param name="Type">Only this event type (a stored type name).</param>
/// <param name="From">Only events at or after this time.</param>
/// <param name="To">Only events before this time.</param>
public sealed record TimelineFilter(long? Before, Guid? Edit, string? Person, string? Type, DateTimeOffset? From, DateTimeOffset? To, int Take = 50);

/// <summary>
/// Reads one page of the ledger's chained events, newest first, in a single keyset query on the events' primary key
/// (never the whole ledger): a page costs the same at 10,000 edits as at 10. Only events the ledger chained are shown.
/// </summary>
public sealed class TimelineReader(EditLedger ledger)
{
    private readonly string _schema = ledger.Store.Options.Events.DatabaseSchemaName;

    /// <summary>The page, and whether older events match.</summary>
    public async Task<(IReadOnlyList<LedgerEventView> Events, bool More)> ReadAsync(TimelineFilter filter, CancellationToken ct)
    {
        if (filter.Take is < 1 or > 500) throw new ArgumentOutOfRangeException(nameof(filter), "take must be in 1..500");
        await using var connection = ledger.Store.Storage.Database.CreateConnection(Marten.Storage.ConnectionUsage.ReadWrite);
        await connection.OpenAsync(ct);
        // The expert's visual key is left out of the data: it is large and the timeline does not show it. The person filter
        // looks only at the event types that name a person, so it never unpacks an expert's large record.
        await using var command = new NpgsqlCommand($"""
            select e.seq_id, e.timestamp, e.stream_id, e.type, (e.data - 'visualKey')::text
            from {_schema}.mt_events e join {_schema}.ledger_chain c on c.seq_id = e.seq_id
            where e.seq_id < @before
              and (@edit::uuid is null or e.stream_id = @edit::uuid)
              and (@type::text is null or e.type = @type::text)
              and (@from::timestamptz is null or e.timestamp >= @from::timestamptz)
              and (@to::timestamptz is null or e.timestamp < @to::timestamptz)
              and (@person::text is null
                   or e.type in ('{EventTypeNames.Proposed}', '{EventTypeNames.Approved}', '{EventTypeNames.Rejected}', '{EventTypeNames.Retracted}',
                                 '{EventTypeNames.RoutingPolicySet}', '{EventTypeNames.IncidentAcknowledged}')
                   and (e.data->>'proposedBy' = @person::text or e.data->>'approvedBy' = @person::text
                   or e.data->>'rejectedBy' = @person::text or e.data->>'retractedBy' = @person::text
                   or e.data->>'setBy' = @person::text or e.data->>'acknowledgedBy' = @person::text
                   or e.data->'signature'->>'signerUserName' = @person::text))
            order by e.seq_id desc
            limit @take
            """, connection);
        command.Parameters.AddWithValue("before", filter.Before ?? long.MaxValue);
        command.Parameters.Add(new NpgsqlParameter("edit", NpgsqlTypes.NpgsqlDbType.Uuid) { Value = (object?)filter.Edit ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("type", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)filter.Type ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("from", NpgsqlTypes.NpgsqlDbType.TimestampTz) { Value = (object?)filter.From?.UtcDateTime ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("to", NpgsqlTypes.NpgsqlDbType.TimestampTz) { Value = (object?)filter.To?.UtcDateTime ?? DBNull.Value });
        command.Parameters.Add(new NpgsqlParameter("person", NpgsqlTypes.NpgsqlDbType.Text) { Value = (object?)filter.Person ?? DBNull.Value });
        command.Parameters.AddWithValue("take", filter.Take + 1);
        var events = new List<LedgerEventView>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            using var data = JsonDocument.Parse(reader.GetString(4));
            events.Add(LedgerEventView.From(reader.GetInt64(0), new DateTimeOffset(reader.GetFieldValue<DateTime>(1), TimeSpan.Zero),
                reader.GetGuid(2), reader.GetString(3), data.RootElement));
        }
        var more = events.Count > filter.Take;
        if (more) events.RemoveAt(events.Count - 1);
        return (events, more);
    }
}
