using LiveEdit.Ledger;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace LiveEdit.Inference.Endpoints;

/// <summary>
/// Unhealthy, naming the sequence, while the ledger refuses appends: a row it did not write above its chain head,
/// a changed or deleted head row, or a head entry without a valid MAC. Runs the same check an append runs first
/// (two small queries) and falls back to the ledger's last refusal when the database does not answer.
/// </summary>
public sealed class ChainHealthCheck(EditLedger ledger) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(TimeSpan.FromSeconds(3));
            var refusal = await ledger.CheckChainAsync(timeout.Token);
            return refusal is null
                ? HealthCheckResult.Healthy("the ledger's chain head is sound")
                : HealthCheckResult.Unhealthy($"the ledger refuses appends at sequence {refusal.Sequence} ({refusal.Reason}); the database owner must run `liveedit ledger acknowledge {refusal.Sequence} --reason …`");
        }
        catch (Exception) when (ledger.Integrity.LastRefusal is { } last)
        {
            return HealthCheckResult.Unhealthy($"the ledger refused an append at sequence {last.Sequence} ({last.Reason})");
        }
        catch (Exception)
        {
            // The database being down is the ledger check's to report.
            return HealthCheckResult.Healthy("chain not checked: the ledger database does not answer");
        }
    }
}
