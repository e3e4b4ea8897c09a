namespace LiveEdit.Ledger.Audit;

/// <summary>
/// A set of event sequence numbers that only grows, one bit per sequence: the ledger's sequences are dense from 1, so
/// a host that has authenticated 400,000 events holds 50 KB here where a hash set held about 20 MB. Safe for concurrent
/// readers and writers; a sequence once added stays.
/// </summary>
internal sealed class SequenceSet
{
    private const int ChunkShift = 16; // 65,536 sequences (8 KB) a chunk
    private const long ChunkMask = (1L << ChunkShift) - 1;

    private long[]?[] _chunks = new long[]?[16];
    private readonly Lock _grow = new();

    /// <summary>Whether <paramref name="seq"/> was added.</summary>
    public bool Contains(long seq)
    {
        if (seq < 0) return false;
        var chunks = Volatile.Read(ref _chunks);
        var index = seq >> ChunkShift;
        if (index >= chunks.Length || Volatile.Read(ref chunks[index]) is not { } chunk) return false;
        var bit = seq & ChunkMask;
        return (Volatile.Read(ref chunk[bit >> 6]) & (1L << (int)(bit & 63))) != 0;
    }

    /// <summary>Adds <paramref name="seq"/> (a negative sequence is not one and is refused).</summary>
    public void Add(long seq)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(seq);
        var bit = seq & ChunkMask;
        Interlocked.Or(ref Chunk(seq >> ChunkShift)[bit >> 6], 1L << (int)(bit & 63));
    }

    private long[] Chunk(long index)
    {
        var chunks = Volatile.Read(ref _chunks);
        if (index < chunks.Length && Volatile.Read(ref chunks[index]) is { } chunk) return chunk;
        lock (_grow)
        {
            chunks = _chunks;
            if (index >= chunks.Length)
            {
                var grown = new long[]?[Math.Max(chunks.Length * 2, checked((int)index + 1))];
                Array.Copy(chunks, grown, chunks.Length);
                Volatile.Write(ref _chunks, grown);
                chunks = grown;
            }
            return chunks[index] ??= new long[(1 << ChunkShift) / 64];
        }
    }
}
