namespace LiveEdit.Research.World;

/// <summary>
/// Which entities of an edit split a stream of edit cases draws from: all of them, or one of two disjoint halves
/// that keep every family whole (siblings look alike and serve as each other's locality inputs, so a family split
/// across the halves would let one half's edits probe the other's look). Routing settings are chosen on
/// <see cref="Calibration"/> and reported on <see cref="Test"/>.
/// </summary>
public enum EntitySubset
{
    /// <summary>Every entity of the split (the streams of every figure measured before the halves existed).</summary>
    All,
    /// <summary>Families whose index halved is even (families 1, 5, 9, … of the evaluation split).</summary>
    Calibration,
    /// <summary>Families whose index halved is odd (families 3, 7, 11, … of the evaluation split).</summary>
    Test,
}

/// <summary>Membership of an entity in an <see cref="EntitySubset"/>.</summary>
public static class EntitySubsets
{
    /// <summary>
    /// Whether <paramref name="entity"/> belongs to <paramref name="subset"/>. The editor splits alternate by family
    /// (even families train the editor, odd ones evaluate it), so the halves take every other family of a split.
    /// </summary>
    public static bool Contains(this EntitySubset subset, Entity entity) => subset switch
    {
        EntitySubset.All => true,
        EntitySubset.Calibration => entity.Family / 2 % 2 == 0,
        EntitySubset.Test => entity.Family / 2 % 2 == 1,
        _ => throw new ArgumentOutOfRangeException(nameof(subset), subset, "unknown entity subset"),
    };
}
