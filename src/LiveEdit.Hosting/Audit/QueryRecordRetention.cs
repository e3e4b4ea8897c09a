using LiveEdit.Ledger.Queries;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LiveEdit.Hosting.Audit;

/// <summary>
/// Removes query records older than <see cref="QueryAuditSettings.QueryRetentionDays"/> (when set) at start and every
/// <see cref="QueryAuditSettings.QueryRetentionIntervalMinutes"/>, in one statement each time, and logs how many.
/// </summary>
public sealed class QueryRecordRetention(QueryRecordStore store, QueryAuditSettings settings, ILogger<QueryRecordRetention> log, TimeProvider clock)
    : BackgroundService
{
    /// <summary>One pass: removes what is past retention; returns how many (0 when records are kept for ever).</summary>
    public async Task<long> RunOnceAsync(CancellationToken ct = default)
    {
        if (settings.QueryRetentionDays is not { } days || days == 0) return 0;
        var removed = await store.ExpireAsync(days, ct);
        log.LogInformation("Query records: removed {Removed} older than {Days} days", removed, days);
        return removed;
    }

    /// <inheritdoc/>
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (settings.QueryRetentionDays is not > 0) return;
        using var timer = new PeriodicTimer(TimeSpan.FromMinutes(settings.QueryRetentionIntervalMinutes), clock);
        string? lastFailure = null;
        do
        {
            try
            {
                await RunOnceAsync(stoppingToken);
                lastFailure = null;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                var failure = $"{e.GetType().Name}: {e.Message}";
                if (failure != lastFailure) log.LogWarning("Query records: retention did not run: {Failure}", failure);
                lastFailure = failure;
            }
        }
        while (await timer.NextTickOrStopAsync(stoppingToken));
    }
}
