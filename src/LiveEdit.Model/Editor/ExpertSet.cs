using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace LiveEdit.Model.Editor;

/// <summary>
/// The active experts of an <see cref="EditedModel"/>, keyed by id, in fusion order (their order, then id), and their
/// stacked form for a query: U, V and ψ̂ as tensors, φ̂ in an <see cref="IVisualKeyIndex"/>. Adding or removing an
/// expert only marks the stack stale; it is rebuilt on the next query. Not thread-safe.
/// </summary>
internal sealed class ExpertSet(int hiddenSize, int rank, int keyRows, int moduleDim) : IDisposable
{
    private readonly SortedDictionary<ExpertSlot, Expert> experts = new();
    private readonly Dictionary<string, ExpertSlot> slots = new(StringComparer.Ordinal);
    private StackedExperts? stack;
    private VisualKeyBasis? basis;
    // Each active expert's bound terms in `basis` (experts are immutable): a rebuild computes only the new ones.
    private Dictionary<Expert, KeyTerms> terms = new(ReferenceEqualityComparer.Instance);

    /// <summary>Active experts.</summary>
    public int Count => experts.Count;
    /// <summary>The active experts in fusion order.</summary>
    public IReadOnlyList<ExpertSlot> Slots => experts.Keys.ToList();
    /// <summary>The stack of the last query, or null when stale.</summary>
    public StackedExperts? Current => stack;

    public bool Contains(string id) => slots.ContainsKey(id);

    public void Add(ExpertSlot slot, Expert expert)
    {
        experts.Add(slot, expert);
        slots.Add(slot.Id, slot);
        Invalidate();
    }

    public bool Remove(string id)
    {
        if (!slots.Remove(id, out var slot)) return false;
        experts.Remove(slot);
        Invalidate();
        return true;
    }

    public void Clear()
    {
        experts.Clear();
        slots.Clear();
        Invalidate();
    }

    /// <summary>
    /// The stack, built when stale. <paramref name="bounded"/>: give the visual-key index its bound (worth it from
    /// <see cref="VisualFilterIndex.MinExpertsForBound"/> experts); <paramref name="offsets"/>: each expert's threshold
    /// offset, in fusion order (null: none).
    /// </summary>
    public StackedExperts Stacked(bool bounded, Func<IReadOnlyList<Expert>, float[]?> offsets)
    {
        if (stack is not null) return stack;
        var list = experts.ToList();
        int e = list.Count, rd = rank * hiddenSize, km = keyRows * moduleDim;
        // U, V and ψ̂ go straight into tensor storage (tensor(float[]) copies element by element); φ̂ stays managed.
        Tensor uStack = empty(e, rank, hiddenSize), vStack = empty(e, rank, hiddenSize), tkStack = empty(e, keyRows, moduleDim);
        Span<float> u = MemoryMarshal.Cast<byte, float>(uStack.bytes), v = MemoryMarshal.Cast<byte, float>(vStack.bytes),
            tk = MemoryMarshal.Cast<byte, float>(tkStack.bytes);
        var vk = new float[e * km];
        for (var i = 0; i < e; i++)
        {
            var x = list[i].Value;
            x.U.CopyTo(u[(i * rd)..]);
            x.V.CopyTo(v[(i * rd)..]);
            x.VisualKey.CopyTo(vk.AsSpan(i * km));
            x.TextKey.CopyTo(tk[(i * km)..]);
        }
        // The bound pays off only with many experts; its basis is refitted when the set has doubled since the last fit
        // (any orthonormal basis gives the same survivors, a stale one only prunes less).
        bounded &= e >= VisualFilterIndex.MinExpertsForBound;
        KeyTerms? stackedTerms = null;
        if (bounded)
        {
            if (basis is null || basis.Dim != km || e >= 2 * basis.FittedOn)
            {
                basis = VisualKeyBasis.Fit(vk, e, km);
                terms.Clear();
            }
            var missing = Enumerable.Range(0, e).Where(i => !terms.ContainsKey(list[i].Value)).ToList();
            var keys = new float[missing.Count * km];
            for (var j = 0; j < missing.Count; j++) list[missing[j]].Value.VisualKey.CopyTo(keys.AsSpan(j * km));
            var computed = missing.Count > 0 ? basis.Terms(keys, missing.Count) : null;
            var current = new Dictionary<Expert, KeyTerms>(ReferenceEqualityComparer.Instance);
            for (var j = 0; j < missing.Count; j++) current[list[missing[j]].Value] = computed!.Row(j, basis.Rank);
            foreach (var (_, x) in list) if (!current.ContainsKey(x)) current[x] = terms[x];
            terms = current;
            stackedTerms = KeyTerms.Stack(list.Select(p => terms[p.Value]).ToList(), basis.Rank);
        }
        return stack = new StackedExperts(list.Select(p => p.Key).ToArray(),
            uStack.DetachFromDisposeScope(), vStack.DetachFromDisposeScope(),
            new VisualFilterIndex(vk, e, keyRows, moduleDim, bounded ? basis : null, stackedTerms, offsets(list.Select(p => p.Value).ToList())),
            tkStack.DetachFromDisposeScope());
    }

    /// <summary>Marks the stack stale (the set or the routing settings changed).</summary>
    public void Invalidate()
    {
        stack?.Dispose();
        stack = null;
    }

    public void Dispose()
    {
        Invalidate();
        terms.Clear();
    }
}

/// <summary>The active experts stacked for a query, in fusion order: U, V [E, r, d], ψ̂ [E, k, d_m], φ̂ in an index.</summary>
internal sealed record StackedExperts(ExpertSlot[] Slots, Tensor U, Tensor V, IVisualKeyIndex VisualKeys, Tensor TextKeys) : IDisposable
{
    public void Dispose()
    {
        U.Dispose();
        V.Dispose();
        TextKeys.Dispose();
    }
}
