using LiveEdit.Contracts;
using LiveEdit.Hosting.Messaging;
using LiveEdit.Ledger;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LiveEdit.Hosting.Reconciliation;

/// <summary>
/// Messages are hints; the ledger is the truth. Every <see cref="ReconcilerSettings.Every"/> this looks for edits
/// that still need an expert and have not changed for <see cref="ReconcilerSettings.PendingAfter"/>, and sends
/// their <see cref="GenerateExpert"/> again. A lost message (broker down, worker killed before it acked) delays
/// an edit; it never loses it. Duplicates are harmless: the consumer is idempotent.
/// </summary>
public sealed class PendingWorkReconciler(IServiceProvider services, EditLedger ledger, ReconcilerSettings settings, QueueNames queues,
    TimeProvider clock, ILogger<PendingWorkReconciler> log) : BackgroundService
{
    /// <summary>One pass: sends work for every stale pending edit; returns how many.</summary>
    public async Task<int> ReconcileOnceAsync(CancellationToken ct)
    {
        var cutoff = clock.GetUtcNow() - settings.PendingAfter;
        var sent = 0;
        using var scope = services.CreateScope();
        var endpoint = await scope.ServiceProvider.GetRequiredService<ISendEndpointProvider>().GetSendEndpoint(queues.GenerateExpertAddress);
        foreach (var edit in await ledger.ListEditsAwaitingExpertAsync(settings.BatchSize, ct))
        {
            if (edit.UpdatedAt > cutoff) continue;
            await endpoint.Send(new GenerateExpert(edit.Id), ct);
            sent++;
        }
        if (sent > 0) log.LogInformation("Reconciler re-sent {Count} pending expert generation(s)", sent);
        return sent;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(settings.Every, clock);
        do
        {
            try
            {
                await ReconcileOnceAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // The database or broker may be down; the next pass tries again.
                log.LogWarning("Reconciler pass failed: {Message}", e.Message);
            }
        } while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }
}

/// <summary>Configuration section <c>Workers:Reconciler</c>.</summary>
public sealed class ReconcilerSettings
{
    /// <summary>Time between passes.</summary>
    public TimeSpan Every { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long an edit must have waited for its expert before its work is re-sent.</summary>
    public TimeSpan PendingAfter { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Most edits looked at per pass (oldest first).</summary>
    public int BatchSize { get; set; } = 1_000;
}
