using LiveEdit.Contracts;
using LiveEdit.Ledger.Errors;
using LiveEdit.Model.Images;
using MassTransit;

namespace LiveEdit.Hosting.Experts;

/// <summary>
/// Endpoint policy for expert generation: one message at a time per process (one model device), prefetch 1 so a
/// killed worker leaves at most one message to redeliver, retries for transient failures (never for bad input),
/// and a time limit per message.
/// </summary>
public sealed class GenerateExpertConsumerDefinition : ConsumerDefinition<GenerateExpertConsumer>
{
    /// <summary>Longest a single generation may take before it is cancelled and retried.</summary>
    public static TimeSpan Timeout { get; set; } = TimeSpan.FromMinutes(2);

    public GenerateExpertConsumerDefinition(QueueNames queues)
    {
        EndpointName = queues.GenerateExpert;
        ConcurrentMessageLimit = 1;
    }

    protected override void ConfigureConsumer(IReceiveEndpointConfigurator endpointConfigurator,
        IConsumerConfigurator<GenerateExpertConsumer> consumerConfigurator, IRegistrationContext context)
    {
        endpointConfigurator.PrefetchCount = 1;
        endpointConfigurator.UseMessageRetry(r =>
        {
            r.Ignore<UnreadableImageException>();
            r.Ignore<BlobCorruptedException>();
            r.Ignore<BlobNotFoundException>();
            r.Intervals(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5));
        });
        consumerConfigurator.UseTimeout(t => t.Timeout = Timeout);
    }
}
