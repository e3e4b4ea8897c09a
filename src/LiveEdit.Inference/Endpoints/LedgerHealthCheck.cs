using LiveEdit.Ledger;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace LiveEdit.Inference.Endpoints;

/// <summary>Ready when the ledger database answers.</summary>
public sealed class LedgerHealthCheck(EditLedger ledger) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(3));
            var head = await ledger.GetHeadAsync(timeout.Token);
            return HealthCheckResult.Healthy($"ledger at version {head}");
        }
        catch (Exception e)
        {
            // The unauthenticated body names the cause, not the driver's message (the health service logs the exception).
            return HealthCheckResult.Unhealthy("the ledger database does not answer", e);
        }
    }
}
