using LiveEdit.Ledger.Blobs;
using Npgsql;
using Polly;
using Polly.Retry;

namespace LiveEdit.Hosting.Storage;

/// <summary>
/// Blob reads (images, experts) retried on transient database failures: a dropped connection or a
/// restarting server costs a moment, not a failed query or a failed message. A hash mismatch is never retried.
/// </summary>
public static class BlobStoreRetries
{
    private static readonly ResiliencePipeline Pipeline = new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<NpgsqlException>(e => e.IsTransient).Handle<TimeoutException>(),
            BackoffType = DelayBackoffType.Exponential,
            Delay = TimeSpan.FromMilliseconds(100),
            MaxRetryAttempts = 4,
        })
        .Build();

    /// <summary>Reads and verifies a blob (<see cref="BlobStore.GetAsync"/>), retrying transient failures.</summary>
    public static ValueTask<byte[]> GetWithRetriesAsync(this BlobStore blobs, string sha256, CancellationToken ct) =>
        Pipeline.ExecuteAsync(async token => await blobs.GetAsync(sha256, token), ct);

    /// <summary>
    /// Reads and verifies many blobs in batches (<see cref="BlobStore.GetManyAsync"/>), retrying transient failures; a
    /// missing or corrupt blob is reported for its own hash, never retried.
    /// </summary>
    public static ValueTask<IReadOnlyDictionary<string, BlobRead>> GetManyWithRetriesAsync(this BlobStore blobs, IReadOnlyCollection<string> sha256s, CancellationToken ct) =>
        Pipeline.ExecuteAsync(async token => await blobs.GetManyAsync(sha256s, token), ct);
}
