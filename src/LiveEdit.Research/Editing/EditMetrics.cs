namespace LiveEdit.Research.Editing;

/// <summary>
/// Paper metrics over a set of edits that are all active (percentages): Rel, T-Gen, M-Gen = teacher-forced token
/// accuracy on the new target (its tokens and the end-of-answer token); T-Loc, M-Loc = agreement with the pre-edit
/// model's token predictions; exact match of greedy answers; the hard filter's precision (survivors that belong to
/// the query's entity) and recall (generality queries whose own expert survived).
/// <see cref="MLocExcluded"/> counts image-locality questions left out of M-Loc because an active edit changes the
/// very fact they ask (their right answer is then the edit's, not the pre-edit model's).
/// <see cref="WrongSurvivorsLookAlike"/>: of the survivors that belong to another entity than an edit, paraphrase or
/// other-rendering query's, the share from a look-alike of that entity (same <see cref="EditSample.LookAlikes"/> group;
/// NaN when groups are unknown).
/// </summary>
public sealed record EditMetrics(
    string Protocol, int Edits, int ActiveExperts, int Cases,
    double Rel, double TGen, double MGen, double TLoc, double MLoc,
    double RelExact, double TGenExact, double MGenExact,
    double FilterPrecision, double FilterRecall, double MeanSurvivors, int MLocExcluded = 0, double WrongSurvivorsLookAlike = double.NaN)
{
    /// <summary>Filter recall by query kind (edit input, paraphrase, other rendering): where the misses are.</summary>
    public double RecallRel { get; init; } = double.NaN;
    /// <inheritdoc cref="RecallRel"/>
    public double RecallTGen { get; init; } = double.NaN;
    /// <inheritdoc cref="RecallRel"/>
    public double RecallMGen { get; init; } = double.NaN;
    /// <summary>Rel over the edit inputs whose own expert survived the filter: what the generator achieves when it fires.</summary>
    public double RelWhenFired { get; init; } = double.NaN;
    /// <summary>M-Gen over the other-rendering inputs whose own expert survived.</summary>
    public double MGenWhenFired { get; init; } = double.NaN;
    /// <summary>
    /// Where M-Loc's loss comes from (percentage points of 100 − M-Loc over the measured image-locality inputs): inputs
    /// whose survivors are all experts of the input's own entity (edits of its other facts: the visual filter is right
    /// to keep them, only soft routing can hold them back).
    /// </summary>
    public double MLocLostSameEntity { get; init; } = double.NaN;
    /// <summary>Likewise, inputs with at least one survivor of another entity (the visual filter let a wrong one through).</summary>
    public double MLocLostOtherEntity { get; init; } = double.NaN;
    /// <summary>Share of the measured image-locality inputs with at least one survivor of another entity, %.</summary>
    public double MLocWithOtherEntity { get; init; } = double.NaN;
    /// <summary>
    /// Of <see cref="MLocLostOtherEntity"/>, the points lost on inputs where another entity's survivor edits the very
    /// attribute the input asks (soft routing cannot tell such an expert from the input's own).
    /// </summary>
    public double MLocLostOtherSameFact { get; init; } = double.NaN;
    /// <summary>
    /// Of <see cref="MLocLostOtherSameFact"/>, by how many visible look attributes the closest such expert's entity
    /// differs from the input's (index 0…5; points of M-Loc); null without <see cref="EditorEvaluation.LookDistance"/>.
    /// </summary>
    public double[]? MLocLostByLookDistance { get; init; }
    /// <summary>
    /// Of the distance-1 part of <see cref="MLocLostByLookDistance"/>, which attribute told the two looks apart (shape,
    /// body colour, markings colour, pattern, eyes; points of M-Loc).
    /// </summary>
    public double[]? MLocLostNearMissAttribute { get; init; }
    /// <summary>
    /// Of <see cref="MLocLostOtherSameFact"/>, the points on inputs whose entity the editor was trained on (the
    /// editor-training split); NaN without <see cref="EditorEvaluation.TrainedEntity"/>.
    /// </summary>
    public double MLocLostOnTrainedEntities { get; init; } = double.NaN;
}
