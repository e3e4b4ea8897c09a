using LiveEdit.Ledger.Errors;
using Npgsql;

namespace LiveEdit.Ledger.Blobs;

/// <summary>
/// Content-addressed, insert-only bytes (images, experts, checkpoints) in the ledger's PostgreSQL
/// schema, keyed by SHA-256. The same bytes stored twice are stored once; every read re-hashes and
/// throws <see cref="BlobCorruptedException"/> on a mismatch. A trigger refuses UPDATE and DELETE.
/// </summary>
public sealed class BlobStore
{
    private readonly Func<NpgsqlConnection> _connect;
    private readonly string _table;
    private readonly int _maxBytes;

    /// <summary>Most hashes remembered as stored; past it the memory starts over (each blob is then looked up once more).</summary>
    internal const int MaxRememberedBlobs = 20_000;

    // Hashes this store saw stored (written, read back or found): the table is insert-only (a trigger refuses UPDATE and
    // DELETE), so a blob once there stays there, and a command's check that its blobs exist needs no query for these.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> _stored = new(StringComparer.Ordinal);

    private void Stored(string sha256)
    {
        if (_stored.Count >= MaxRememberedBlobs) _stored.Clear();
        _stored.TryAdd(sha256, true);
    }

    internal BlobStore(Func<NpgsqlConnection> connect, string schema, int maxBytes)
    {
        _connect = connect;
        _table = $"{schema}.ledger_blobs";
        _maxBytes = maxBytes;
    }

    /// <summary>Stores <paramref name="bytes"/> unless already present; returns their SHA-256.</summary>
    /// <remarks>Concurrent puts are written together: whoever holds the store's writer inserts every put queued at that moment
    /// (up to <see cref="MaxPutBatch"/> blobs or <see cref="MaxPutBatchBytes"/> bytes) with one statement, and each caller
    /// returns once its own blob is committed. When that statement fails, the batch's puts are written again one by one, so
    /// a put that fails throws its own exception and the others are stored.</remarks>
    public async Task<string> PutAsync(ReadOnlyMemory<byte> bytes, CancellationToken ct = default)
    {
        if (bytes.Length == 0) throw new InvalidEditInputException("bytes", "a blob must not be empty.");
        if (bytes.Length > _maxBytes) throw new InvalidEditInputException("bytes", $"a blob must be at most {_maxBytes} bytes, got {bytes.Length}.");
        var sha = Sha256Hex.Of(bytes.Span);
        if (_stored.ContainsKey(sha)) return sha;
        ct.ThrowIfCancellationRequested();
        var mine = new PendingPut(sha, bytes, ct);
        _puts.Enqueue(mine);
        await GroupWriter.DrainUntilAnsweredAsync(mine.Done.Task, _putWriter, TakePuts, WritePutsAsync);
        await mine.Done.Task;
        return sha;
    }

    /// <summary>Most blobs one grouped put writes in one statement.</summary>
    internal const int MaxPutBatch = 64;

    /// <summary>Most bytes one grouped put writes in one statement (a larger blob still goes alone).</summary>
    internal const int MaxPutBatchBytes = 8 << 20;

    private sealed record PendingPut(string Sha, ReadOnlyMemory<byte> Bytes, CancellationToken Ct)
    {
        public TaskCompletionSource Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private readonly System.Collections.Concurrent.ConcurrentQueue<PendingPut> _puts = new();
    private readonly SemaphoreSlim _putWriter = new(1, 1);
    private long _putStatements;

    /// <summary>Puts waiting for the writer (for tests that need several puts in one statement).</summary>
    internal int PendingPuts => _puts.Count;

    /// <summary>Insert statements grouped puts ran, the one-by-one retries of a failed statement included (for tests).</summary>
    internal long PutStatements => Interlocked.Read(ref _putStatements);

    private List<PendingPut> TakePuts()
    {
        var batch = new List<PendingPut>();
        long bytes = 0;
        while (batch.Count < MaxPutBatch && _puts.TryPeek(out var next))
        {
            if (batch.Count > 0 && bytes + next.Bytes.Length > MaxPutBatchBytes) break;
            _puts.TryDequeue(out _);
            if (next.Ct.IsCancellationRequested)
            {
                next.Done.TrySetCanceled(next.Ct);
                continue;
            }
            batch.Add(next);
            bytes += next.Bytes.Length;
        }
        return batch;
    }

