namespace LiveEdit.Model.Editor;

/// <summary>An active expert's place in the fusion order.</summary>
public sealed record ExpertSlot(long Order, string Id) : IComparable<ExpertSlot>
{
    /// <inheritdoc/>
    public int CompareTo(ExpertSlot? other) => other is null ? 1
        : Order != other.Order ? Order.CompareTo(other.Order) : string.CompareOrdinal(Id, other.Id);
}

/// <summary>Switches for ablations; <see cref="Paper"/> is the method.</summary>
public sealed record RoutingOptions(bool HardFilter = true, bool SoftRouting = true)
{
    /// <summary>Hard filter and soft routing on.</summary>
    public static RoutingOptions Paper { get; } = new();
}

/// <summary>An expert that passed the hard filter for one input, with its routing weight and the scores behind it.</summary>
/// <param name="Weight">w_e = σ(s_e)·softmax(s)_e.</param>
/// <param name="VisualSimilarity">sim(φ̄, φ̂_e).</param>
/// <param name="Threshold">sim(φ̄, φ̄_Ξ) − the editor's filter margin (0 in the paper's method) + the expert's hubness offset (0 in the paper's method): the threshold it passed.</param>
/// <param name="TextScore">s_e = sim(ψ̄, ψ̂_e).</param>
public sealed record FiredExpert(string Id, long Order, float Weight, float VisualSimilarity, float Threshold, float TextScore);

/// <summary>One input's routing: no experts for text-only inputs; survivors in fusion order otherwise.</summary>
public sealed record RoutingDecision(bool HasImage, IReadOnlyList<FiredExpert> Fired);

/// <summary>A greedy answer and the experts that shaped it (the provenance the inference host returns).</summary>
public sealed record EditedAnswer(string Text, IReadOnlyList<FiredExpert> Experts);
