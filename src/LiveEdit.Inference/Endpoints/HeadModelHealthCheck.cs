using LiveEdit.Hosting.Serving;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace LiveEdit.Inference.Endpoints;

/// <summary>
/// Ready means ready: Unhealthy until the head model has been brought to the ledger's head (every expert blob read) and
/// has answered one warm-up query, and the query endpoint has run once (<see cref="QueryPathWarmUp"/>), so the first real query
/// costs what any other does. Degraded while the ledger's
/// notifications do not arrive (the head then follows by the safety poll and by queries that ask for a minimum version).
/// </summary>
public sealed class HeadModelHealthCheck(EditedModelServer server, HeadFollowingState state, HeadFollowingSettings settings, QueryPathWarmUp queryPath) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (!server.IsWarm)
            return Task.FromResult(HealthCheckResult.Unhealthy(server.HeadVersion < 0
                ? "the head model is being brought to the ledger's head (reading the active experts)"
                : $"the head model is at version {server.HeadVersion} and warming up"));
        if (!queryPath.Done)
            return Task.FromResult(HealthCheckResult.Unhealthy($"the head model is at version {server.HeadVersion}; the query endpoint is warming up"));
        if (!state.LedgerAnnounces)
            return Task.FromResult(HealthCheckResult.Degraded(
                $"head model at version {server.HeadVersion}; the ledger schema announces no new heads (run liveedit ledger migrate), the head follows every {settings.SafetyPoll.TotalSeconds:0} s"));
        if (!state.Listening)
            return Task.FromResult(HealthCheckResult.Degraded(
                $"head model at version {server.HeadVersion}; the ledger's notifications are not arriving (reconnecting), the head follows every {settings.SafetyPoll.TotalSeconds:0} s"));
        return Task.FromResult(HealthCheckResult.Healthy($"head model at version {server.HeadVersion}, pushed by the ledger"));
    }
}
