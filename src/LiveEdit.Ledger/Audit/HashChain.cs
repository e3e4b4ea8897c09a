using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using LiveEdit.Ledger.Edits;
using LiveEdit.Ledger.Errors;
using LiveEdit.Ledger.Projections;
using Npgsql;

namespace LiveEdit.Ledger.Audit;

/// <summary>What is wrong at one break of the hash chain.</summary>
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
    /// <summary>A chained event now sits at another sequence than the one it was chained at (rows were swapped).</summary>
    Reordered,
    /// <summary>A chain entry's MAC does not match: it was not written with this ledger's chain key (a forged entry).</summary>
    MacInvalid,
    /// <summary>A read-model row (<see cref="EditSummary"/>) disagrees with the chained events of its edit.</summary>
    ProjectionMismatch,
}

/// <summary>One place where the ledger does not match its hash chain.</summary>
/// <param name="Version">The global sequence concerned (for <see cref="ChainBreakKind.ProjectionMismatch"/>, the edit's last chained event).</param>
public sealed record ChainBreak(long Version, Guid? EditId, ChainBreakKind Kind, string Message);

/// <summary>A break that the database owner acknowledged with <see cref="EditLedger.AcknowledgeIncidentAsync"/>: still shown, no longer a break.</summary>
/// <param name="Sequence">The sequence of the foreign, changed or deleted row.</param>
/// <param name="Kind">One of <see cref="IncidentKinds"/>.</param>
/// <param name="AcknowledgedAtVersion">The sequence of the chained <see cref="LedgerIncidentAcknowledged"/> event.</param>
public sealed record AcknowledgedIncident(long Sequence, Guid? EditId, string Kind, long AcknowledgedAtVersion, string AcknowledgedBy, string Reason, string Message);

/// <summary>Result of <see cref="EditLedger.VerifyAsync"/>: every break found, and every acknowledged incident.</summary>
/// <param name="EventsChecked">Chained events whose record matched the chain.</param>
/// <param name="Head">The sequence of the last chain entry.</param>
public sealed record LedgerVerification(long EventsChecked, long Head, IReadOnlyList<ChainBreak> Breaks, IReadOnlyList<AcknowledgedIncident> Acknowledged)
{
    /// <summary>True when every event record, chain entry and read-model row matches the chain (acknowledged incidents do not count).</summary>
    public bool IsIntact => Breaks.Count == 0;

    /// <summary>The break with the lowest sequence, or null.</summary>
    public ChainBreak? FirstBreak => Breaks.Count == 0 ? null : Breaks[0];
}

/// <summary>
/// Hash chain over the event records the ledger itself appended, kept in
/// <c>ledger_chain(seq_id, prev_seq, prev_hash, event_id, record_hash, mac)</c>:
/// record_hash = SHA-256(prev_seq ‖ prev_hash ‖ SHA-256(canonical form of the mt_events row)),
/// mac = HMAC-SHA-256(chain key, record_hash). Written in the same transaction as the events, under the
/// append lock; only the rows written by that append are chained, after checking that the head entry's
/// row is unchanged and that no other row sits above it (see docs/security-chain.md).
/// </summary>
internal sealed class HashChain(string schema, byte[] key)
{
    public const string Genesis = "0000000000000000000000000000000000000000000000000000000000000000";

    private readonly string _events = $"{schema}.mt_events";
    private readonly string _chain = $"{schema}.ledger_chain";
    private readonly byte[] _key = key.Length >= LedgerChainKey.MinimumBytes
        ? (byte[])key.Clone()
        : throw new ArgumentException($"the chain key must be at least {LedgerChainKey.MinimumBytes} bytes", nameof(key));

    public static string SchemaSql(string schema) => $"""
        create table if not exists {schema}.ledger_chain (
            seq_id bigint primary key,
            prev_seq bigint not null,
            prev_hash text not null,
            event_id uuid not null,
            record_hash text not null,
            mac text not null);
        alter table {schema}.ledger_chain add column if not exists prev_seq bigint;
        alter table {schema}.ledger_chain add column if not exists event_id uuid;
        alter table {schema}.ledger_chain add column if not exists mac text;
        drop trigger if exists ledger_chain_insert_only on {schema}.ledger_chain;
        create trigger ledger_chain_insert_only before update or delete on {schema}.ledger_chain
            for each row execute function {schema}.ledger_insert_only();
        """;

    /// <summary>
    /// SQL predicate (on alias <paramref name="e"/>) true for a Marten tombstone: the empty filler Marten writes over a
    /// failed append's sequence numbers. Never chained, never read as an event, so a gap may hold any number of them.
    /// </summary>
    public static string IsTombstone(string e) =>
        $"({e}.type = '{EventTypeNames.MartenTombstone}' and {e}.data = '{{}}'::jsonb and {e}.mt_dotnet_type = 'JasperFx.Events.Tombstone, JasperFx.Events')";

    private const string RecordColumns = "e.seq_id, e.id, e.stream_id, e.version, e.type, e.timestamp, e.data::text, e.is_archived";

    private sealed record Entry(long Seq, long? PrevSeq, string PrevHash, Guid? EventId, string RecordHash, string? Mac);

