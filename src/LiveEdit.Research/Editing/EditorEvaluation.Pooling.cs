namespace LiveEdit.Research.Editing;

/// <summary>Pooling rows over chunks of one stream or over independent streams.</summary>
public sealed partial class EditorEvaluation
{
    /// <summary>
    /// Pools the same protocols run on several independent streams (one list of rows per stream, rows in the same
    /// order): the paper's metrics weighted by each stream's measured cases (M-Loc by its measured locality inputs),
    /// so that a figure does not rest on one stream's few hundred cases.
    /// </summary>
    public static IReadOnlyList<EditMetrics> Pool(IReadOnlyList<IReadOnlyList<EditMetrics>> streams)
    {
        if (streams.Count == 0) throw new ArgumentException("nothing to pool");
        var rows = streams[0].Count;
        if (streams.Any(s => s.Count != rows)) throw new ArgumentException("every stream must have the same rows");
        var result = new List<EditMetrics>(rows);
        for (var r = 0; r < rows; r++)
        {
            var parts = streams.Select(s => s[r]).ToList();
            if (parts.Any(p => p.Protocol != parts[0].Protocol || p.Edits != parts[0].Edits))
                throw new ArgumentException($"row {r} differs between streams ({parts[0].Protocol} vs {parts.First(p => p.Protocol != parts[0].Protocol || p.Edits != parts[0].Edits).Protocol})");
            result.Add(streams.Count == 1 ? parts[0] : Merge(parts[0].Protocol, parts[0].Edits, parts));
        }
        return result;
    }

    internal static EditMetrics Merge(string protocol, int edits, IReadOnlyList<EditMetrics> parts)
    {
        var n = parts.Sum(p => p.Cases);
        double MLoc()
        {
            var measured = parts.Where(p => !double.IsNaN(p.MLoc)).ToList();
            var count = measured.Sum(p => p.Cases - p.MLocExcluded);
            return count == 0 ? double.NaN : measured.Sum(p => p.MLoc * (p.Cases - p.MLocExcluded)) / count;
        }
        double W(Func<EditMetrics, double> f)
        {
            var measured = parts.Where(p => !double.IsNaN(f(p))).ToList();
            return measured.Count == 0 ? double.NaN : measured.Sum(p => f(p) * p.Cases) / Math.Max(1, measured.Sum(p => p.Cases));
        }
        return new EditMetrics(protocol, edits, (int)Math.Round(parts.Average(p => p.ActiveExperts)), n, W(p => p.Rel), W(p => p.TGen), W(p => p.MGen), W(p => p.TLoc), MLoc(),
            W(p => p.RelExact), W(p => p.TGenExact), W(p => p.MGenExact), W(p => p.FilterPrecision), W(p => p.FilterRecall), W(p => p.MeanSurvivors),
            parts.Sum(p => p.MLocExcluded), W(p => p.WrongSurvivorsLookAlike))
        {
            RecallRel = W(p => p.RecallRel),
            RecallTGen = W(p => p.RecallTGen),
            RecallMGen = W(p => p.RecallMGen),
            RelWhenFired = W(p => p.RelWhenFired),
            MGenWhenFired = W(p => p.MGenWhenFired),
            MLocLostSameEntity = LocalityWeighted(p => p.MLocLostSameEntity),
            MLocLostOtherEntity = LocalityWeighted(p => p.MLocLostOtherEntity),
            MLocWithOtherEntity = LocalityWeighted(p => p.MLocWithOtherEntity),
            MLocLostOtherSameFact = LocalityWeighted(p => p.MLocLostOtherSameFact),
            MLocLostOnTrainedEntities = LocalityWeighted(p => p.MLocLostOnTrainedEntities),
            MLocLostByLookDistance = parts.All(p => p.MLocLostByLookDistance is not null)
                ? Enumerable.Range(0, 6).Select(d => LocalityWeighted(p => p.MLocLostByLookDistance![d])).ToArray()
                : null,
            MLocLostNearMissAttribute = parts.All(p => p.MLocLostNearMissAttribute is not null)
                ? Enumerable.Range(0, 5).Select(d => LocalityWeighted(p => p.MLocLostNearMissAttribute![d])).ToArray()
                : null,
        };

        // Weighted like M-Loc, by the measured image-locality inputs of each part.
        double LocalityWeighted(Func<EditMetrics, double> f)
        {
            var measured = parts.Where(p => !double.IsNaN(f(p))).ToList();
            var count = measured.Sum(p => p.Cases - p.MLocExcluded);
            return count == 0 ? double.NaN : measured.Sum(p => f(p) * (p.Cases - p.MLocExcluded)) / count;
        }
    }
}
