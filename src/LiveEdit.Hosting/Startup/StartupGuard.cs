using System.Net.Sockets;
using Npgsql;
using Polly;
using Polly.Retry;

namespace LiveEdit.Hosting.Startup;

/// <summary>
/// Waits, with bounded retries, for the services a host needs before it starts, and fails with one clear
/// line when they never come (rather than a stack trace from the first query).
/// </summary>
public static class StartupGuard
{
    private static ResiliencePipeline Pipeline(TimeSpan patience) => new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<NpgsqlException>().Handle<SocketException>().Handle<TimeoutException>(),
            BackoffType = DelayBackoffType.Exponential,
            Delay = TimeSpan.FromMilliseconds(200),
            MaxDelay = TimeSpan.FromSeconds(2),
            MaxRetryAttempts = int.MaxValue,
        })
        .AddTimeout(patience)
        .Build();

    /// <summary>Opens a connection to the ledger database, retrying for up to <paramref name="patience"/>.</summary>
    public static async Task WaitForPostgresAsync(string connectionString, TimeSpan patience, CancellationToken cancellationToken = default)
    {
        try
        {
            await Pipeline(patience).ExecuteAsync(async ct =>
            {
                await using var connection = new NpgsqlConnection(connectionString);
                await connection.OpenAsync(ct);
            }, cancellationToken);
        }
        catch (Exception e) when (e is NpgsqlException or Polly.Timeout.TimeoutRejectedException or SocketException)
        {
            throw new InvalidOperationException(
                $"PostgreSQL did not answer within {patience.TotalSeconds:0} s ({Host(connectionString)}): {e.Message}. Start it with `./liveedit services up`.", e);
        }
    }

    /// <summary>Opens a TCP connection to the broker, retrying for up to <paramref name="patience"/>.</summary>
    public static async Task WaitForRabbitMqAsync(Uri broker, TimeSpan patience, CancellationToken cancellationToken = default)
    {
        try
        {
            await Pipeline(patience).ExecuteAsync(async ct =>
            {
                using var client = new TcpClient();
                await client.ConnectAsync(broker.Host, broker.IsDefaultPort ? (broker.Scheme == "amqps" ? 5671 : 5672) : broker.Port, ct);
            }, cancellationToken);
        }
        catch (Exception e) when (e is SocketException or Polly.Timeout.TimeoutRejectedException)
        {
            throw new InvalidOperationException(
                $"RabbitMQ did not answer within {patience.TotalSeconds:0} s ({broker.Host}:{broker.Port}): {e.Message}. Start it with `./liveedit services up`.", e);
        }
    }

    private static string Host(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        return $"{builder.Host}:{builder.Port}";
    }
}