    private sealed record Row(long Seq, Guid Id, Guid StreamId, string Type, string Sha256, string Data);

    // ---------------------------------------------------------------- append side

    /// <summary>What <see cref="ExtendAsync"/> chained: the head before it, and the sequence of every event it chained.</summary>
    public sealed record Extension(long PreviousHead, IReadOnlyDictionary<Guid, long> Sequences);

    /// <summary>
    /// Chains the rows this append wrote (<paramref name="written"/>, Marten event ids); call inside the append
    /// transaction, after Marten saved. Throws <see cref="ChainRefusedException"/> (the caller rolls back) when the
    /// head entry's MAC or row does not match, or a row the ledger did not write sits above the head.
    /// </summary>
    /// <param name="acknowledgedNow">Sequences acknowledged by an event in this same append.</param>
    public async Task<Extension> ExtendAsync(NpgsqlConnection connection, NpgsqlTransaction tx, IReadOnlyCollection<Guid> written,
        IReadOnlySet<long> acknowledgedNow, CancellationToken ct)
    {
        var (head, above) = await CheckAsync(connection, tx, written.ToHashSet(), acknowledgedNow, ct);
        var ours = above.Where(r => written.Contains(r.Id)).ToList();
        if (ours.Count != written.Count)
            throw new InvalidOperationException($"the append wrote {written.Count} events but {ours.Count} of them are above the chain head {head?.Seq ?? 0}");
        if (ours.Count == 0) return new Extension(head?.Seq ?? 0, new Dictionary<Guid, long>());

        var prevSeq = head?.Seq ?? 0;
        var prev = head?.RecordHash ?? Genesis;
        var entries = new List<Entry>();
        foreach (var row in ours)
        {
            var hash = RecordHash(prevSeq, prev, row.Sha256);
            entries.Add(new Entry(row.Seq, prevSeq, prev, row.Id, hash, Mac(hash)));
            (prevSeq, prev) = (row.Seq, hash);
        }
        await using var insert = new NpgsqlCommand(
            $"insert into {_chain} (seq_id, prev_seq, prev_hash, event_id, record_hash, mac) select * from unnest(@s, @ps, @p, @id, @h, @m)", connection, tx);
        insert.Parameters.AddWithValue("s", entries.Select(e => e.Seq).ToArray());
        insert.Parameters.AddWithValue("ps", entries.Select(e => e.PrevSeq!.Value).ToArray());
        insert.Parameters.AddWithValue("p", entries.Select(e => e.PrevHash).ToArray());
        insert.Parameters.AddWithValue("id", entries.Select(e => e.EventId!.Value).ToArray());
        insert.Parameters.AddWithValue("h", entries.Select(e => e.RecordHash).ToArray());
        insert.Parameters.AddWithValue("m", entries.Select(e => e.Mac!).ToArray());
        await insert.ExecuteNonQueryAsync(ct);
        return new Extension(head?.Seq ?? 0, entries.ToDictionary(e => e.EventId!.Value, e => e.Seq));
    }

    // Sequences whose entry was found authentic; rows are insert-only for the application role, so a
    // sequence, once authentic, stays so unless a superuser rewrites it (which verify reports).
    private readonly SequenceSet _authentic = new();

    /// <summary>Records <paramref name="sequences"/> as authentic: rows this ledger chained in a transaction that committed.</summary>
    public void Remember(IEnumerable<long> sequences)
    {
        foreach (var seq in sequences) _authentic.Add(seq);
    }

    /// <summary>
    /// Of <paramref name="sequences"/>, those whose chain entry was written with this ledger's chain key for the row
    /// that is there now: valid MAC, same event id, and a record hash that binds the row's content. A row someone
    /// inserted together with a chain entry of their own (anyone who may insert but holds no key) is left out.
    /// </summary>
    public async Task<IReadOnlySet<long>> AuthenticAsync(NpgsqlConnection connection, IReadOnlyCollection<long> sequences, CancellationToken ct)
    {
        var result = new HashSet<long>(sequences.Where(_authentic.Contains));
        var unknown = sequences.Where(q => !result.Contains(q)).Distinct().ToArray();
        if (unknown.Length == 0) return result;
        await using var select = new NpgsqlCommand($"""
            select c.seq_id, c.prev_seq, c.prev_hash, c.event_id, c.record_hash, c.mac, {RecordColumns}
            from {_chain} c join {_events} e on e.seq_id = c.seq_id
            where c.seq_id = any(@s)
            """, connection);
        select.Parameters.AddWithValue("s", unknown);
        var read = new List<(Entry Entry, RawRow Row)>();
        await using (var reader = await select.ExecuteReaderAsync(ct))
        {
            while (await reader.ReadAsync(ct)) read.Add((ReadEntry(reader), ReadRaw(reader, 6)));
        }
        // Three SHA-256 computations per row (the row, its chained hash, the MAC): a cold read of a large active set spends
        // most of its time here, so the rows are checked on every core.
        var authentic = read.AsParallel()
            .Where(x => MacValid(x.Entry) && x.Entry.EventId == x.Row.Id && RecordHash(x.Entry.PrevSeq ?? 0, x.Entry.PrevHash, Hash(x.Row).Sha256) == x.Entry.RecordHash)
            .Select(x => x.Entry.Seq)
            .ToList();
        read.Clear(); // the rows' full text is not needed past this point
        foreach (var seq in authentic)
        {
            _authentic.Add(seq);
            result.Add(seq);
        }
        return result;
    }

