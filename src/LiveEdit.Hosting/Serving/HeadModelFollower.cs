using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LiveEdit.Hosting.Serving;

/// <summary>
/// Keeps the in-memory head model close to the ledger between queries (experts are read from the blob store
/// ahead of the first query that needs them). Queries at the head still bring the model exactly to the head
/// themselves; this only takes that work off their path.
/// </summary>
public sealed class HeadModelFollower(EditedModelServer server, ILogger<HeadModelFollower> log) : BackgroundService
{
    /// <summary>Time between looks at the ledger's head.</summary>
    public static TimeSpan Every { get; set; } = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Every);
        var last = -1L;
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            try
            {
                var version = await server.SyncHeadAsync(stoppingToken);
                if (version != last) log.LogDebug("Head model at version {Version}", version);
                last = version;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                log.LogDebug("Head follower: {Message}", e.Message);
            }
        }
    }
}
