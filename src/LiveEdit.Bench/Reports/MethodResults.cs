using LiveEdit.Research.Editing;

namespace LiveEdit.Bench.Reports;

/// <summary>One method's lifelong metrics rows (one per checkpoint, ordered by edits), read from a results file.</summary>
/// <param name="Name">The method's name in the report (the <c>name=</c> of <c>--inputs</c>).</param>
/// <param name="Source">The file the rows came from.</param>
public sealed record MethodResults(string Name, string Source, IReadOnlyList<EditMetrics> Rows);
