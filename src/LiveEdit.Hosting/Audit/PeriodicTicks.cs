namespace LiveEdit.Hosting.Audit;

/// <summary>The wait between two runs of a periodic background job.</summary>
internal static class PeriodicTicks
{
    /// <summary>Waits for the timer's next tick; false when the host is stopping (never throws on stop).</summary>
    public static async Task<bool> NextTickOrStopAsync(this PeriodicTimer timer, CancellationToken stoppingToken)
    {
        try
        {
            return await timer.WaitForNextTickAsync(stoppingToken);
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
