using LiveEdit.Ledger;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LiveEdit.Hosting.Telemetry;

/// <summary>
/// Reads the ledger for the gauges a scrape must not wait on: the edits awaiting their expert and the chain head's check
/// (the check an append makes first). Runs only where metrics are on, every <see cref="TelemetrySettings.RefreshEvery"/>.
/// </summary>
public sealed class MetricsRefresher(EditLedger ledger, LiveEditMetrics metrics, TelemetrySettings settings, ILogger<MetricsRefresher> log) : BackgroundService
{
    /// <summary>Most edits counted as pending (a larger backlog shows as this number).</summary>
    public const int MaxCounted = 10_000;

    /// <summary>One read of both gauges; a database that does not answer leaves the chain at its last known state.</summary>
    public async Task RefreshOnceAsync(CancellationToken ct)
    {
        long? pending = null;
        try
        {
            pending = (await ledger.ListEditsAwaitingExpertAsync(MaxCounted, ct)).Count;
            var refusal = await ledger.CheckChainAsync(ct);
            metrics.Refreshed(pending, refusal is null);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            metrics.Refreshed(pending, ledger.Integrity.LastRefusal is null ? null : false);
            log.LogDebug("Telemetry: could not read the ledger for the gauges ({Message})", e.Message);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(settings.RefreshEvery);
        try
        {
            do await RefreshOnceAsync(stoppingToken);
            while (await timer.WaitForNextTickAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }
}
