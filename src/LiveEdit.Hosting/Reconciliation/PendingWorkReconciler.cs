using System.Collections.Concurrent;
using LiveEdit.Contracts;
using LiveEdit.Hosting.Messaging;
using LiveEdit.Ledger;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LiveEdit.Hosting.Reconciliation;

/// <summary>
/// Messages are hints; the ledger is the truth (and the outbox). Every <see cref="ReconcilerSettings.Every"/> this looks
/// for edits that still need an expert and have not changed for <see cref="ReconcilerSettings.PendingAfter"/>, and sends
/// their <see cref="GenerateExpert"/> again — at most once per back-off interval per edit: the interval starts at
/// <see cref="ReconcilerSettings.Backoff"/> and doubles after each send up to <see cref="ReconcilerSettings.MaxBackoff"/>,
/// so a broker outage or a slow worker does not turn into a storm of duplicates. A lost message (broker down, worker
/// killed before it acked) delays an edit; it never loses it. Duplicates are harmless: the consumer is idempotent.
/// </summary>
public sealed class PendingWorkReconciler(IServiceProvider services, EditLedger ledger, ReconcilerSettings settings, QueueNames queues,
    TimeProvider clock, ILogger<PendingWorkReconciler> log) : BackgroundService
{
    private readonly ConcurrentDictionary<Guid, (DateTimeOffset LastSent, int Sends)> _sent = new();
    private long _sendAttempts;

    /// <summary>Re-sends attempted since start (each counted whether or not the broker took it).</summary>
    public long SendAttempts => Interlocked.Read(ref _sendAttempts);

    /// <summary>The interval after the <paramref name="sends"/>-th send before the edit may be sent again.</summary>
    public TimeSpan BackoffAfter(int sends) =>
        TimeSpan.FromTicks(Math.Min(settings.MaxBackoff.Ticks, settings.Backoff.Ticks * (1L << Math.Clamp(sends - 1, 0, 30))));

    /// <summary>One pass: sends work for every stale pending edit whose back-off has passed; returns how many.</summary>
    public async Task<int> ReconcileOnceAsync(CancellationToken ct)
    {
        var now = clock.GetUtcNow();
        var cutoff = now - settings.PendingAfter;
        var sent = 0;
        var pending = await ledger.ListEditsAwaitingExpertAsync(settings.BatchSize, ct);
        foreach (var id in _sent.Keys.Except(pending.Select(e => e.Id)).ToArray()) _sent.TryRemove(id, out _);

        using var scope = services.CreateScope();
        var endpoint = await scope.ServiceProvider.GetRequiredService<ISendEndpointProvider>().GetSendEndpoint(queues.GenerateExpertAddress);
        foreach (var edit in pending)
        {
            if (edit.UpdatedAt > cutoff) continue;
            var previous = _sent.TryGetValue(edit.Id, out var p) ? p : default;
            if (previous.Sends > 0 && now < previous.LastSent + BackoffAfter(previous.Sends)) continue;
            _sent[edit.Id] = (now, previous.Sends + 1);
            Interlocked.Increment(ref _sendAttempts);
            log.LogInformation("Reconciler re-sends GenerateExpert for edit {EditId} (send {Send}; next no sooner than {Backoff})",
                edit.Id, previous.Sends + 1, BackoffAfter(previous.Sends + 1));
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(ExpertWorkDispatcher.SendTimeout);
            await endpoint.Send(new GenerateExpert(edit.Id), timeout.Token); // a failure ends the pass: the broker is likely down
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
                // The database or broker may be down; the next pass tries again (each edit after its back-off).
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

    /// <summary>Least time between two re-sends of one edit; doubles after each re-send.</summary>
    public TimeSpan Backoff { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Longest time between two re-sends of one edit.</summary>
    public TimeSpan MaxBackoff { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Most edits looked at per pass (oldest first).</summary>
    public int BatchSize { get; set; } = 1_000;
}
