using System.Diagnostics;

namespace LiveEdit.Hosting.Telemetry;

/// <summary>The names the hosts trace and meter under (docs/telemetry.md lists every span and instrument).</summary>
public static class LiveEditTelemetry
{
    /// <summary>The hosts' <see cref="ActivitySource"/>: expert work sent and generated.</summary>
    public const string SourceName = "LiveEdit";

    /// <summary>MassTransit's activity source and meter: its send and consume spans carry the trace in message headers.</summary>
    public const string MassTransitName = "MassTransit";

    /// <summary>Span tag: the worker that generated an expert.</summary>
    public const string WorkerTag = "liveedit.worker";

    /// <summary>Span tag: the SHA-256 of the expert generated.</summary>
    public const string ExpertTag = "liveedit.expert.sha256";

    /// <summary>The hosts' activity source.</summary>
    public static readonly ActivitySource Source = new(SourceName);

    /// <summary>
    /// Starts the span that sends an edit's expert work, as a child of <paramref name="parent"/> (the request that recorded
    /// the edit), so that MassTransit's send span, and through the message the worker's spans, join that request's trace.
    /// </summary>
    public static Activity? StartDispatch(Guid editId, ActivityContext parent)
    {
        if (!Source.HasListeners()) return null;
        var activity = Source.StartActivity("expert.dispatch", ActivityKind.Internal, parent);
        activity?.SetTag(LiveEdit.Ledger.LedgerTelemetry.EditIdTag, editId.ToString());
        return activity;
    }

    /// <summary>Starts the worker's span for one edit's expert (a child of MassTransit's consume span).</summary>
    public static Activity? StartGeneration(Guid editId, string worker)
    {
        if (!Source.HasListeners()) return null;
        var activity = Source.StartActivity("expert.generate");
        activity?.SetTag(LiveEdit.Ledger.LedgerTelemetry.EditIdTag, editId.ToString());
        activity?.SetTag(WorkerTag, worker);
        return activity;
    }
}