    private async Task WritePutsAsync(List<PendingPut> batch)
    {
        // Once taken, a put is written whatever its caller's token says: it may share the statement with others.
        try
        {
            await InsertAsync(batch);
            foreach (var put in batch) Answer(put, null);
            return;
        }
        catch (Exception) when (batch.Count > 1)
        {
            // Nothing of the statement stays (it is its own transaction): find out which put fails by writing them alone.
        }
        catch (Exception e)
        {
            Answer(batch[0], e);
            return;
        }
        foreach (var put in batch)
        {
            try
            {
                await InsertAsync([put]);
                Answer(put, null);
            }
            catch (Exception e)
            {
                Answer(put, e);
            }
        }
    }

    private void Answer(PendingPut put, Exception? failure)
    {
        if (failure is not null)
        {
            put.Done.TrySetException(failure);
            return;
        }
        Stored(put.Sha);
        put.Done.TrySetResult();
    }

    private async Task InsertAsync(IReadOnlyList<PendingPut> puts)
    {
        Interlocked.Increment(ref _putStatements);
        // Two callers may put the same bytes at once: each hash once per statement.
        var distinct = puts.DistinctBy(p => p.Sha).ToList();
        await using var connection = _connect();
        await connection.OpenAsync(CancellationToken.None);
        await using var command = new NpgsqlCommand(
            $"insert into {_table} (sha256, length, content) select s, l, c from unnest(@s, @l, @c) as u(s, l, c) on conflict (sha256) do nothing", connection);
        command.Parameters.AddWithValue("s", distinct.Select(p => p.Sha).ToArray());
        command.Parameters.AddWithValue("l", distinct.Select(p => (long)p.Bytes.Length).ToArray());
        command.Parameters.AddWithValue("c", distinct.Select(p => Whole(p.Bytes)).ToArray());
        await command.ExecuteNonQueryAsync(CancellationToken.None);
    }

    private static byte[] Whole(ReadOnlyMemory<byte> bytes) =>
        System.Runtime.InteropServices.MemoryMarshal.TryGetArray(bytes, out var segment) && segment.Offset == 0 && segment.Count == segment.Array!.Length
            ? segment.Array
            : bytes.ToArray();

    /// <summary>
    /// Stores each of <paramref name="blobs"/> unless already present, in one statement per <see cref="BatchSize"/> blobs;
    /// returns their SHA-256s in order. Every blob is checked as <see cref="PutAsync"/> checks it before anything is stored.
    /// </summary>
    /// <exception cref="InvalidEditInputException">A blob is empty or too large; nothing was stored.</exception>
    public async Task<IReadOnlyList<string>> PutManyAsync(IReadOnlyList<byte[]> blobs, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(blobs);
        foreach (var bytes in blobs)
        {
            if (bytes.Length == 0) throw new InvalidEditInputException("bytes", "a blob must not be empty.");
            if (bytes.Length > _maxBytes) throw new InvalidEditInputException("bytes", $"a blob must be at most {_maxBytes} bytes, got {bytes.Length}.");
        }
        var shas = blobs.Select(b => Sha256Hex.Of(b)).ToArray();
        await using var connection = _connect();
        await connection.OpenAsync(ct);
        for (var start = 0; start < blobs.Count; start += BatchSize)
        {
            var count = Math.Min(BatchSize, blobs.Count - start);
            await using var command = new NpgsqlCommand(
                $"insert into {_table} (sha256, length, content) select s, l, c from unnest(@s, @l, @c) as u(s, l, c) on conflict (sha256) do nothing", connection);
            command.Parameters.AddWithValue("s", shas.AsSpan(start, count).ToArray());
            command.Parameters.AddWithValue("l", blobs.Skip(start).Take(count).Select(b => (long)b.Length).ToArray());
            command.Parameters.AddWithValue("c", blobs.Skip(start).Take(count).ToArray());
            await command.ExecuteNonQueryAsync(ct);
        }
        foreach (var sha in shas) Stored(sha);
        return shas;
    }

    /// <summary>The bytes stored under <paramref name="sha256"/>, verified against the hash.</summary>
    /// <exception cref="BlobNotFoundException">Nothing is stored under the hash.</exception>
    /// <exception cref="BlobCorruptedException">The stored bytes do not hash to <paramref name="sha256"/>.</exception>
    public async Task<byte[]> GetAsync(string sha256, CancellationToken ct = default)
    {
        Sha256Hex.Require(sha256, "sha256");
        await using var connection = _connect();
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand($"select content from {_table} where sha256 = @sha", connection);
        command.Parameters.AddWithValue("sha", sha256);
        var content = await command.ExecuteScalarAsync(ct) as byte[] ?? throw new BlobNotFoundException(sha256);
        var actual = Sha256Hex.Of(content);
        if (actual != sha256) throw new BlobCorruptedException(sha256, actual);
        Stored(sha256);
        return content;
    }

    /// <summary>Hashes a batched read (<see cref="GetManyAsync"/>) asks for in one query.</summary>
    public const int BatchSize = 500;

