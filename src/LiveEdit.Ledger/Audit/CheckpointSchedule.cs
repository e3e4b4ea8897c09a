using System.Globalization;

namespace LiveEdit.Ledger.Audit;

/// <summary>
/// Decides when a periodic writer signs the next checkpoint: when the chain has grown by
/// <see cref="EveryEntries"/> entries since the last one, or when <see cref="Every"/> has passed and the chain has
/// grown at all. A host calls <see cref="WriteIfDueAsync"/> on a timer. Not thread-safe: one caller at a time.
/// </summary>
public sealed class CheckpointSchedule
{
    private readonly LedgerCheckpoints _checkpoints;
    private readonly CheckpointSigner _signer;
    private readonly TimeProvider _clock;
    private long? _lastSequence;
    private DateTimeOffset _lastAt;

    /// <param name="everyEntries">Chain entries between checkpoints; 0 = only by time.</param>
    /// <param name="every">Time between checkpoints while the chain grows; null = only by count.</param>
    public CheckpointSchedule(LedgerCheckpoints checkpoints, CheckpointSigner signer, string folder, long everyEntries, TimeSpan? every, TimeProvider? clock = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        ArgumentOutOfRangeException.ThrowIfNegative(everyEntries);
        if (everyEntries == 0 && every is null) throw new ArgumentException("set a number of entries, a time, or both");
        if (every is { } t && t <= TimeSpan.Zero) throw new ArgumentOutOfRangeException(nameof(every), "must be positive");
        _checkpoints = checkpoints;
        _signer = signer;
        Folder = folder;
        EveryEntries = everyEntries;
        Every = every;
        _clock = clock ?? TimeProvider.System;
        _lastAt = _clock.GetUtcNow();
    }

    /// <summary>Where checkpoints are written.</summary>
    public string Folder { get; }

    /// <summary>Chain entries between checkpoints (0: only by time).</summary>
    public long EveryEntries { get; }

    /// <summary>Time between checkpoints while the chain grows (null: only by count).</summary>
    public TimeSpan? Every { get; }

    /// <summary>Writes a checkpoint if one is due; returns where, or null when none was due.</summary>
    /// <exception cref="CheckpointException">One was due but could not be made (a broken chain) or written.</exception>
    public async Task<WrittenCheckpoint?> WriteIfDueAsync(CancellationToken ct = default)
    {
        _lastSequence ??= LastWrittenSequence(await _checkpoints.ReadHeadAsync(null, ct));
        var grown = await _checkpoints.CountEntriesAfterAsync(_lastSequence.Value, ct);
        var now = _clock.GetUtcNow();
        var due = (EveryEntries > 0 && grown >= EveryEntries) || (Every is { } every && grown > 0 && now - _lastAt >= every);
        if (!due) return null;
        var checkpoint = await _checkpoints.CreateAsync(_signer, now, ct);
        var written = await LedgerCheckpoints.WriteAsync(checkpoint, Folder, ct);
        _lastSequence = checkpoint.Sequence;
        _lastAt = now;
        return written;
    }

    // Resumes after a restart from the newest checkpoint file of this schema (by name; a file claiming more than
    // the chain holds is ignored, so a stray file cannot silence the writer).
    private long LastWrittenSequence(ChainEntry? head)
    {
        if (head is null || !Directory.Exists(Folder)) return 0;
        var prefix = $"checkpoint-{_checkpoints.Schema}-";
        return Directory.EnumerateFiles(Folder, prefix + "*.json")
            .Select(f => Path.GetFileNameWithoutExtension(f)[prefix.Length..])
            .Select(s => long.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : 0)
            .Where(n => n <= head.Sequence)
            .DefaultIfEmpty(0)
            .Max();
    }
}
