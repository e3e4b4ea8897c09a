namespace LiveEdit.Model.Editor;

/// <summary>
/// What routing one batch of queries cost (<see cref="EditedModel.LastRouting"/>), summed over its image rows: the
/// input-side keys and thresholds, the hard filter (with the band), the text scores and soft weights of the survivors,
/// and building the survivors' fusion operands; and, once the batch is answered, the fusion itself.
/// </summary>
/// <param name="ImageRows">Rows with an image (the others are not routed).</param>
/// <param name="ActiveExperts">Experts active in the model.</param>
/// <param name="Survivors">Experts kept, all rows together.</param>
/// <param name="Scored">Experts whose exact score was computed, all rows together (the bound skipped the rest).</param>
/// <param name="FilterMs">The hard filter.</param>
/// <param name="WeightsMs">Text scores and soft weights of the survivors.</param>
/// <param name="GatherMs">Building the fusion's operands from the survivors: their U copied, their V scaled by their weights (grows with the survivors).</param>
public sealed record RoutingCost(int ImageRows, int ActiveExperts, int Survivors, int Scored, double FilterMs, double WeightsMs, double GatherMs)
{
    /// <summary>The input-side keys φ̄, φ̄_Ξ, ψ̄ and the thresholds (the same at any number of experts).</summary>
    public double KeysMs { get; init; }
    /// <summary>Adding the fused residuals at layer l_e, every call of the answer together (prefill and steps; 0 until answered).</summary>
    public double FusionMs { get; init; }
    /// <summary>Calls at layer l_e that added a residual (the prefill and each step with a KV cache).</summary>
    public int FusionCalls { get; init; }
}
