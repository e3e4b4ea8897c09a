using LiveEdit.Model.Editor;

namespace LiveEdit.Research.Editing;

/// <summary>
/// What one measured case scored, query by query, so that a metrics row can be checked case by case: its mean
/// <see cref="QueryAudit.Score"/> per kind, times 100, is the row's Rel, T-Gen, M-Gen, T-Loc and M-Loc.
/// </summary>
/// <param name="Case">The case's index in the evaluation's samples.</param>
/// <param name="Queries">Rel, T-Gen, M-Gen, M-Loc and T-Loc, in that order.</param>
public sealed record CaseAudit(int Case, IReadOnlyList<QueryAudit> Queries);

/// <summary>One query of a case.</summary>
/// <param name="Kind">rel, tgen, mgen, mloc or tloc.</param>
/// <param name="Score">Teacher-forced token accuracy in [0, 1] (for the localities, agreement with the pre-edit model); null where the metric leaves the case out.</param>
/// <param name="Answer">The greedy answer (rel, tgen and mgen, when exact match is measured), else null.</param>
/// <param name="Fired">The experts that fired on the query's image, with their routing weights (none for a text-only query).</param>
public sealed record QueryAudit(string Kind, string Prompt, string Expected, double? Score, string? Answer, IReadOnlyList<FiredExpert> Fired);
