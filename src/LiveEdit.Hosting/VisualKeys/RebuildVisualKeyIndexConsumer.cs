using LiveEdit.Contracts;
using LiveEdit.Hosting.Messaging;
using LiveEdit.Ledger.Projections;
using Marten;
using MassTransit;
using Microsoft.Extensions.Logging;

namespace LiveEdit.Hosting.VisualKeys;

/// <summary>Rebuilds the visual-key index projection from the raw events (for example after a generator change).</summary>
public sealed class RebuildVisualKeyIndexConsumer(IDocumentStore store, ILogger<RebuildVisualKeyIndexConsumer> log) : IConsumer<RebuildVisualKeyIndex>
{
    public async Task Consume(ConsumeContext<RebuildVisualKeyIndex> context)
    {
        log.LogInformation("Rebuilding the visual-key index (generator {Generator})", context.Message.GeneratorSha256);
        using var daemon = await store.BuildProjectionDaemonAsync();
        await daemon.RebuildProjectionAsync<VisualKeyIndexProjection>(context.CancellationToken);
    }
}

/// <summary>One rebuild at a time.</summary>
public sealed class RebuildVisualKeyIndexConsumerDefinition : ConsumerDefinition<RebuildVisualKeyIndexConsumer>
{
    public RebuildVisualKeyIndexConsumerDefinition(QueueNames queues)
    {
        EndpointName = queues.RebuildVisualKeyIndex;
        ConcurrentMessageLimit = 1;
    }
}
