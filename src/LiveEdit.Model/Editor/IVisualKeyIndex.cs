namespace LiveEdit.Model.Editor;

/// <summary>
/// The active experts' visual keys φ̂_e, indexed by their place in the fusion order, for the hard filter
/// sim(φ̄, φ̂_e) &gt; sim(φ̄, φ̄_Ξ) (docs/method.md). Any implementation must return exactly the survivors and scores of
/// scoring every expert with <see cref="KeySimilarity.Exact"/> (<see cref="VisualFilterIndex"/> is the exact scan,
/// with a bound that skips experts that cannot pass).
/// </summary>
public interface IVisualKeyIndex
{
    /// <summary>Number of experts.</summary>
    int Count { get; }
    /// <summary>k·d_m, the length of a flattened key.</summary>
    int Dim { get; }
    /// <summary>sim(q, φ̂_e) for every expert, in index order.</summary>
    float[] Similarities(ReadOnlySpan<float> query);
    /// <summary>The amount added to expert <paramref name="expert"/>'s threshold (the hubness correction; 0 without it).</summary>
    float Offset(int expert);
    /// <summary>
    /// The experts with sim(q, φ̂_e) &gt; <paramref name="threshold"/> + <see cref="Offset"/>(e), ascending, with their
    /// scores. <paramref name="useBound"/> false scores every expert (the same result, for tests).
    /// </summary>
    List<(int Expert, float Similarity)> Passing(ReadOnlySpan<float> query, float threshold, bool useBound = true);
}
