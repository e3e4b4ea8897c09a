using System.Threading.RateLimiting;
using Microsoft.Extensions.Options;

namespace LiveEdit.Inference.Auth;

/// <summary>
/// Counts failed authentications per client address in a token bucket (<c>Auth:FailureBurst</c>, refilled at
/// <c>Auth:FailuresPerSecond</c>). While a client's bucket is empty every request of it that presents a key is
/// answered 429 before the key is looked at, so a right guess cannot be told from a wrong one.
/// </summary>
public sealed class FailedAuthenticationLimiter : IDisposable
{
    private readonly PartitionedRateLimiter<string> _limiter;

    public FailedAuthenticationLimiter(IOptions<ApiKeyOptions> options)
    {
        var burst = options.Value.FailureBurst;
        var perSecond = options.Value.FailuresPerSecond;
        _limiter = PartitionedRateLimiter.Create<string, string>(client => RateLimitPartition.GetTokenBucketLimiter(client, _ => new TokenBucketRateLimiterOptions
        {
            TokenLimit = burst,
            TokensPerPeriod = perSecond,
            ReplenishmentPeriod = TimeSpan.FromSeconds(1),
            QueueLimit = 0,
            AutoReplenishment = true,
        }));
    }

    /// <summary>The client's address (the remote IP; proxies are not trusted).</summary>
    public static string ClientOf(HttpContext context) => context.Connection.RemoteIpAddress?.ToString() ?? "unknown";

    /// <summary>Whether the client has used up its failures.</summary>
    public bool IsBlocked(string client) => _limiter.GetStatistics(client) is { CurrentAvailablePermits: <= 0 };

    /// <summary>Counts one failure.</summary>
    public void RecordFailure(string client)
    {
        using var _ = _limiter.AttemptAcquire(client);
    }

    public void Dispose() => _limiter.Dispose();
}
