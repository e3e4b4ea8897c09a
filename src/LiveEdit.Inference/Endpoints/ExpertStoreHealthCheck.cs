using LiveEdit.Hosting.Serving;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace LiveEdit.Inference.Endpoints;

/// <summary>
/// Active experts whose blob the server found missing or corrupt: Degraded, naming each edit (the host still serves;
/// answers of a version that holds such an expert leave it out and say so).
/// </summary>
public sealed class ExpertStoreHealthCheck(ExpertIncidents incidents) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var open = incidents.Open;
        if (open.Count == 0) return Task.FromResult(HealthCheckResult.Healthy("every expert read so far matches its SHA-256"));
        var named = string.Join("; ", open.Take(10).Select(o => o.Expert.Warning));
        return Task.FromResult(HealthCheckResult.Degraded(
            $"{open.Count} expert blob(s) missing or corrupt, left out of answers: {named}{(open.Count > 10 ? "; …" : "")}"));
    }
}
