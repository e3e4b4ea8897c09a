namespace LiveEdit.Model.Editor;

/// <summary>
/// The active experts of an <see cref="EditedModel"/>, keyed by id, in fusion order (their order, then id): a view over
/// an <see cref="ExpertKeyStore"/> that may be shared with other models. Adding or removing an expert sets or clears
/// its row's bit (and its threshold offset); nothing is rebuilt. Not thread-safe.
/// </summary>
internal sealed class ExpertSet(ExpertKeyStore store)
{
    private readonly SortedDictionary<ExpertSlot, int> rowOfSlot = new();
    private readonly Dictionary<string, ExpertSlot> slots = new(StringComparer.Ordinal);
    private byte[] members = [];                 // bit i of byte b: row 8b + i is in the set
    private ExpertSlot?[] slotOfRow = [];
    private Dictionary<int, List<ExpertSlot>>? sharedRows;   // rows held under more than one id (the same expert twice)
    private Func<Expert, float>? offsetOf;
    private float[]? offsets;                    // by row: λ·o_e, or null without hubness
    private float lowestOffset;

    /// <summary>The shared rows.</summary>
    public ExpertKeyStore Store => store;
    /// <summary>Active experts.</summary>
    public int Count => slots.Count;
    /// <summary>The active experts in fusion order.</summary>
    public IReadOnlyList<ExpertSlot> Slots => rowOfSlot.Keys.ToList();
    /// <summary>Experts scored exactly by the last <see cref="Passing"/>.</summary>
    public int LastScored { get; private set; }
    /// <summary>Whether the last <see cref="Passing"/> used the bound.</summary>
    public bool LastBounded { get; private set; }

    /// <summary>Bytes of managed memory this view takes besides the store (its bitmaps, indexes and offsets; estimated per entry).</summary>
    public long Bytes => members.Length + (long)slotOfRow.Length * IntPtr.Size + (offsets?.Length ?? 0) * 4L + slots.Count * 160L;

    public bool Contains(string id) => slots.ContainsKey(id);

    /// <summary>The store row of active expert <paramref name="id"/>, or -1.</summary>
    public int RowOf(string id) => slots.TryGetValue(id, out var slot) ? rowOfSlot[slot] : -1;

    /// <summary>Whether store row <paramref name="row"/> is in the set (under any id).</summary>
    public bool Holds(int row) => row / 8 < members.Length && (members[row / 8] & (1 << (row % 8))) != 0;

    public void Add(ExpertSlot slot, Expert expert)
    {
        var row = store.RowOf(expert);
        rowOfSlot.Add(slot, row);
        slots.Add(slot.Id, slot);
        Grow(row);
        if (slotOfRow[row] is null)
        {
            slotOfRow[row] = slot;
            store.Hold(row);
        }
        else ((sharedRows ??= []).TryGetValue(row, out var more) ? more : sharedRows[row] = []).Add(slot);
        members[row / 8] |= (byte)(1 << (row % 8));
        if (offsets is not null)
        {
            offsets[row] = offsetOf!(expert);
            lowestOffset = Math.Min(lowestOffset, offsets[row]);
        }
    }

    public bool Remove(string id)
    {
        if (!slots.Remove(id, out var slot)) return false;
        rowOfSlot.Remove(slot, out var row);
        if (sharedRows is not null && sharedRows.TryGetValue(row, out var more))
        {
            if (slotOfRow[row] == slot)
            {
                slotOfRow[row] = more[0];
                more.RemoveAt(0);
            }
            else more.Remove(slot);
            if (more.Count == 0) sharedRows.Remove(row);
            return true;
        }
        slotOfRow[row] = null;
        members[row / 8] &= (byte)~(1 << (row % 8));
        store.Release(row);
        // The lowest offset stays as it was: still at most every member's, so the bound stays safe.
        return true;
    }

    public void Clear()
    {
        for (var row = 0; row < slotOfRow.Length; row++)
        {
            if (slotOfRow[row] is not null) store.Release(row);
        }
        rowOfSlot.Clear();
        slots.Clear();
        Array.Clear(members);
        Array.Clear(slotOfRow);
        sharedRows = null;
    }

    /// <summary>Each expert's threshold offset (the hubness correction), or null for none; computed now for every member.</summary>
    public void SetOffsets(Func<Expert, float>? offset)
    {
        offsetOf = offset;
        if (offset is null)
        {
            offsets = null;
            lowestOffset = 0;
            return;
        }
        offsets = new float[slotOfRow.Length];
        lowestOffset = 0;
        var first = true;
        foreach (var row in rowOfSlot.Values)
        {
            offsets[row] = offset(store.ExpertAt(row));
            lowestOffset = first ? offsets[row] : Math.Min(lowestOffset, offsets[row]);
            first = false;
        }
    }

    /// <summary>The threshold offset of row <paramref name="row"/> (0 without offsets).</summary>
    public float Offset(int row) => offsets?[row] ?? 0f;

    /// <summary>
    /// Hard filter: the members with sim(q, φ̂_e) &gt; <paramref name="threshold"/> + their offset, in fusion order, with
    /// their rows and scores: exactly what scoring every member gives (<paramref name="useBound"/> false does that).
    /// </summary>
    public List<(ExpertSlot Slot, int Row, float Similarity)> Passing(ReadOnlySpan<float> query, float threshold, bool useBound)
    {
        var rows = new List<(int Row, float Similarity)>();
        LastBounded = useBound && store.PrepareBound();
        LastScored = store.Passing(query, threshold, members, offsets, lowestOffset, LastBounded, rows);
        return InFusionOrder(rows);
    }

    /// <summary>Every member with its score, in fusion order (the ablation without the hard filter).</summary>
    public List<(ExpertSlot Slot, int Row, float Similarity)> Scores(ReadOnlySpan<float> query)
    {
        var result = new List<(ExpertSlot, int, float)>(Count);
        foreach (var (slot, row) in rowOfSlot) result.Add((slot, row, store.Similarity(query, row)));
        return result;
    }

    private List<(ExpertSlot Slot, int Row, float Similarity)> InFusionOrder(List<(int Row, float Similarity)> rows)
    {
        var result = new List<(ExpertSlot Slot, int Row, float Similarity)>(rows.Count);
        foreach (var (row, s) in rows)
        {
            result.Add((slotOfRow[row]!, row, s));
            if (sharedRows is not null && sharedRows.TryGetValue(row, out var more)) foreach (var slot in more) result.Add((slot, row, s));
        }
        result.Sort((a, b) => a.Slot.CompareTo(b.Slot));
        return result;
    }

    private void Grow(int row)
    {
        if (row < slotOfRow.Length) return;
        var size = Math.Max(64, slotOfRow.Length);
        while (size <= row) size *= 2;
        Array.Resize(ref slotOfRow, size);
        Array.Resize(ref members, size / 8);
        if (offsets is not null) Array.Resize(ref offsets, size);
    }
}
