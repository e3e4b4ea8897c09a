namespace LiveEdit.Research.Baselines;

/// <summary>GRACE-style codebook settings (Hartvigsen et al., 2023, adapted to a VLM's edit layer).
/// Defaults: chosen on the editor-training split (disjoint from evaluation) as the smallest setting with which a single
/// edit sticks (chunks T=1: Rel ≥ 98 % over 50 edits).
/// </summary>
/// <param name="Epsilon">ε_init, the deferral radius a new entry starts with: Euclidean distance between keys (the
/// last prompt token's hidden state at l_e). An input whose nearest key is farther than that key's radius is left to
/// the base model.</param>
/// <param name="Steps">Adam steps that optimise a new entry's value (at most).</param>
/// <param name="LearningRate">Adam learning rate for the value.</param>
/// <param name="StopLoss">A value's optimisation stops once the edit's target cross-entropy is below this.</param>
public sealed record GraceConfig(double Epsilon = 16.0, int Steps = 100, double LearningRate = 0.3, double StopLoss = 0.05);
