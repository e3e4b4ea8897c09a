namespace LiveEdit.Hosting.Serving;

/// <summary>An answer and how it was made: the model version, and the experts that fired with their weights.</summary>
public sealed record QueryResult(string Answer, long Version, IReadOnlyList<FiredEdit> Experts);

/// <summary>An edit whose expert passed the hard filter for the query, with its routing weight.</summary>
public sealed record FiredEdit(Guid EditId, float Weight, float VisualSimilarity, float Threshold, float TextScore);