    /// <summary>
    /// The bytes stored under each of <paramref name="sha256s"/>, read in batches of <see cref="BatchSize"/> (one query
    /// each) and every one verified against its hash, as <see cref="GetAsync"/> does: a missing or corrupt blob is reported
    /// for its own hash (<see cref="BlobRead.Problem"/>) and does not fail the others. Duplicates are read once.
    /// </summary>
    /// <exception cref="InvalidEditInputException">One of the hashes is not a SHA-256.</exception>
    public async Task<IReadOnlyDictionary<string, BlobRead>> GetManyAsync(IReadOnlyCollection<string> sha256s, CancellationToken ct = default)
    {
        foreach (var sha in sha256s) Sha256Hex.Require(sha, "sha256s");
        var wanted = sha256s.Distinct(StringComparer.Ordinal).ToArray();
        var result = new Dictionary<string, BlobRead>(wanted.Length, StringComparer.Ordinal);
        if (wanted.Length == 0) return result;
        await using var connection = _connect();
        await connection.OpenAsync(ct);
        foreach (var chunk in wanted.Chunk(BatchSize))
        {
            await using var command = new NpgsqlCommand($"select sha256, content from {_table} where sha256 = any(@shas)", connection);
            command.Parameters.AddWithValue("shas", chunk);
            await using var reader = await command.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct))
            {
                var sha = reader.GetString(0);
                var content = reader.GetFieldValue<byte[]>(1);
                var actual = Sha256Hex.Of(content);
                result[sha] = actual == sha ? new BlobRead(sha, content, null) : new BlobRead(sha, null, new BlobCorruptedException(sha, actual));
            }
            foreach (var sha in chunk)
                if (!result.ContainsKey(sha)) result[sha] = new BlobRead(sha, null, new BlobNotFoundException(sha));
        }
        return result;
    }

    /// <summary>True when bytes are stored under <paramref name="sha256"/> (not verified; see <see cref="GetAsync"/>).</summary>
    public async Task<bool> ExistsAsync(string sha256, CancellationToken ct = default)
    {
        if (!Sha256Hex.IsValid(sha256)) return false;
        await using var connection = _connect();
        await connection.OpenAsync(ct);
        return await ExistsAsync(connection, sha256, ct);
    }

    internal async Task<bool> ExistsAsync(NpgsqlConnection connection, string sha256, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand($"select exists (select 1 from {_table} where sha256 = @sha)", connection);
        command.Parameters.AddWithValue("sha", sha256);
        var exists = (bool)(await command.ExecuteScalarAsync(ct))!;
        if (exists) Stored(sha256);
        return exists;
    }

    internal async Task RequireAsync(string sha256, string parameter, CancellationToken ct)
    {
        Sha256Hex.Require(sha256, parameter);
        if (_stored.ContainsKey(sha256)) return;
        if (!await ExistsAsync(sha256, ct)) throw new BlobNotFoundException(sha256);
    }

    // Storage "main": a blob that fits a page (an expert: 6 KB) stays in the table's own row instead of three out-of-line
    // chunks, so a host's cold start reads it with one heap visit rather than a TOAST index lookup and three chunk reads
    // (about twice as fast to read back; the same size). Larger blobs (images) still go out of line. Rows stored before
    // keep their place until the owner rewrites the table (vacuum full).
    internal static string SchemaSql(string schema) => $"""
        create table if not exists {schema}.ledger_blobs (
            sha256 text primary key,
            length bigint not null,
            content bytea not null,
            stored_at timestamptz not null default now());
        alter table {schema}.ledger_blobs alter column content set storage main;
        create or replace function {schema}.ledger_insert_only() returns trigger language plpgsql as $$
        begin
            raise exception 'ledger table %.% is insert-only (% refused)', tg_table_schema, tg_table_name, tg_op;
        end $$;
        drop trigger if exists ledger_blobs_insert_only on {schema}.ledger_blobs;
        create trigger ledger_blobs_insert_only before update or delete on {schema}.ledger_blobs
            for each row execute function {schema}.ledger_insert_only();
        """;
}

/// <summary>One blob of a batched read (<see cref="BlobStore.GetManyAsync"/>): its verified bytes, or why there are none.</summary>
/// <param name="Bytes">The bytes, which hash to <paramref name="Sha256"/>; null when <paramref name="Problem"/> is set.</param>
/// <param name="Problem">A <see cref="BlobNotFoundException"/> or a <see cref="BlobCorruptedException"/>; null when the bytes are there.</param>
public sealed record BlobRead(string Sha256, byte[]? Bytes, LedgerException? Problem)
{
    /// <summary>The verified bytes; throws <see cref="Problem"/> when there are none.</summary>
    public byte[] Value => Bytes ?? throw Problem!;
}
