using System.Diagnostics.Metrics;
using LiveEdit.Hosting.Serving;
using LiveEdit.Ledger;
using Microsoft.Extensions.DependencyInjection;

namespace LiveEdit.Hosting.Telemetry;

/// <summary>
/// The hosts' instruments on the meter <see cref="LedgerTelemetry.MeterName"/>, made by the container's meter factory (so a
/// host's gauges end with the host). Registered only when metrics are on.
/// </summary>
public sealed class LiveEditMetrics
{
    private readonly Counter<long> _queries;
    private readonly Histogram<double> _queryDuration;
    private long _pendingWork = -1;
    private int _chainSound = -1;

    /// <summary>Creates the instruments; the gauges read <paramref name="services"/> when collected.</summary>
    public LiveEditMetrics(IMeterFactory meters, IServiceProvider services)
    {
        var meter = meters.Create(LedgerTelemetry.MeterName);
        _queries = meter.CreateCounter<long>("liveedit.queries", "{query}", "Queries answered or refused (POST /query), by HTTP status");
        _queryDuration = meter.CreateHistogram<double>("liveedit.query.duration", "s", "Time to answer a query (POST /query), from request to response",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] });
        var server = services.GetService<EditedModelServer>();
        if (server is not null)
        {
            meter.CreateObservableGauge("liveedit.experts.active", () => Observed(server.LastSync is { } sync ? sync.Experts - sync.Skipped : null),
                "{expert}", "Experts in the head model (active at the head and loaded)");
            meter.CreateObservableGauge("liveedit.head.version", () => Observed(server.HeadVersion >= 0 ? server.HeadVersion : null),
                "{version}", "The ledger version the head model is at");
        }
        meter.CreateObservableGauge("liveedit.work.pending", () => Observed(Interlocked.Read(ref _pendingWork) is var n and >= 0 ? n : null),
            "{edit}", "Edits awaiting their expert (work sent or to be sent, not yet recorded), as last read from the ledger");
        var ledger = services.GetService<EditLedger>();
        // The ledger's own last word (an append or a check), once a check ran: a refused append shows at once.
        meter.CreateObservableGauge("liveedit.chain.verified", () => Observed(Volatile.Read(ref _chainSound) < 0 ? null
                : ledger is null ? Volatile.Read(ref _chainSound) : ledger.Integrity.LastRefusal is null ? 1 : 0),
            "1", "1 when the last check of the ledger's chain head (by an append or the periodic check) passed, 0 while the ledger refuses appends");
    }

    /// <summary>One measurement, or none while the value is unknown.</summary>
    private static IEnumerable<Measurement<long>> Observed(long? value) => value is { } v ? [new Measurement<long>(v)] : [];

    /// <summary>Counts one query and its duration.</summary>
    public void Query(double seconds, int status)
    {
        var tag = new KeyValuePair<string, object?>("http.response.status_code", status);
        _queries.Add(1, tag);
        _queryDuration.Record(seconds, tag);
    }

    /// <summary>What <see cref="MetricsRefresher"/> last read from the ledger.</summary>
    internal void Refreshed(long? pendingWork, bool? chainSound)
    {
        if (pendingWork is { } n) Interlocked.Exchange(ref _pendingWork, n);
        if (chainSound is { } sound) Volatile.Write(ref _chainSound, sound ? 1 : 0);
    }
}
