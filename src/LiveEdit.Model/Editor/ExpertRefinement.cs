namespace LiveEdit.Model.Editor;

/// <summary>
/// An extension beyond the paper (off unless an editor's config names it): after the generators have produced an
/// expert's U and V, Adam refines them for at most <paramref name="Steps"/> steps on the cross-entropy of the edit's
/// own target, with the expert alone and at the routing weight it gets alone (σ(s) for its own prompt). The keys are
/// not touched, so the hard filter and soft routing decide exactly as for the generated expert. Still a pure
/// function of (base model, editor, edit): same steps, same bytes on the same build and thread count.
/// </summary>
/// <param name="Steps">Adam steps at most.</param>
/// <param name="LearningRate">Adam learning rate on U and V.</param>
/// <param name="StopLoss">Refinement stops once the target's mean cross-entropy is below this.</param>
public sealed record ExpertRefinement(int Steps, double LearningRate, double StopLoss)
{
    /// <summary>The settings of the committed editor (20 steps, lr 0.01, stop below 0.001); the command lines' defaults.</summary>
    public static ExpertRefinement Default { get; } = new(20, 0.01, 0.001);

    /// <summary>Checks the settings; throws with the bad field named.</summary>
    public ExpertRefinement Validate()
    {
        if (Steps < 1) throw new ArgumentException($"refinement steps must be at least 1, not {Steps}");
        if (!(LearningRate > 0) || double.IsInfinity(LearningRate)) throw new ArgumentException($"refinement learning rate must be a positive number, not {LearningRate}");
        if (!(StopLoss >= 0) || double.IsInfinity(StopLoss)) throw new ArgumentException($"refinement stop loss must be a non-negative number, not {StopLoss}");
        return this;
    }
}
