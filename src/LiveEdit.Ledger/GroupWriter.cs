namespace LiveEdit.Ledger;

/// <summary>
/// The hand-over of a group commit (the ledger's appends, the blob store's puts): each caller queues its item, and
/// whoever holds the writer takes what is queued in batches and writes them until its own item is answered, then hands
/// over; every queued item is taken by the writer of the moment or by its own caller.
/// </summary>
internal static class GroupWriter
{
    /// <param name="answered">Completes when the caller's own item has its result or exception.</param>
    /// <param name="writer">One holder at a time.</param>
    /// <param name="take">Takes the next batch off the queue (empty when the queue is).</param>
    /// <param name="write">Writes a batch and answers each of its items.</param>
    public static async Task DrainUntilAnsweredAsync<T>(Task answered, SemaphoreSlim writer, Func<List<T>> take, Func<List<T>, Task> write)
    {
        while (!answered.IsCompleted)
        {
            await writer.WaitAsync(CancellationToken.None);
            try
            {
                while (!answered.IsCompleted && take() is { Count: > 0 } batch)
                    await write(batch);
            }
            finally
            {
                writer.Release();
            }
        }
    }
}
