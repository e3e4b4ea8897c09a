namespace LiveEdit.Ledger.Queries;

/// <summary>An edit whose expert took part in an answer, with its routing weight.</summary>
public sealed record FiredExpert(Guid EditId, double Weight);

/// <summary>
/// One answered query as the host recorded it: when, by whom, at which ledger version, the SHA-256 of the image bytes
/// (null for a text-only question) and of the prompt's UTF-8 bytes, the answer, and the experts that fired.
/// </summary>
public sealed record QueryRecord(long Id, DateTimeOffset At, string User, long Version, string? ImageSha256, string PromptSha256, string Answer,
    IReadOnlyList<FiredExpert> Experts);

/// <summary>
/// Which query records to return, newest first: answered in [<paramref name="From"/>, <paramref name="To"/>), in which
/// <paramref name="EditId"/>'s expert fired, about the image with <paramref name="ImageSha256"/>, asked by
/// <paramref name="User"/>; at most <paramref name="Take"/> (1 to <see cref="QueryRecordLimits.MaxTake"/>).
/// </summary>
public sealed record QueryRecordFilter(DateTimeOffset? From = null, DateTimeOffset? To = null, Guid? EditId = null, string? ImageSha256 = null,
    string? User = null, int Take = 100);

/// <summary>How often and how strongly one edit's expert fired in the recorded queries (zeros and nulls when never).</summary>
public sealed record ExpertFiring(Guid EditId, long Queries, double MeanWeight, double MaxWeight, DateTimeOffset? First, DateTimeOffset? Last);

/// <summary>Reads the per-query records (written by the host, off the request path).</summary>
public interface IQueryRecords
{
    /// <summary>The records that match <paramref name="filter"/>, newest first.</summary>
    /// <exception cref="Errors.InvalidEditInputException">A filter field is out of range (named in the exception).</exception>
    Task<IReadOnlyList<QueryRecord>> FindAsync(QueryRecordFilter filter, CancellationToken ct = default);

    /// <summary>How often and how strongly <paramref name="editId"/>'s expert fired in the records kept.</summary>
    Task<ExpertFiring> FiringAsync(Guid editId, CancellationToken ct = default);
}

/// <summary>A query record before it is stored (the store assigns <see cref="QueryRecord.Id"/>).</summary>
public sealed record NewQueryRecord(DateTimeOffset At, string User, long Version, string? ImageSha256, string PromptSha256, string Answer,
    IReadOnlyList<FiredExpert> Experts);

/// <summary>Bounds on query records and their filters.</summary>
public static class QueryRecordLimits
{
    /// <summary>Most records one <see cref="IQueryRecords.FindAsync"/> returns.</summary>
    public const int MaxTake = 1_000;

    /// <summary>Longest user name in a filter (the ledger's actor limit).</summary>
    public const int MaxUserLength = Edits.EditLimits.MaxActorLength;
}
