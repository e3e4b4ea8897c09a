using LiveEdit.Model.Editor;

namespace LiveEdit.Research.Editing;

/// <summary>
/// Diagnostics of M-Loc's loss: for each measured image-locality input, which survivors of the hard filter caused
/// the points it lost (the input's own entity's experts, another entity's, another entity's expert of the very
/// attribute asked) and, with SynthWorld's looks, how far that entity's look is from the input's and whether the
/// editor was trained on the input's entity. Accumulates over one <see cref="EditorEvaluation.Measure"/> call.
/// </summary>
internal sealed class LocalityLossAttribution(
    IReadOnlyDictionary<string, int?> entityOf,
    IReadOnlyDictionary<string, string?> factOf,
    Func<int, int, bool[]>? lookDistance,
    Func<int, bool>? trainedEntity)
{
    private long rows, rowsOther;
    private double lostSame, lostOther, lostOtherSameFact, lostTrained;
    private readonly double[] lostByDistance = new double[6];
    private readonly double[] lostNearMiss = new double[5];

    /// <summary>One measured image-locality input of <paramref name="entity"/> asking <paramref name="asked"/>.</summary>
    /// <param name="agreement">Its agreement with the pre-edit model (1 − the share lost).</param>
    public void Add(IReadOnlyList<FiredExpert> fired, int? entity, string? asked, double agreement)
    {
        rows++;
        var lost = 1 - agreement;
        var other = fired.Any(f => !OfEntity(f, entity));
        if (other)
        {
            rowsOther++;
            lostOther += lost;
            var sameFact = fired.Where(f => !OfEntity(f, entity) && factOf.TryGetValue(f.Id, out var a) && a is not null && a == asked).ToList();
            if (sameFact.Count > 0)
            {
                lostOtherSameFact += lost;
                if (entity is { } query && trainedEntity is { } trained && trained(query)) lostTrained += lost;
                if (entity is { } q && lookDistance is { } distance)
                {
                    var closest = sameFact.Select(f => entityOf[f.Id] is { } x ? distance(q, x) : [true, true, true, true, true])
                        .MinBy(d => d.Count(x => x))!;
                    lostByDistance[closest.Count(x => x)] += lost;
                    if (closest.Count(x => x) == 1) lostNearMiss[Array.IndexOf(closest, true)] += lost;
                }
            }
        }
        else if (fired.Count > 0) lostSame += lost;
    }

    /// <summary><paramref name="metrics"/> with the attribution filled in (points of M-Loc over the inputs added).</summary>
    public EditMetrics AppliedTo(EditMetrics metrics) => metrics with
    {
        MLocLostSameEntity = rows == 0 ? double.NaN : 100.0 * lostSame / rows,
        MLocLostOtherEntity = rows == 0 ? double.NaN : 100.0 * lostOther / rows,
        MLocWithOtherEntity = rows == 0 ? double.NaN : 100.0 * rowsOther / rows,
        MLocLostOtherSameFact = rows == 0 ? double.NaN : 100.0 * lostOtherSameFact / rows,
        MLocLostByLookDistance = lookDistance is null || rows == 0 ? null : lostByDistance.Select(x => 100.0 * x / rows).ToArray(),
        MLocLostNearMissAttribute = lookDistance is null || rows == 0 ? null : lostNearMiss.Select(x => 100.0 * x / rows).ToArray(),
        MLocLostOnTrainedEntities = trainedEntity is null || rows == 0 ? double.NaN : 100.0 * lostTrained / rows,
    };

    private bool OfEntity(FiredExpert f, int? entity) => entityOf.TryGetValue(f.Id, out var e) && e == entity;
}
