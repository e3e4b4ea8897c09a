using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Npgsql;

namespace LiveEdit.Ledger.Audit;

/// <summary>What is wrong at the first break of the hash chain.</summary>
public enum ChainBreakKind
{
    /// <summary>An event record no longer hashes to the value chained when it was appended (its row was changed).</summary>
    RecordAltered,
    /// <summary>The chain names an event whose record is gone (a row was deleted).</summary>
    RecordMissing,
    /// <summary>An event record that was never chained (a row was inserted behind the ledger's back).</summary>
    RecordUnchained,
    /// <summary>A chain entry does not point at its predecessor (the chain table itself was changed).</summary>
    LinkBroken,
}

/// <summary>The first place where the ledger does not match its hash chain.</summary>
public sealed record ChainBreak(long Version, Guid? EditId, ChainBreakKind Kind, string Message);

/// <summary>Result of <see cref="EditLedger.VerifyAsync"/>.</summary>
public sealed record LedgerVerification(long EventsChecked, long Head, ChainBreak? FirstBreak)
{
    /// <summary>True when every event record matches the chain.</summary>
    public bool IsIntact => FirstBreak is null;
}

/// <summary>
/// Hash chain over the event records in global order, kept in <c>ledger_chain(seq_id, prev_hash, record_hash)</c>:
/// record_hash = SHA-256(prev_hash ‖ canonical form of the mt_events row). Written by the ledger in the
/// same transaction as the events, under the append lock, so the chain is total.
/// </summary>
internal sealed class HashChain(string schema)
{
    public const string Genesis = "0000000000000000000000000000000000000000000000000000000000000000";

    private readonly string _events = $"{schema}.mt_events";
    private readonly string _chain = $"{schema}.ledger_chain";

    public static string SchemaSql(string schema) => $"""
        create table if not exists {schema}.ledger_chain (
            seq_id bigint primary key,
            prev_hash text not null,
            record_hash text not null);
        drop trigger if exists ledger_chain_insert_only on {schema}.ledger_chain;
        create trigger ledger_chain_insert_only before update or delete on {schema}.ledger_chain
            for each row execute function {schema}.ledger_insert_only();
        """;

    private const string RecordColumns = "e.seq_id, e.id, e.stream_id, e.version, e.type, e.timestamp, e.data::text, e.is_archived";

    /// <summary>Chains every event after the current chain head; call inside the append transaction.</summary>
    public async Task<long> ExtendAsync(NpgsqlConnection connection, NpgsqlTransaction tx, CancellationToken ct)
    {
        long lastSeq = 0;
        var prev = Genesis;
        await using (var head = new NpgsqlCommand($"select seq_id, record_hash from {_chain} order by seq_id desc limit 1", connection, tx))
        await using (var reader = await head.ExecuteReaderAsync(ct))
        {
            if (await reader.ReadAsync(ct)) (lastSeq, prev) = (reader.GetInt64(0), reader.GetString(1));
        }

        var seqs = new List<long>();
        var prevs = new List<string>();
        var hashes = new List<string>();
        await using (var select = new NpgsqlCommand($"select {RecordColumns} from {_events} e where e.seq_id > @last and e.type <> '{EventTypeNames.MartenTombstone}' order by e.seq_id", connection, tx))
        {
            select.Parameters.AddWithValue("last", lastSeq);
            await using var reader = await select.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                var hash = Hash(prev, reader);
                seqs.Add(reader.GetInt64(0));
                prevs.Add(prev);
                hashes.Add(hash);
                prev = hash;
            }
        }
        if (seqs.Count == 0) return lastSeq;

        await using var insert = new NpgsqlCommand(
            $"insert into {_chain} (seq_id, prev_hash, record_hash) select * from unnest(@s, @p, @h)", connection, tx);
        insert.Parameters.AddWithValue("s", seqs.ToArray());
        insert.Parameters.AddWithValue("p", prevs.ToArray());
        insert.Parameters.AddWithValue("h", hashes.ToArray());
        await insert.ExecuteNonQueryAsync(ct);
        return seqs[^1];
    }

    /// <summary>Walks events and chain together in global order; reports the first break.</summary>
    public async Task<LedgerVerification> VerifyAsync(NpgsqlConnection connection, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand($"""
            select {RecordColumns}, c.seq_id, c.prev_hash, c.record_hash
            from {_events} e full outer join {_chain} c on c.seq_id = e.seq_id
            order by coalesce(e.seq_id, c.seq_id)
            """, connection);
        await using var reader = await command.ExecuteReaderAsync(ct);
        var prev = Genesis;
        long checkedCount = 0, head = 0;
        while (await reader.ReadAsync(ct))
        {
            var hasEvent = !reader.IsDBNull(0);
            var hasLink = !reader.IsDBNull(8);
            var seq = hasEvent ? reader.GetInt64(0) : reader.GetInt64(8);
            Guid? editId = hasEvent ? reader.GetGuid(2) : null;
            if (!hasEvent)
                return Break(seq, null, ChainBreakKind.RecordMissing, $"event {seq} is in the hash chain but its record is gone from mt_events");
            if (!hasLink && reader.GetString(4) == EventTypeNames.MartenTombstone)
                continue; // Marten's filler for a failed append's sequence numbers; never chained
            if (!hasLink)
                return Break(seq, editId, ChainBreakKind.RecordUnchained, $"event {seq} (edit {editId}) is in mt_events but was never chained: it was not appended by the ledger");
            var storedPrev = reader.GetString(9);
            if (storedPrev != prev)
                return Break(seq, editId, ChainBreakKind.LinkBroken, $"chain entry {seq} points at {storedPrev[..12]}…, but the previous record hashes to {prev[..12]}…");
            var actual = Hash(prev, reader);
            var stored = reader.GetString(10);
            if (actual != stored)
                return Break(seq, editId, ChainBreakKind.RecordAltered, $"event {seq} (edit {editId}, {reader.GetString(4)}) was changed after it was appended");
            prev = stored;
            checkedCount++;
            head = seq;
        }
        return new LedgerVerification(checkedCount, head, null);

        LedgerVerification Break(long seq, Guid? edit, ChainBreakKind kind, string message) =>
            new(checkedCount, head, new ChainBreak(seq, edit, kind, message));
    }

    private static string Hash(string prev, NpgsqlDataReader r)
    {
        var canonical = string.Join('\n',
            prev,
            r.GetInt64(0).ToString(CultureInfo.InvariantCulture),
            r.GetGuid(1).ToString("N"),
            r.GetGuid(2).ToString("N"),
            r.GetInt64(3).ToString(CultureInfo.InvariantCulture),
            r.GetString(4),
            r.GetFieldValue<DateTime>(5).ToUniversalTime().Ticks.ToString(CultureInfo.InvariantCulture),
            r.GetString(6),
            r.IsDBNull(7) ? "null" : r.GetBoolean(7) ? "archived" : "live");
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)));
    }
}
