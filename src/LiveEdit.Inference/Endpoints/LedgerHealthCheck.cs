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
            return HealthCheckResult.Unhealthy("ledger database unavailable: " + e.Message);
        }
    }
}
