using static TorchSharp.torch;

namespace LiveEdit.Model.Vlm;

/// <summary>
/// The keys and values of every decoder layer for a batch being decoded, with each row's own position (see
/// <see cref="IVisionLanguageModel.Prefill"/>). Rows have different lengths: row i holds <see cref="Positions"/>[i]
/// real positions in slots [0, Positions[i]); the slots after them hold padding or nothing and are never attended to,
/// and the row's next token is written at slot Positions[i]. Owns its tensors (outside every dispose scope) until
/// disposed. Not thread-safe.
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly Tensor[] keys, values;
    private readonly int[] positions;
    private readonly bool[] finished;

    /// <param name="keys">Per layer [B, H, C, hd]; taken over by the cache.</param>
    /// <param name="values">Per layer [B, H, C, hd]; taken over by the cache.</param>
    /// <param name="lengths">Real positions held per row.</param>
    internal KvCache(Tensor[] keys, Tensor[] values, int[] lengths)
    {
        if (keys.Length != values.Length || keys.Length == 0) throw new ArgumentException("one key and one value tensor per layer");
        foreach (var t in keys.Concat(values)) t.DetachFromDisposeScope();
        this.keys = keys;
        this.values = values;
        positions = (int[])lengths.Clone();
        finished = new bool[lengths.Length];
        Capacity = (int)keys[0].shape[2];
    }

    /// <summary>Rows in the batch.</summary>
    public int Count => positions.Length;

    /// <summary>Slots per row: the longest sequence any row can reach.</summary>
    public int Capacity { get; }

    /// <summary>Real positions held per row; the row's next token goes at this position.</summary>
    public IReadOnlyList<int> Positions => positions;

    /// <summary>True once <see cref="Finish"/> was called for the row.</summary>
    public bool IsFinished(int row) => finished[row];

    /// <summary>
    /// Marks a row done: later steps still compute it (the batch keeps its shape) but rewrite its last slot instead of
    /// advancing, and its logits mean nothing.
    /// </summary>
    public void Finish(int row) => finished[row] = true;

    /// <summary>Layer <paramref name="layer"/>'s keys [B, H, C, hd].</summary>
    internal Tensor Keys(int layer) => keys[layer];

    /// <summary>Layer <paramref name="layer"/>'s values [B, H, C, hd].</summary>
    internal Tensor Values(int layer) => values[layer];

    /// <summary>
    /// The slot each row writes its next token to, and advances the rows that are not finished. Throws when a live row
    /// has no slot left.
    /// </summary>
    internal int[] NextSlots()
    {
        var slots = new int[Count];
        for (var i = 0; i < Count; i++)
        {
            if (finished[i])
            {
                slots[i] = Math.Max(0, Math.Min(positions[i], Capacity) - 1);
                continue;
            }
            if (positions[i] >= Capacity) throw new InvalidOperationException($"row {i} fills its {Capacity} cache slots; prefill with more new tokens");
            slots[i] = positions[i]++;
        }
        return slots;
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        foreach (var t in keys) t.Dispose();
        foreach (var t in values) t.Dispose();
    }
}
