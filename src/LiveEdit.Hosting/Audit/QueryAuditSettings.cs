namespace LiveEdit.Hosting.Audit;

/// <summary>Configuration section <c>Audit</c>: the per-query records' queue and retention.</summary>
public sealed class QueryAuditSettings
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Audit";

    /// <summary>Keep query records this many days, then remove them (the retention job). Null or 0: keep them for ever.</summary>
    public int? QueryRetentionDays { get; set; }

    /// <summary>How often the retention job runs, in minutes.</summary>
    public double QueryRetentionIntervalMinutes { get; set; } = 60;

    /// <summary>Records the writer's queue holds; a record that finds it full is dropped and counted, never waited for.</summary>
    public int QueryRecordQueue { get; set; } = 10_000;

    /// <summary>Most records written in one statement.</summary>
    public int QueryRecordBatch { get; set; } = 500;

    /// <summary>Attempts at writing a batch before its records are counted as lost.</summary>
    public int QueryRecordAttempts { get; set; } = 4;

    /// <summary>Public key (SPKI PEM file) the audit export checks the signed checkpoints in <c>Checkpoints:Folder</c> with; without it their signatures are not checked.</summary>
    public string? CheckpointPublicKeyFile { get; set; }

    /// <summary>Throws <see cref="InvalidOperationException"/> naming the first setting out of range.</summary>
    public void Validate()
    {
        if (QueryRetentionDays is < 0) throw new InvalidOperationException($"{Section}:QueryRetentionDays must be 0 (keep for ever) or more, not {QueryRetentionDays}.");
        if (QueryRetentionIntervalMinutes is <= 0 or > 7 * 24 * 60 || double.IsNaN(QueryRetentionIntervalMinutes))
            throw new InvalidOperationException($"{Section}:QueryRetentionIntervalMinutes must be above 0 and at most a week, not {QueryRetentionIntervalMinutes}.");
        if (QueryRecordQueue is < 1 or > 1_000_000) throw new InvalidOperationException($"{Section}:QueryRecordQueue must be 1 to 1000000, not {QueryRecordQueue}.");
        if (QueryRecordBatch is < 1 or > 10_000) throw new InvalidOperationException($"{Section}:QueryRecordBatch must be 1 to 10000, not {QueryRecordBatch}.");
        if (QueryRecordAttempts is < 1 or > 100) throw new InvalidOperationException($"{Section}:QueryRecordAttempts must be 1 to 100, not {QueryRecordAttempts}.");
    }
}