    /// <summary>An event row found authentic by <see cref="ReadAuthenticAsync"/>: its stream, type, time and data as stored.</summary>
    public sealed record AuthenticRow(long Seq, Guid StreamId, string Type, DateTime Timestamp, string Data);

    /// <summary>
    /// The rows of <c>mt_events e</c> that match <paramref name="where"/> and whose chain entry is authentic (the test of
    /// <see cref="AuthenticAsync"/>), read together with their chain entries in one query: a cold read of a large set reads
    /// each row once instead of once for its content and once for its authentication. Rows <paramref name="skip"/> names
    /// are neither hashed nor returned (those the caller already holds); those found authentic are remembered as such.
    /// </summary>
    public async Task<List<AuthenticRow>> ReadAuthenticAsync(NpgsqlConnection connection, string where, Action<NpgsqlParameterCollection> parameters,
        Func<long, bool> skip, CancellationToken ct)
    {
        await using var select = new NpgsqlCommand($"""
            select c.seq_id, c.prev_seq, c.prev_hash, c.event_id, c.record_hash, c.mac, {RecordColumns}
            from {_events} e join {_chain} c on c.seq_id = e.seq_id
            where {where}
            """, connection);
        parameters(select.Parameters);
        var read = new List<(Entry Entry, RawRow Row)>();
        await using (var reader = await select.ExecuteReaderAsync(ct))
        {
            while (await reader.ReadAsync(ct))
            {
                if (skip(reader.GetInt64(0))) continue;
                read.Add((ReadEntry(reader), ReadRaw(reader, 6)));
            }
        }
        // As in AuthenticAsync: three SHA-256 per row unless the sequence was found authentic before, on every core.
        var authentic = read.AsParallel().AsOrdered()
            .Where(x => _authentic.Contains(x.Entry.Seq)
                        || (MacValid(x.Entry) && x.Entry.EventId == x.Row.Id && RecordHash(x.Entry.PrevSeq ?? 0, x.Entry.PrevHash, Hash(x.Row).Sha256) == x.Entry.RecordHash))
            .Select(x => new AuthenticRow(x.Row.Seq, x.Row.StreamId ?? Guid.Empty, x.Row.Type, x.Row.Timestamp, x.Row.Data))
            .ToList();
        foreach (var row in authentic) _authentic.Add(row.Seq);
        return authentic;
    }

    /// <summary>The append preconditions without appending: null when an append would be accepted, else why not.</summary>
    public async Task<ChainRefusedException?> CheckHeadAsync(NpgsqlConnection connection, NpgsqlTransaction tx, CancellationToken ct)
    {
        try
        {
            await CheckAsync(connection, tx, new HashSet<Guid>(), new HashSet<long>(), ct);
            return null;
        }
        catch (ChainRefusedException refused)
        {
            return refused;
        }
    }

    private async Task<(Entry? Head, List<Row> Above)> CheckAsync(NpgsqlConnection connection, NpgsqlTransaction tx, HashSet<Guid> written,
        IReadOnlySet<long> acknowledgedNow, CancellationToken ct)
    {
        Entry? head = null;
        Row? headRow = null;
        var above = new List<Row>();
        // The head entry with its row, and every row above it, in one round trip (the caller holds the append lock, so
        // nothing the ledger writes moves in between).
        await using (var select = new NpgsqlCommand($"""
            select c.seq_id, c.prev_seq, c.prev_hash, c.event_id, c.record_hash, c.mac, {RecordColumns}
            from (select * from {_chain} order by seq_id desc limit 1) c left join {_events} e on e.seq_id = c.seq_id;
            select {RecordColumns} from {_events} e
            where e.seq_id > coalesce((select max(seq_id) from {_chain}), 0) and not {IsTombstone("e")} order by e.seq_id
            """, connection, tx))
        await using (var reader = await select.ExecuteReaderAsync(ct))
        {
            if (await reader.ReadAsync(ct))
            {
                head = ReadEntry(reader);
                if (!reader.IsDBNull(6)) headRow = ReadRow(reader, 6);
            }
            await reader.NextResultAsync(ct);
            while (await reader.ReadAsync(ct)) above.Add(ReadRow(reader, 0));
        }

        if (head is not null)
        {
            if (!MacValid(head))
                throw new ChainRefusedException(head.Seq, ChainRefusal.ForgedEntry,
                    $"chain entry {head.Seq} carries no valid MAC: it was not written with this ledger's chain key");
            List<Row> rows = headRow is null ? [] : [headRow];
            if (rows.Count == 0)
            {
                if (!acknowledgedNow.Contains(head.Seq) && await AcknowledgementAsync(connection, tx, head.Seq, IncidentKinds.Deleted, "", ct) is null)
                    throw new ChainRefusedException(head.Seq, ChainRefusal.DeletedRow,
                        $"the chain head's event {head.Seq} is gone from mt_events (deleted behind the ledger's back)");
            }
            else if (RecordHash(head.PrevSeq ?? 0, head.PrevHash, rows[0].Sha256) != head.RecordHash || rows[0].Id != head.EventId)
            {
                if (!acknowledgedNow.Contains(head.Seq) && await AcknowledgementAsync(connection, tx, head.Seq, IncidentKinds.Changed, rows[0].Sha256, ct) is null)
                    throw new ChainRefusedException(head.Seq, ChainRefusal.ChangedRow,
                        $"the chain head's event {head.Seq} (edit {rows[0].StreamId}) no longer matches its chain entry: the row was changed");
            }
        }

        foreach (var row in above.Where(r => !written.Contains(r.Id)))
        {
            if (acknowledgedNow.Contains(row.Seq)) continue;
            if (await AcknowledgementAsync(connection, tx, row.Seq, IncidentKinds.Foreign, row.Sha256, ct) is not null) continue;
            throw new ChainRefusedException(row.Seq, ChainRefusal.ForeignRow,
                $"event {row.Seq} ({row.Type}, stream {row.StreamId}) was not written by the ledger: a foreign row above the chain head {head?.Seq ?? 0}");
        }
        return (head, above);
    }

