using System.Diagnostics;
using System.Diagnostics.Metrics;
using LiveEdit.Ledger.Edits;

namespace LiveEdit.Ledger;

/// <summary>
/// The ledger's traces and metrics, through the runtime's own <see cref="ActivitySource"/> and <see cref="Meter"/>: without a
/// listener (telemetry off, the default) starting a span returns null and recording a value does nothing.
/// </summary>
public static class LedgerTelemetry
{
    /// <summary>Name of the ledger's <see cref="ActivitySource"/>: one span per append of an edit command.</summary>
    public const string SourceName = "LiveEdit.Ledger";

    /// <summary>Name of the meter every LiveEdit instrument belongs to.</summary>
    public const string MeterName = "LiveEdit";

    /// <summary>Span tag: the edit the append is about.</summary>
    public const string EditIdTag = "liveedit.edit.id";

    /// <summary>Span tag: the event types appended, in order (e.g. <c>ExpertGenerated,EditActivated</c>).</summary>
    public const string EventsTag = "liveedit.ledger.events";

    /// <summary>Span tag: the ledger version (global sequence) the append reached.</summary>
    public const string VersionTag = "liveedit.ledger.version";

    /// <summary>The ledger's activity source.</summary>
    public static readonly ActivitySource Source = new(SourceName);

    private static readonly Meter Meter = new(MeterName);

    /// <summary>Seconds from an edit's proposal to its activation (ledger times), recorded by the process that appends the activation.</summary>
    public static readonly Histogram<double> ProposeToActive = Meter.CreateHistogram<double>("liveedit.edit.propose_to_active.duration", "s",
        "Time from an edit's proposal to its activation, as the ledger recorded both");

    /// <summary>Starts the span of one append (null when nobody listens).</summary>
    internal static Activity? StartAppend(Guid editId, IEnumerable<object> events)
    {
        if (!Source.HasListeners()) return null;
        var types = string.Join(',', events.Select(e => e.GetType().Name));
        var activity = Source.StartActivity("ledger.append");
        if (activity is null) return null;
        activity.DisplayName = $"ledger.append {types}";
        activity.SetTag(EditIdTag, editId.ToString());
        activity.SetTag(EventsTag, types);
        return activity;
    }

    /// <summary>Closes the span of an append with the version it reached, or with its error.</summary>
    internal static void Appended(Activity? activity, long? version, Exception? error = null)
    {
        if (activity is null) return;
        if (version is { } v) activity.SetTag(VersionTag, v);
        if (error is not null) activity.SetStatus(ActivityStatusCode.Error, error.GetType().Name);
    }

    /// <summary>Records propose→active for an activation just appended; <paramref name="cause"/> is the event that completed it.</summary>
    internal static void Activated(DateTimeOffset proposedAt, EditActivated activation, object cause)
    {
        if (!ProposeToActive.Enabled) return;
        ProposeToActive.Record(Math.Max(0, (activation.ActivatedAt - proposedAt).TotalSeconds),
            new KeyValuePair<string, object?>("liveedit.activated_by", cause switch { EditApproved => "approval", ExpertGenerated => "expert", _ => "command" }));
    }
}
