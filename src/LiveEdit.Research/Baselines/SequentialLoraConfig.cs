namespace LiveEdit.Research.Baselines;

/// <summary>Sequential LoRA settings: one low-rank residual at layer l_e shared by every edit of the stream.
/// Defaults: chosen on the editor-training split (disjoint from evaluation) as the smallest setting with which a single
/// edit sticks (chunks T=1: Rel ≥ 98 % over 50 edits).
/// </summary>
/// <param name="Rank">r of the residual h·A·B (A: [d, r], B: [r, d]); LiveEdit's experts have rank 4 too.</param>
/// <param name="Steps">Adam steps per edit (at most); a fresh Adam per edit, the LoRA weights carry over.</param>
/// <param name="LearningRate">Adam learning rate for A and B.</param>
/// <param name="Scale">Multiplier of the residual (LoRA's α / r).</param>
/// <param name="StopLoss">An edit stops early once its target cross-entropy is below this.</param>
/// <param name="Seed">Seed of A's initialisation (B starts at zero, so an unedited LoRA changes nothing).</param>
public sealed record SequentialLoraConfig(int Rank = 4, int Steps = 30, double LearningRate = 3e-3, double Scale = 1.0, double StopLoss = 0.05, long Seed = 0);
