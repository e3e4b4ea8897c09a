using LiveEdit.Model.Vlm;

namespace LiveEdit.Research.Editing;

/// <summary>
/// The per-case arithmetic of the paper's metrics, shared by LiveEdit's and the baselines' evaluations: each case is
/// scored on its five queries (<see cref="Queries"/>) — Rel, T-Gen, M-Gen as teacher-forced token accuracy on the new
/// target, M-Loc and T-Loc as agreement with the pre-edit predictions — and, when asked, on the greedy answers to its
/// first three. Image-locality questions asking a fact an active edit changed are left out of M-Loc.
/// </summary>
internal sealed class PaperMetricTally(IReadOnlyList<EditSample> cases, PreEditLocality pre, IReadOnlySet<(int, string)> editedFacts)
{
    private double rel, tgen, mgen, tloc, mloc, relEm, tgenEm, mgenEm;
    private int mlocExcluded, measured;

    /// <summary>A case's queries in the order every forward uses: edit, paraphrase, other image, image locality, text locality.</summary>
    public static EditQuery[] Queries(EditSample s) => [s.Edit, s.TextGenerality, s.ImageGenerality, s.ImageLocality, s.TextLocality];

    /// <summary>The queries whose greedy answers exact match compares: edit, paraphrase, other image.</summary>
    public static EditQuery[] GreedyQueries(EditSample s) => [s.Edit, s.TextGenerality, s.ImageGenerality];

    /// <summary>Teacher-forced accuracy on the new target of the query at <paramref name="row"/> of a forward.</summary>
    public static double TargetAccuracy(long[][] predicted, VlmInputs inputs, int row) =>
        EditorEvaluation.Accuracy(predicted[row], EditorEvaluation.Targets(inputs, row));

    /// <summary>Scores case <paramref name="i"/>, whose five queries sit at rows <paramref name="first"/>…+4 of the forward.</summary>
    public void Add(int i, long[][] predicted, VlmInputs inputs, int first)
    {
        measured++;
        rel += TargetAccuracy(predicted, inputs, first);
        tgen += TargetAccuracy(predicted, inputs, first + 1);
        mgen += TargetAccuracy(predicted, inputs, first + 2);
        if (ImageLocalityAgreement(i, predicted, first) is { } agreement) mloc += agreement;
        else mlocExcluded++;
        tloc += EditorEvaluation.Accuracy(predicted[first + 4], pre.Text(i));
    }

    /// <summary>
    /// M-Loc's agreement with the pre-edit model on case <paramref name="i"/>'s image-locality row (at
    /// <paramref name="first"/> + 3), or null when an active edit changes the very fact it asks (left out of M-Loc).
    /// </summary>
    public double? ImageLocalityAgreement(int i, long[][] predicted, int first) =>
        cases[i].ImageLocality is { EntityId: { } entity, Fact: { } fact } && editedFacts.Contains((entity, fact))
            ? null
            : EditorEvaluation.Accuracy(predicted[first + 3], pre.Image(i));

    /// <summary>Scores the greedy answers to case <paramref name="i"/>'s <see cref="GreedyQueries"/>.</summary>
    public void AddAnswers(int i, string edit, string paraphrase, string otherImage)
    {
        var s = cases[i];
        relEm += EditorEvaluation.Same(edit, s.Edit.Answer);
        tgenEm += EditorEvaluation.Same(paraphrase, s.TextGenerality.Answer);
        mgenEm += EditorEvaluation.Same(otherImage, s.ImageGenerality.Answer);
    }

    /// <summary>The metrics row (percentages); the filter columns come from the caller (NaN for editors without one).</summary>
    public EditMetrics Metrics(string protocol, int edits, int active, bool exactMatch,
        double filterPrecision = double.NaN, double filterRecall = double.NaN, double meanSurvivors = double.NaN, double wrongLookAlike = double.NaN)
    {
        var n = Math.Max(1, measured);
        double Pct(double x) => 100.0 * x / n;
        var mlocCases = measured - mlocExcluded;
        return new EditMetrics(protocol, edits, active, measured, Pct(rel), Pct(tgen), Pct(mgen), Pct(tloc),
            mlocCases == 0 ? double.NaN : 100.0 * mloc / mlocCases,
            exactMatch ? Pct(relEm) : double.NaN, exactMatch ? Pct(tgenEm) : double.NaN, exactMatch ? Pct(mgenEm) : double.NaN,
            filterPrecision, filterRecall, meanSurvivors, mlocExcluded, wrongLookAlike);
    }
}
