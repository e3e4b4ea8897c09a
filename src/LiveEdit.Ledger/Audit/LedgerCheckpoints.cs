using System.Globalization;
using Marten.Storage;
using Npgsql;

namespace LiveEdit.Ledger.Audit;

/// <summary>An entry of the hash chain: its sequence, its record hash and how many chain entries there are up to it.</summary>
public sealed record ChainEntry(long Sequence, string RecordHash, long EntriesUpTo);

/// <summary>What is wrong with one checkpoint file.</summary>
public enum CheckpointProblemKind
{
    /// <summary>The file cannot be read as a checkpoint (bad JSON, a missing, unknown or invalid field, too large).</summary>
    Unreadable,
    /// <summary>The file names another signing key than the one given.</summary>
    OtherKey,
    /// <summary>The signature does not match the file's content: the file was edited or forged.</summary>
    SignatureInvalid,
    /// <summary>The ledger has no chain entry at the checkpoint's sequence any more: events were deleted (truncation).</summary>
    ChainEntryMissing,
    /// <summary>The chain entry at the checkpoint's sequence has another hash: the ledger was rewritten at or before it.</summary>
    ChainHashChanged,
    /// <summary>The folder holds no checkpoint file at all.</summary>
    NoCheckpoints,
}

/// <summary>One problem found by <see cref="LedgerCheckpoints.VerifyCheckpointsAsync"/>.</summary>
/// <param name="File">The checkpoint file's name (the folder for <see cref="CheckpointProblemKind.NoCheckpoints"/>).</param>
/// <param name="Sequence">The checkpoint's sequence, when the file could be read.</param>
public sealed record CheckpointProblem(string File, long? Sequence, CheckpointProblemKind Kind, string Message);

/// <summary>Result of <see cref="LedgerCheckpoints.VerifyCheckpointsAsync"/>.</summary>
/// <param name="Verified">Checkpoints of this ledger whose signature is valid and whose chain entry is unchanged, by sequence.</param>
/// <param name="Problems">Every problem found, one per bad file.</param>
/// <param name="OtherSchemas">Validly signed checkpoints of other ledger schemas in the same folder (not checked against this ledger).</param>
/// <param name="Chain">The ledger's own walk of its hash chain; a checkpoint only proves something while this is intact.</param>
public sealed record CheckpointVerification(
    IReadOnlyList<LedgerCheckpoint> Verified, IReadOnlyList<CheckpointProblem> Problems, int OtherSchemas, LedgerVerification Chain)
{
    /// <summary>True when every checkpoint verifies and the chain walk is intact: the ledger still extends every checkpoint.</summary>
    public bool IsIntact => Problems.Count == 0 && Chain.IsIntact;
}

/// <summary>Where <see cref="LedgerCheckpoints.WriteAsync"/> put a checkpoint.</summary>
/// <param name="AlreadyExisted">A checkpoint file of the same schema and sequence was there already and was kept as it was.</param>
public sealed record WrittenCheckpoint(string Path, bool AlreadyExisted);

/// <summary>A checkpoint operation that cannot be done: an empty or broken ledger, a missing or unwritable folder.</summary>
public sealed class CheckpointException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Signed checkpoints of an <see cref="EditLedger"/>'s hash chain, kept outside the database: make one from the
/// chain head (<see cref="CreateAsync"/>), write it to a folder (<see cref="WriteAsync"/>), and prove later that the
/// ledger still extends every checkpoint in a folder (<see cref="VerifyCheckpointsAsync"/>). A database owner who
/// rewrites events and recomputes the whole chain consistently passes <see cref="EditLedger.VerifyAsync"/>, but
/// changes the chain hash at every checkpoint at or after the first rewritten event and cannot sign a new one.
/// </summary>
public sealed class LedgerCheckpoints
{
    private readonly EditLedger _ledger;
    private readonly string _chain;

    /// <summary>Checkpoints of <paramref name="ledger"/>, read through its own database connection.</summary>
    public LedgerCheckpoints(EditLedger ledger)
    {
        _ledger = ledger;
        Schema = ledger.Store.Options.Events.DatabaseSchemaName;
        if (!System.Text.RegularExpressions.Regex.IsMatch(Schema, "^[A-Za-z_][A-Za-z0-9_]{0,62}$"))
            throw new ArgumentException($"the ledger schema must be a plain PostgreSQL identifier to be checkpointed");
        _chain = $"{Schema}.ledger_chain";
    }

    /// <summary>The ledger's schema: the <see cref="LedgerCheckpoint.Schema"/> of its checkpoints.</summary>
    public string Schema { get; }

