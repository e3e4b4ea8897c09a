namespace LiveEdit.Research.Editing;

/// <summary>Cost figures: expert generation per edit and single-query latency by number of active experts.</summary>
public sealed record EditorCost(double GenerationMsPerEdit, IReadOnlyList<QueryCost> QueryLatency)
{
    /// <summary>Where a query's time goes, per number of active experts (medians).</summary>
    public IReadOnlyList<LatencyBreakdown> Breakdown { get; init; } = [];
}

/// <summary>
/// Greedy answers to one image query at a time with <paramref name="Experts"/> active experts, each timed back to back
/// with the base model's answer to the same query (in alternating order), so that both see the same machine.
/// </summary>
/// <param name="MedianMs">Median latency with the experts.</param>
/// <param name="P95Ms">95th percentile with the experts.</param>
/// <param name="BaseMedianMs">Median latency of the base model on the same queries, timed alongside.</param>
/// <param name="Steps">Mean decoding steps (forwards) per answer with the experts: an edit may lengthen the answer.</param>
/// <param name="BaseSteps">Mean decoding steps per answer of the base model.</param>
public sealed record QueryCost(int Experts, double MedianMs, double P95Ms, double BaseMedianMs, double Steps, double BaseSteps)
{
    /// <summary>Median latency over the base model's median on the same queries.</summary>
    public double TimesBase => MedianMs / BaseMedianMs;
    /// <summary>The same ratio per decoding step (median / mean steps), apart from answers made longer by edits.</summary>
    public double TimesBasePerStep => MedianMs / Steps / (BaseMedianMs / BaseSteps);
}

/// <summary>
/// Medians for one image query with <paramref name="Experts"/> active: one teacher-forced forward with the experts
/// (<paramref name="ForwardMs"/>) and without (<paramref name="BaseForwardMs"/>), the routing alone — input-side keys,
/// hard filter over every expert, soft weights — (<paramref name="RoutingMs"/>) and the input-side keys alone
/// (<paramref name="KeysMs"/>), and the mean number of experts that survive the hard filter.
/// </summary>
public sealed record LatencyBreakdown(int Experts, double BaseForwardMs, double ForwardMs, double RoutingMs, double KeysMs, double MeanSurvivors)
{
    /// <summary>Median time of the hard filter alone (<see cref="LiveEdit.Model.Editor.RoutingCost.FilterMs"/>).</summary>
    public double FilterMs { get; init; }
    /// <summary>Median time of the survivors' text scores and soft weights.</summary>
    public double WeightsMs { get; init; }
    /// <summary>Median time of copying the survivors' U, V, ψ̂ into the fusion's operands.</summary>
    public double GatherMs { get; init; }
    /// <summary>Mean experts scored exactly by the filter per query (the bound skipped the rest).</summary>
    public double MeanScored { get; init; }
}
