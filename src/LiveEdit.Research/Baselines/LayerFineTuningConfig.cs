namespace LiveEdit.Research.Baselines;

/// <summary>FT-L settings: a fresh Adam per edit, a few steps on the edit's target cross-entropy.
/// Defaults: chosen on the editor-training split (disjoint from evaluation) as the smallest setting with which a single
/// edit sticks (chunks T=1: Rel ≥ 98 % over 50 edits).
/// </summary>
/// <param name="Steps">Adam steps per edit (at most).</param>
/// <param name="LearningRate">Adam learning rate for block l_e's MLP weights.</param>
/// <param name="StopLoss">An edit stops early once its target cross-entropy is below this (it already comes out).</param>
public sealed record LayerFineTuningConfig(int Steps = 30, double LearningRate = 1e-3, double StopLoss = 0.05);
