namespace LiveEdit.Model.Editor;

/// <summary>
/// What routing one batch of queries cost (<see cref="EditedModel.LastRouting"/>), summed over its image rows: the hard
/// filter (with the band), the text scores and soft weights of the survivors, and copying the survivors' U, V and ψ̂
/// for fusion. The input-side keys and the fusion itself are not in it.
/// </summary>
/// <param name="ImageRows">Rows with an image (the others are not routed).</param>
/// <param name="ActiveExperts">Experts active in the model.</param>
/// <param name="Survivors">Experts kept, all rows together.</param>
/// <param name="Scored">Experts whose exact score was computed, all rows together (the bound skipped the rest).</param>
/// <param name="FilterMs">The hard filter.</param>
/// <param name="WeightsMs">Text scores and soft weights of the survivors.</param>
/// <param name="GatherMs">Copying the survivors' U, V, ψ̂ into the fusion's operands (grows with the survivors).</param>
public sealed record RoutingCost(int ImageRows, int ActiveExperts, int Survivors, int Scored, double FilterMs, double WeightsMs, double GatherMs);
