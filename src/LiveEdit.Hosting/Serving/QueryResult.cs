namespace LiveEdit.Hosting.Serving;

/// <summary>
/// An answer and how it was made: the model version, the experts that fired with their weights, and the active experts
/// left out because their blob is missing or corrupt (an incident: the answer is not the recorded model's).
/// </summary>
public sealed record QueryResult(string Answer, long Version, IReadOnlyList<ExpertInAnswer> Experts, IReadOnlyList<SkippedExpert> Skipped)
{
    /// <summary>One line per skipped expert.</summary>
    public IReadOnlyList<string> Warnings => Skipped.Select(s => s.Warning).ToArray();

    /// <summary>SHA-256 of the routing policy the answer was routed with (docs/routing-policy.md).</summary>
    public string RoutingPolicySha256 { get; init; } = "";
}

/// <summary>
/// An edit whose expert took part in an answer (it passed the hard filter for the query), with its routing weight. The
/// model's own <see cref="LiveEdit.Model.Editor.FiredExpert"/> names a slot of the expert set; this names the edit.
/// </summary>
public sealed record ExpertInAnswer(Guid EditId, float Weight, float VisualSimilarity, float Threshold, float TextScore);