    private async Task<List<Row>> ReadRowsAsync(NpgsqlConnection connection, NpgsqlTransaction? tx, string where, CancellationToken ct)
    {
        await using var select = new NpgsqlCommand($"select {RecordColumns} from {_events} e where {where} order by e.seq_id", connection, tx);
        await using var reader = await select.ExecuteReaderAsync(ct);
        var rows = new List<Row>();
        while (await reader.ReadAsync(ct)) rows.Add(ReadRow(reader, 0));
        return rows;
    }

    /// <summary>The chained acknowledgement of an incident at <paramref name="sequence"/> whose recorded hash matches, or null.</summary>
    private async Task<(long Version, LedgerIncidentAcknowledged Event)?> AcknowledgementAsync(
        NpgsqlConnection connection, NpgsqlTransaction? tx, long sequence, string kind, string recordSha256, CancellationToken ct)
    {
        await using var select = new NpgsqlCommand($"""
            select e.seq_id, e.data::text from {_events} e join {_chain} c on c.seq_id = e.seq_id and c.event_id = e.id
            where e.type = '{EventTypeNames.IncidentAcknowledged}' and (e.data->>'sequence')::bigint = @s
            order by e.seq_id desc
            """, connection, tx);
        select.Parameters.AddWithValue("s", sequence);
        await using var reader = await select.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            var ack = JsonSerializer.Deserialize<LedgerIncidentAcknowledged>(reader.GetString(1), Json)!;
            if (ack.Kind == kind && ack.RecordSha256 == recordSha256) return (reader.GetInt64(0), ack);
        }
        return null;
    }

    /// <summary>What an acknowledgement of <paramref name="sequence"/> would record: its kind, the row's current hash and stream.</summary>
    /// <exception cref="InvalidEditInputException">Nothing is wrong at that sequence.</exception>
    public async Task<(string Kind, string RecordSha256, Guid? StreamId)> DescribeIncidentAsync(
        NpgsqlConnection connection, NpgsqlTransaction tx, long sequence, CancellationToken ct)
    {
        Entry? entry = null;
        await using (var select = new NpgsqlCommand($"select seq_id, prev_seq, prev_hash, event_id, record_hash, mac from {_chain} where seq_id = @s", connection, tx))
        {
            select.Parameters.AddWithValue("s", sequence);
            await using var reader = await select.ExecuteReaderAsync(ct);
            if (await reader.ReadAsync(ct)) entry = ReadEntry(reader);
        }
        var rows = await ReadRowsAsync(connection, tx, $"e.seq_id = {sequence}", ct);
        var row = rows.Count == 0 ? null : rows[0];
        // The same test as the append check: what it refuses as foreign can be acknowledged, and only that.
        var tombstone = false;
        if (row is not null)
        {
            await using var test = new NpgsqlCommand($"select {IsTombstone("e")} from {_events} e where e.seq_id = @s", connection, tx);
            test.Parameters.AddWithValue("s", sequence);
            tombstone = (bool)(await test.ExecuteScalarAsync(ct))!;
        }
        (string Kind, string Sha, Guid? Stream) incident = (entry, row) switch
        {
            (null, null) => throw new InvalidEditInputException("sequence", $"nothing to acknowledge at {sequence}: no event and no chain entry there."),
            (null, not null) when tombstone =>
                throw new InvalidEditInputException("sequence", $"nothing to acknowledge at {sequence}: it is a Marten tombstone (a normal gap)."),
            (null, { } r) => (IncidentKinds.Foreign, r.Sha256, r.StreamId),
            (not null, null) => (IncidentKinds.Deleted, "", null),
            ({ } e, { } r) when RecordHash(e.PrevSeq ?? 0, e.PrevHash, r.Sha256) != e.RecordHash || r.Id != e.EventId => (IncidentKinds.Changed, r.Sha256, r.StreamId),
            _ => throw new InvalidEditInputException("sequence", $"nothing to acknowledge at {sequence}: its event matches the chain."),
        };
        if (await AcknowledgementAsync(connection, tx, sequence, incident.Kind, incident.Sha, ct) is { } done)
            throw new InvalidEditInputException("sequence", $"the {incident.Kind} row at {sequence} was already acknowledged at version {done.Version}.");
        return incident;
    }

    // ---------------------------------------------------------------- upgrade from the unsigned format

    /// <summary>
    /// Re-chains a ledger whose every entry is in the earlier, unsigned format (no <c>prev_seq</c>, <c>event_id</c>,
    /// <c>mac</c>): walks it with that format's algorithm, refuses on the first break, then replaces the entries with
    /// signed ones over the same rows. Returns the number of entries re-chained (0 when there were none to upgrade).
    /// Disables the chain table's insert-only trigger for the rewrite: the caller must own the table.
    /// </summary>
    /// <exception cref="InvalidOperationException">The unsigned chain is broken, or signed and unsigned entries are mixed.</exception>
    public async Task<int> UpgradeUnsignedAsync(NpgsqlConnection connection, NpgsqlTransaction tx, CancellationToken ct)
    {
        var counts = await ScalarAsync<string>($"select count(*) filter (where mac is null) || ':' || count(*) filter (where mac is not null) from {_chain}");
        var unsigned = long.Parse(counts.Split(':')[0], CultureInfo.InvariantCulture);
        var signed = long.Parse(counts.Split(':')[1], CultureInfo.InvariantCulture);
        if (unsigned == 0) return 0;
        if (signed > 0)
            throw new InvalidOperationException($"the chain mixes {unsigned} unsigned and {signed} signed entries: that is not a ledger of the earlier format but a tampered one; nothing was changed");

        var entries = new List<(long Seq, Guid Id, string Sha256)>();
        await using (var select = new NpgsqlCommand($"""
            select c.seq_id, c.prev_hash, c.record_hash, {RecordColumns}
            from {_chain} c left join {_events} e on e.seq_id = c.seq_id order by c.seq_id
            """, connection, tx))
        await using (var reader = await select.ExecuteReaderAsync(ct))
        {
            var prev = Genesis;
            while (await reader.ReadAsync(ct))
            {
                var seq = reader.GetInt64(0);
                if (reader.IsDBNull(3)) throw new InvalidOperationException($"the unsigned chain names event {seq}, which is gone from mt_events; nothing was changed");
                if (reader.GetString(1) != prev || UnsignedHash(prev, reader, 3) != reader.GetString(2))
                    throw new InvalidOperationException($"the unsigned chain is broken at event {seq}; nothing was changed");
                prev = reader.GetString(2);
                var row = ReadRow(reader, 3);
                entries.Add((seq, row.Id, row.Sha256));
            }
        }
        var unchained = await ScalarAsync<long>($"select count(*) from {_events} e where not {IsTombstone("e")} and not exists (select 1 from {_chain} c where c.seq_id = e.seq_id)");
        if (unchained > 0)
            throw new InvalidOperationException($"{unchained} event(s) in mt_events are not in the unsigned chain; verify with the earlier release first; nothing was changed");

        long prevSeq = 0;
        var prevHash = Genesis;
        var rechained = new List<Entry>();
        foreach (var (seq, id, sha) in entries)
        {
            var hash = RecordHash(prevSeq, prevHash, sha);
            rechained.Add(new Entry(seq, prevSeq, prevHash, id, hash, Mac(hash)));
            (prevSeq, prevHash) = (seq, hash);
        }
        await using (var rewrite = new NpgsqlCommand($"""
            alter table {_chain} disable trigger ledger_chain_insert_only;
            delete from {_chain};
            insert into {_chain} (seq_id, prev_seq, prev_hash, event_id, record_hash, mac) select * from unnest(@s, @ps, @p, @id, @h, @m);
            alter table {_chain} enable trigger ledger_chain_insert_only;
            """, connection, tx))
        {
            rewrite.Parameters.AddWithValue("s", rechained.Select(e => e.Seq).ToArray());
            rewrite.Parameters.AddWithValue("ps", rechained.Select(e => e.PrevSeq!.Value).ToArray());
            rewrite.Parameters.AddWithValue("p", rechained.Select(e => e.PrevHash).ToArray());
            rewrite.Parameters.AddWithValue("id", rechained.Select(e => e.EventId!.Value).ToArray());
            rewrite.Parameters.AddWithValue("h", rechained.Select(e => e.RecordHash).ToArray());
            rewrite.Parameters.AddWithValue("m", rechained.Select(e => e.Mac!).ToArray());
            await rewrite.ExecuteNonQueryAsync(ct);
        }
        return rechained.Count;

        async Task<T> ScalarAsync<T>(string sql)
        {
            await using var command = new NpgsqlCommand(sql, connection, tx);
            return (T)(await command.ExecuteScalarAsync(ct))!;
        }
    }

    /// <summary>The earlier, unsigned format: SHA-256(prev_hash ‖ canonical row), chaining every non-tombstone row.</summary>
    private static string UnsignedHash(string prev, NpgsqlDataReader r, int o)
    {
        var canonical = string.Join('\n',
            prev,
            r.GetInt64(o).ToString(CultureInfo.InvariantCulture),
            r.GetGuid(o + 1).ToString("N"),
            r.GetGuid(o + 2).ToString("N"),
            r.GetInt64(o + 3).ToString(CultureInfo.InvariantCulture),
            r.GetString(o + 4),
            r.GetFieldValue<DateTime>(o + 5).ToUniversalTime().Ticks.ToString(CultureInfo.InvariantCulture),
            r.GetString(o + 6),
            r.IsDBNull(o + 7) ? "null" : r.GetBoolean(o + 7) ? "archived" : "live");
        return Sha256Hex.Of(Encoding.UTF8.GetBytes(canonical));
    }

    // ---------------------------------------------------------------- verification

    /// <summary>Walks chain, events and read models; lists every break and every acknowledged incident.</summary>
    public async Task<LedgerVerification> VerifyAsync(NpgsqlConnection connection, IReadOnlyDictionary<Guid, EditSummary> summaries, CancellationToken ct)
    {
        var entries = new List<Entry>();
        await using (var select = new NpgsqlCommand($"select seq_id, prev_seq, prev_hash, event_id, record_hash, mac from {_chain} order by seq_id", connection))
        await using (var reader = await select.ExecuteReaderAsync(ct))
        {
            while (await reader.ReadAsync(ct)) entries.Add(ReadEntry(reader));
        }
        var entryBySeq = entries.ToDictionary(e => e.Seq);
        var chainedSeqOfId = new Dictionary<Guid, long>();
        foreach (var e in entries.Where(e => e.EventId is not null)) chainedSeqOfId.TryAdd(e.EventId!.Value, e.Seq);
        var rows = new List<Row>();
        var rowBySeq = new Dictionary<long, Row>();
        var summariesFromEvents = new Dictionary<Guid, ExpectedSummary>();
        var tainted = new HashSet<Guid>();
        var acks = new List<(long Version, LedgerIncidentAcknowledged Event)>();
        await using (var select = new NpgsqlCommand($"select {RecordColumns}, {IsTombstone("e")} from {_events} e order by e.seq_id", connection))
        await using (var reader = await select.ExecuteReaderAsync(ct))
        {
            while (await reader.ReadAsync(ct))
            {
                if (reader.GetBoolean(8)) continue; // Marten's filler for a failed append's sequence numbers
                var row = ReadRow(reader, 0);
                // Chained, matching, MAC-valid rows are what the ledger wrote and what still stands: they alone
                // feed the acknowledgements and the read-model check. Their data is used now and not kept.
                if (entryBySeq.TryGetValue(row.Seq, out var entry) && entry.EventId == row.Id && MacValid(entry)
                    && RecordHash(entry.PrevSeq ?? 0, entry.PrevHash, row.Sha256) == entry.RecordHash)
                {
                    if (row.Type == EventTypeNames.IncidentAcknowledged)
                        acks.Add((row.Seq, JsonSerializer.Deserialize<LedgerIncidentAcknowledged>(row.Data, Json)!));
                    else if (row.Type != EventTypeNames.RoutingPolicySet) // the routing policy's stream has no read model
                    {
                        summariesFromEvents.TryGetValue(row.StreamId, out var expected);
                        summariesFromEvents[row.StreamId] = ExpectedSummary.Next(expected, row.Type, row.Seq, row.Data);
                    }
                }
                else if (entryBySeq.ContainsKey(row.Seq))
                    tainted.Add(row.StreamId); // its break is reported below; its read model cannot be checked against it
                row = row with { Data = "" };
                rows.Add(row);
                rowBySeq[row.Seq] = row;
            }
        }

        var breaks = new List<ChainBreak>();
        var acknowledged = new List<AcknowledgedIncident>();
        long checkedCount = 0;

        (long Version, LedgerIncidentAcknowledged Event)? AckOf(long seq, string kind, string sha) =>
            acks.Where(a => a.Event.Sequence == seq && a.Event.Kind == kind && a.Event.RecordSha256 == sha)
                .Select(a => ((long, LedgerIncidentAcknowledged)?)a).FirstOrDefault();

        void Incident(long seq, Guid? edit, string kind, string sha, ChainBreakKind breakKind, string message)
        {
            if (AckOf(seq, kind, sha) is { } ack)
                acknowledged.Add(new AcknowledgedIncident(seq, edit, kind, ack.Version, ack.Event.AcknowledgedBy, ack.Event.Reason,
                    $"{message}; acknowledged at version {ack.Version} by {ack.Event.AcknowledgedBy}"));
            else
                breaks.Add(new ChainBreak(seq, edit, breakKind, message));
        }

        long prevSeq = 0;
        var prev = Genesis;
        var next = 0; // index into rows, which are in sequence order
        foreach (var entry in entries)
        {
            rowBySeq.TryGetValue(entry.Seq, out var row);
            Guid? edit = row?.StreamId;
            if (!MacValid(entry))
                breaks.Add(new ChainBreak(entry.Seq, edit, ChainBreakKind.MacInvalid,
                    entry.Mac is null
                        ? $"chain entry {entry.Seq} has no MAC (written before chain keys, or by hand)"
                        : $"chain entry {entry.Seq} carries an invalid MAC: it was not written with this ledger's chain key (a forged entry)"));
            if (entry.PrevSeq != prevSeq || entry.PrevHash != prev)
                breaks.Add(new ChainBreak(entry.Seq, edit, ChainBreakKind.LinkBroken,
                    entry.PrevSeq != prevSeq
                        ? $"chain entry {entry.Seq} points at entry {entry.PrevSeq?.ToString(CultureInfo.InvariantCulture) ?? "(none)"}, but the entry before it is {prevSeq}: chain entries were deleted or inserted"
                        : $"chain entry {entry.Seq} points at {Short(entry.PrevHash)}, but entry {prevSeq} hashes to {Short(prev)}"));

            // Rows between the previous entry and this one: tombstones are skipped above; anything else was inserted.
            for (; next < rows.Count && rows[next].Seq <= entry.Seq; next++)
            {
                var gapRow = rows[next];
                if (gapRow.Seq == entry.Seq) continue;
                var gapSeq = gapRow.Seq;
                Incident(gapSeq, gapRow.StreamId, IncidentKinds.Foreign, gapRow.Sha256, ChainBreakKind.RecordUnchained,
                    $"event {gapSeq} ({gapRow.Type}, stream {gapRow.StreamId}) is in mt_events but was never chained: it was not appended by the ledger");
            }

            if (row is null)
                Incident(entry.Seq, null, IncidentKinds.Deleted, "", ChainBreakKind.RecordMissing,
                    $"event {entry.Seq} is in the hash chain but its record is gone from mt_events");
            else if (entry.EventId is { } id && row.Id != id)
            {
                var elsewhere = rows.FirstOrDefault(r => r.Id == id);
                if (elsewhere is not null || chainedSeqOfId.ContainsKey(row.Id))
                    Incident(entry.Seq, row.StreamId, IncidentKinds.Changed, row.Sha256, ChainBreakKind.Reordered,
                        $"event {entry.Seq} holds the record chained at {(chainedSeqOfId.TryGetValue(row.Id, out var s) ? s.ToString(CultureInfo.InvariantCulture) : "?")}" +
                        (elsewhere is not null ? $", and the record chained here is now at {elsewhere.Seq}" : "") + ": rows were reordered");
                else
                    Incident(entry.Seq, row.StreamId, IncidentKinds.Changed, row.Sha256, ChainBreakKind.RecordAltered,
                        $"event {entry.Seq} (edit {row.StreamId}, {row.Type}) was replaced by another record after it was appended");
            }
            else if (RecordHash(entry.PrevSeq ?? 0, entry.PrevHash, row.Sha256) != entry.RecordHash)
                Incident(entry.Seq, row.StreamId, IncidentKinds.Changed, row.Sha256, ChainBreakKind.RecordAltered,
                    $"event {entry.Seq} (edit {row.StreamId}, {row.Type}) was changed after it was appended");
            else
                checkedCount++;

            (prevSeq, prev) = (entry.Seq, entry.RecordHash);
        }
        foreach (var row in rows.Skip(next).Where(r => r.Seq > prevSeq))
            Incident(row.Seq, row.StreamId, IncidentKinds.Foreign, row.Sha256, ChainBreakKind.RecordUnchained,
                $"event {row.Seq} ({row.Type}, stream {row.StreamId}) is in mt_events but was never chained: it was not appended by the ledger");

        // Read models: the EditSummary rows against the good chained events folded per edit.
        foreach (var (id, expected) in summariesFromEvents.Where(x => !tainted.Contains(x.Key)))
        {
            if (!summaries.TryGetValue(id, out var actual))
                breaks.Add(new ChainBreak(expected.LastSeq, id, ChainBreakKind.ProjectionMismatch, $"edit {id} has chained events but no EditSummary row"));
            else if (expected.Differences(actual) is { Count: > 0 } fields)
                breaks.Add(new ChainBreak(expected.LastSeq, id, ChainBreakKind.ProjectionMismatch,
                    $"the EditSummary row of edit {id} disagrees with its chained events in {string.Join(", ", fields)}"));
        }
        foreach (var id in summaries.Keys.Where(id => !summariesFromEvents.ContainsKey(id) && !tainted.Contains(id)))
            breaks.Add(new ChainBreak(0, id, ChainBreakKind.ProjectionMismatch, $"an EditSummary row for edit {id} exists, but no chained event of that edit"));

        breaks.Sort((a, b) => a.Version != b.Version ? a.Version.CompareTo(b.Version) : a.Kind.CompareTo(b.Kind));
        acknowledged.Sort((a, b) => a.Sequence.CompareTo(b.Sequence));
        return new LedgerVerification(checkedCount, prevSeq, breaks, acknowledged);
    }

    private static string Short(string hash) => hash.Length > 12 ? hash[..12] + "…" : hash;

    // ---------------------------------------------------------------- hashing

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private static Entry ReadEntry(NpgsqlDataReader r) => new(
        r.GetInt64(0), r.IsDBNull(1) ? null : r.GetInt64(1), r.GetString(2), r.IsDBNull(3) ? null : r.GetGuid(3), r.GetString(4), r.IsDBNull(5) ? null : r.GetString(5));

    /// <summary>The columns of <see cref="RecordColumns"/> as read, before hashing.</summary>
    private sealed record RawRow(long Seq, Guid Id, Guid? StreamId, long Version, string Type, DateTime Timestamp, string Data, bool? Archived);

    private static RawRow ReadRaw(NpgsqlDataReader r, int o) => new(
        r.GetInt64(o), r.GetGuid(o + 1), r.IsDBNull(o + 2) ? null : r.GetGuid(o + 2), r.GetInt64(o + 3), r.GetString(o + 4),
        r.GetFieldValue<DateTime>(o + 5), r.GetString(o + 6), r.IsDBNull(o + 7) ? null : r.GetBoolean(o + 7));

    private static Row ReadRow(NpgsqlDataReader r, int o) => Hash(ReadRaw(r, o));

    private static Row Hash(RawRow r)
    {
        var canonical = string.Join('\n',
            "liveedit-event-v2",
            r.Seq.ToString(CultureInfo.InvariantCulture),
            r.Id.ToString("N"),
            r.StreamId is { } stream ? stream.ToString("N") : "null",
            r.Version.ToString(CultureInfo.InvariantCulture),
            r.Type,
            r.Timestamp.ToUniversalTime().Ticks.ToString(CultureInfo.InvariantCulture),
            r.Data,
            r.Archived is { } archived ? archived ? "archived" : "live" : "null");
        return new Row(r.Seq, r.Id, r.StreamId ?? Guid.Empty, r.Type, Sha256Hex.Of(Encoding.UTF8.GetBytes(canonical)), r.Data);
    }

    /// <summary>The chained hash of a record: binds the previous entry (sequence and hash) and the row's own hash.</summary>
    private static string RecordHash(long prevSeq, string prevHash, string rowSha256) =>
        Sha256Hex.Of(Encoding.UTF8.GetBytes($"liveedit-chain-v2\n{prevSeq.ToString(CultureInfo.InvariantCulture)}\n{prevHash}\n{rowSha256}"));

    private string Mac(string recordHash) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes("liveedit-chain-mac-v2\n" + recordHash)));

    private bool MacValid(Entry e) =>
        e.Mac is { Length: 64 } mac && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(mac), Encoding.ASCII.GetBytes(Mac(e.RecordHash)));

    /// <summary>What an edit's <see cref="EditSummary"/> must say, folded from its chained events.</summary>
    private sealed record ExpectedSummary(long LastSeq, EditStatus Status, string ImageSha256, string Prompt, string Target, string? ExpertSha256,
        long? ActivatedAtVersion, long? RemovedAtVersion)
    {
        public static ExpectedSummary Next(ExpectedSummary? s, string type, long seq, string data)
        {
            using var doc = JsonDocument.Parse(data);
            var d = doc.RootElement;
            string Text(string name) => d.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "";
            if (s is null)
                return type == EventTypeNames.Proposed
                    ? new ExpectedSummary(seq, EditStatus.Proposed, Text("imageSha256"), Text("prompt"), Text("target"), null, null, null)
                    : new ExpectedSummary(seq, EditStatus.Proposed, "", "", "", null, null, null); // a stream that does not start with a proposal: every field will differ
            s = s with { LastSeq = seq };
            return type switch
            {
                EventTypeNames.Approved => s with { Status = EditStatus.Approved },
                EventTypeNames.Rejected => s with { Status = EditStatus.Rejected },
                EventTypeNames.ExpertGenerated => s with { ExpertSha256 = Text("expertSha256") },
                EventTypeNames.GenerationFailed => s with { Status = EditStatus.Failed },
                EventTypeNames.Activated => s with { Status = EditStatus.Active, ActivatedAtVersion = seq },
                EventTypeNames.Retracted => s with { Status = EditStatus.Retracted, RemovedAtVersion = s.ActivatedAtVersion is not null ? s.RemovedAtVersion ?? seq : s.RemovedAtVersion },
                EventTypeNames.Superseded => s with { Status = EditStatus.Superseded, RemovedAtVersion = s.ActivatedAtVersion is not null ? s.RemovedAtVersion ?? seq : s.RemovedAtVersion },
                _ => s,
            };
        }

        public List<string> Differences(EditSummary a)
        {
            var fields = new List<string>();
            if (a.Status != Status) fields.Add($"status ({a.Status}, chained {Status})");
            if (a.ImageSha256 != ImageSha256) fields.Add("imageSha256");
            if (a.Prompt != Prompt) fields.Add("prompt");
            if (a.Target != Target) fields.Add("target");
            if (a.ExpertSha256 != ExpertSha256) fields.Add("expertSha256");
            if (a.ActivatedAtVersion != ActivatedAtVersion) fields.Add($"activatedAtVersion ({a.ActivatedAtVersion?.ToString(CultureInfo.InvariantCulture) ?? "none"}, chained {ActivatedAtVersion?.ToString(CultureInfo.InvariantCulture) ?? "none"})");
            if (a.RemovedAtVersion != RemovedAtVersion) fields.Add($"removedAtVersion ({a.RemovedAtVersion?.ToString(CultureInfo.InvariantCulture) ?? "none"}, chained {RemovedAtVersion?.ToString(CultureInfo.InvariantCulture) ?? "none"})");
            return fields;
        }
    }
}
