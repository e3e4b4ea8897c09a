namespace LiveEdit.Hosting.Experts;

/// <summary>
/// Configuration section <c>Workers:FaultInjection</c>, for failure drills (and the tests that kill a worker in the
/// middle of a generation): a pause between storing the expert and recording it in the ledger. Zero in production.
/// </summary>
public sealed class FaultInjection
{
    public const string Section = "Workers:FaultInjection";

    /// <summary>How long to wait after the expert blob is stored and before <c>ExpertGenerated</c> is appended.</summary>
    public TimeSpan DelayBeforeRecord { get; set; } = TimeSpan.Zero;
}
