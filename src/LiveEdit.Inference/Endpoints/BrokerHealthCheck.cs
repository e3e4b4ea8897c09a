using LiveEdit.Hosting.Messaging;
using MassTransit;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace LiveEdit.Inference.Endpoints;

/// <summary>
/// The broker, when the transport is RabbitMQ: unreachable → Degraded (the host still answers queries and records
/// proposals; the ledger is the outbox and the reconciler sends the work when the broker is back).
/// </summary>
public sealed class BrokerHealthCheck(IConfiguration configuration, IBusControl bus) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (configuration.ReadTransportKind() != TransportKind.RabbitMq)
            return Task.FromResult(HealthCheckResult.Healthy("in-memory transport"));
        var health = bus.CheckHealth();
        return Task.FromResult(health.Status == BusHealthStatus.Healthy
            ? HealthCheckResult.Healthy("broker connected")
            : HealthCheckResult.Degraded($"broker unreachable: {health.Description}; proposals are recorded and their work is sent when it is back"));
    }
}