    /// <summary>The last chain entry (at or before <paramref name="atOrBefore"/> when given), or null for an empty chain.</summary>
    public async Task<ChainEntry?> ReadHeadAsync(long? atOrBefore = null, CancellationToken ct = default)
    {
        await using var connection = await OpenAsync(ct);
        await using var command = new NpgsqlCommand($"""
            select h.seq_id, h.record_hash, (select count(*) from {_chain} c where c.seq_id <= h.seq_id)
            from {_chain} h where h.seq_id <= @max order by h.seq_id desc limit 1
            """, connection);
        command.Parameters.AddWithValue("max", atOrBefore ?? long.MaxValue);
        await using var reader = await command.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? new ChainEntry(reader.GetInt64(0), reader.GetString(1), reader.GetInt64(2)) : null;
    }

    /// <summary>The record hash of the chain entry at each of <paramref name="sequences"/> that still has one.</summary>
    public async Task<IReadOnlyDictionary<long, string>> ReadHashesAsync(IReadOnlyCollection<long> sequences, CancellationToken ct = default)
    {
        var hashes = new Dictionary<long, string>();
        if (sequences.Count == 0) return hashes;
        await using var connection = await OpenAsync(ct);
        await using var command = new NpgsqlCommand($"select seq_id, record_hash from {_chain} where seq_id = any(@s)", connection);
        command.Parameters.AddWithValue("s", sequences.Distinct().ToArray());
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) hashes[reader.GetInt64(0)] = reader.GetString(1);
        return hashes;
    }

    /// <summary>How many chain entries follow <paramref name="sequence"/> (cheap: what a periodic writer polls).</summary>
    public async Task<long> CountEntriesAfterAsync(long sequence, CancellationToken ct = default)
    {
        await using var connection = await OpenAsync(ct);
        await using var command = new NpgsqlCommand($"select count(*) from {_chain} where seq_id > @s", connection);
        command.Parameters.AddWithValue("s", sequence);
        return (long)(await command.ExecuteScalarAsync(ct))!;
    }

    /// <summary>
    /// Walks the chain (<see cref="EditLedger.VerifyAsync"/>) and signs the last entry it verified, stamped with
    /// <paramref name="time"/> (now when null). Refuses to sign a broken chain: a checkpoint would bless the damage.
    /// </summary>
    /// <exception cref="CheckpointException">The chain is broken or holds no entry yet.</exception>
    public async Task<LedgerCheckpoint> CreateAsync(CheckpointSigner signer, DateTimeOffset? time = null, CancellationToken ct = default)
    {
        var walk = await _ledger.VerifyAsync(ct);
        if (!walk.IsIntact)
            throw new CheckpointException($"the hash chain is broken ({walk.FirstBreak?.Message}); refusing to sign a checkpoint over it");
        var head = walk.Head > 0 ? await ReadHeadAsync(walk.Head, ct) : null;
        if (head is null) throw new CheckpointException($"the ledger in schema '{Schema}' has no chained events yet; nothing to checkpoint");
        return signer.Sign(Schema, head.Sequence, head.RecordHash, head.EntriesUpTo, time ?? DateTimeOffset.UtcNow);
    }

    /// <summary>
    /// Writes <paramref name="checkpoint"/> to <paramref name="folder"/> (created if missing) as
    /// <see cref="LedgerCheckpoint.FileName"/>, through a temporary file and a rename, so no reader ever sees half a
    /// checkpoint. An existing file of the same name is never replaced (it is kept as evidence).
    /// </summary>
    /// <exception cref="CheckpointException">The folder cannot be created or written.</exception>
    public static async Task<WrittenCheckpoint> WriteAsync(LedgerCheckpoint checkpoint, string folder, CancellationToken ct = default)
    {
        var path = Path.Combine(folder, checkpoint.FileName);
        var temporary = Path.Combine(folder, $".{checkpoint.FileName}.{Guid.NewGuid():N}.tmp");
        try
        {
            Directory.CreateDirectory(folder);
            if (File.Exists(path)) return new WrittenCheckpoint(path, true);
            await using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                await stream.WriteAsync(System.Text.Encoding.UTF8.GetBytes(checkpoint.ToJson()), ct);
                stream.Flush(flushToDisk: true);
            }
            try
            {
                File.Move(temporary, path, overwrite: false);
            }
            catch (IOException) when (File.Exists(path))
            {
                return new WrittenCheckpoint(path, true);
            }
            return new WrittenCheckpoint(path, false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException($"cannot write checkpoint to '{folder}': {e.Message}", e);
        }
        finally
        {
            try { File.Delete(temporary); } catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        }
    }

    /// <summary>
    /// Checks every <c>*.json</c> file in <paramref name="folder"/>: it must be a checkpoint signed by
    /// <paramref name="publicKey"/>, and if it is of this ledger's schema, the chain entry at its sequence must still
    /// exist with its hash; then walks the ledger's chain. Reports every problem, one per file, never skipping a
    /// file it cannot read.
    /// </summary>
    /// <param name="chainWalk">The result of an <see cref="EditLedger.VerifyAsync"/> the caller has just run, so the
    /// chain is not walked twice; null to walk it here.</param>
    /// <exception cref="CheckpointException">The folder does not exist or cannot be listed.</exception>
    public async Task<CheckpointVerification> VerifyCheckpointsAsync(
        string folder, CheckpointPublicKey publicKey, LedgerVerification? chainWalk = null, CancellationToken ct = default)
    {
        string[] files;
        try
        {
            if (!Directory.Exists(folder)) throw new CheckpointException($"checkpoint folder '{folder}' does not exist");
            files = Directory.GetFiles(folder, "*.json", SearchOption.TopDirectoryOnly);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointException($"cannot list checkpoint folder '{folder}': {e.Message}", e);
        }
        Array.Sort(files, StringComparer.Ordinal);

        var problems = new List<CheckpointProblem>();
        var ours = new List<(string File, LedgerCheckpoint Checkpoint)>();
        var otherSchemas = 0;
        foreach (var path in files)
        {
            var name = Path.GetFileName(path);
            LedgerCheckpoint checkpoint;
            try
            {
                checkpoint = LedgerCheckpoint.Parse(await ReadSmallFileAsync(path, ct));
            }
            catch (CheckpointFormatException e)
            {
                problems.Add(new CheckpointProblem(name, null, CheckpointProblemKind.Unreadable, e.Message));
                continue;
            }
            if (checkpoint.KeyId != publicKey.KeyId)
                problems.Add(new CheckpointProblem(name, checkpoint.Sequence, CheckpointProblemKind.OtherKey,
                    $"signed by key {checkpoint.KeyId[..16]}…, not by the given key {publicKey.KeyId[..16]}…"));
            else if (!publicKey.Verify(checkpoint))
                problems.Add(new CheckpointProblem(name, checkpoint.Sequence, CheckpointProblemKind.SignatureInvalid,
                    "the signature does not match the file's content: it was edited or forged"));
            else if (checkpoint.Schema != Schema)
                otherSchemas++;
            else
                ours.Add((name, checkpoint));
        }

        var hashes = await ReadHashesAsync(ours.Select(o => o.Checkpoint.Sequence).ToArray(), ct);
        var head = ours.Count > 0 ? await ReadHeadAsync(null, ct) : null;
        var verified = ours.Where(o => hashes.GetValueOrDefault(o.Checkpoint.Sequence) == o.Checkpoint.ChainHash)
            .Select(o => o.Checkpoint).OrderBy(c => c.Sequence).ToArray();
        foreach (var (name, checkpoint) in ours)
        {
            var s = checkpoint.Sequence.ToString(CultureInfo.InvariantCulture);
            var lastGood = verified.LastOrDefault(v => v.Sequence < checkpoint.Sequence) is { } g
                ? $"the last checkpoint still matching is at sequence {g.Sequence.ToString(CultureInfo.InvariantCulture)}"
                : "no earlier checkpoint still matches";
            if (!hashes.TryGetValue(checkpoint.Sequence, out var now))
                problems.Add(new CheckpointProblem(name, checkpoint.Sequence, CheckpointProblemKind.ChainEntryMissing,
                    $"the chain has no entry at sequence {s} any more (chain head: {head?.Sequence.ToString(CultureInfo.InvariantCulture) ?? "none"}): " +
                    $"signed events were deleted; {lastGood}"));
            else if (now != checkpoint.ChainHash)
                problems.Add(new CheckpointProblem(name, checkpoint.Sequence, CheckpointProblemKind.ChainHashChanged,
                    $"the chain entry at sequence {s} is {now[..16]}…, the checkpoint signed {checkpoint.ChainHash[..16]}…: " +
                    $"the ledger was rewritten at or before sequence {s}; {lastGood}"));
        }
        if (files.Length == 0)
            problems.Add(new CheckpointProblem(folder, null, CheckpointProblemKind.NoCheckpoints, $"no checkpoint files (*.json) in '{folder}'"));

        var walk = chainWalk ?? await _ledger.VerifyAsync(ct);
        return new CheckpointVerification(verified, problems, otherSchemas, walk);
    }

    private static async Task<string> ReadSmallFileAsync(string path, CancellationToken ct)
    {
        try
        {
            var info = new FileInfo(path);
            if (info.Length > LedgerCheckpoint.MaxFileBytes)
                throw new CheckpointFormatException($"the file is {info.Length} bytes; a checkpoint is under {LedgerCheckpoint.MaxFileBytes}");
            return await File.ReadAllTextAsync(path, ct);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointFormatException($"cannot read the file: {e.Message}");
        }
    }

    private async Task<NpgsqlConnection> OpenAsync(CancellationToken ct)
    {
        var connection = _ledger.Store.Storage.Database.CreateConnection(ConnectionUsage.Read);
        await connection.OpenAsync(ct);
        return connection;
    }
}
