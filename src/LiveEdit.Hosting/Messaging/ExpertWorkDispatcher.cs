using System.Diagnostics;
using System.Threading.Channels;
using LiveEdit.Contracts;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LiveEdit.Hosting.Messaging;

/// <summary>
/// The ledger is the outbox: a recorded proposal only <see cref="Notify"/>s this dispatcher, which sends
/// <see cref="GenerateExpert"/> in the background, each send bounded by <see cref="SendTimeout"/>. A request never waits
/// for the broker; a send that fails (broker down) or a notice dropped from a full queue is left to the
/// <see cref="Reconciliation.PendingWorkReconciler"/>, which finds the edit in the ledger and sends it again.
/// </summary>
public sealed class ExpertWorkDispatcher(IServiceProvider services, QueueNames queues, ILogger<ExpertWorkDispatcher> log) : BackgroundService
{
    /// <summary>Longest one send may take before it is given up (the reconciler retries).</summary>
    public static TimeSpan SendTimeout { get; set; } = TimeSpan.FromSeconds(5);

    // With each edit, the trace of the request that recorded it: the send continues that trace (docs/telemetry.md).
    private readonly Channel<(Guid EditId, ActivityContext Trace)> _pending = Channel.CreateBounded<(Guid, ActivityContext)>(new BoundedChannelOptions(10_000)
    {
        FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true,
    });

    /// <summary>Queues the edit's expert work; returns at once. False when the queue is full (the reconciler covers it).</summary>
    public bool Notify(Guid editId) => _pending.Writer.TryWrite((editId, Activity.Current?.Context ?? default));

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        await foreach (var (editId, trace) in _pending.Reader.ReadAllAsync(stoppingToken).ConfigureAwait(false))
        {
            using var activity = Telemetry.LiveEditTelemetry.StartDispatch(editId, trace);
            try
            {
                using var scope = services.CreateScope();
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                timeout.CancelAfter(SendTimeout);
                var endpoint = await scope.ServiceProvider.GetRequiredService<ISendEndpointProvider>().GetSendEndpoint(queues.GenerateExpertAddress);
                await endpoint.Send(new GenerateExpert(editId), timeout.Token);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                activity?.SetStatus(ActivityStatusCode.Error, e.GetType().Name);
                log.LogWarning("Edit {EditId} is recorded, but its expert work could not be sent now ({Message}); the reconciler will send it", editId, e.Message);
            }
        }
    }
}
