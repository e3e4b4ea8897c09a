namespace LiveEdit.Bench.Perf;

/// <summary>
/// Starts the whole system (inference host, workers, ledger) on <paramref name="transport"/>, one of
/// <see cref="PerfSettings.KnownTransports"/>, with an empty ledger and an approval policy that approves by itself.
/// </summary>
public delegate Task<PerfSystem> StartPerfSystem(string transport, CancellationToken ct);

/// <summary>
/// A running system <see cref="PerfBench"/> measures: the inference host's HTTP <paramref name="Address"/>, its
/// <paramref name="Services"/> (the bench takes the ModelRuntime and the EditLedger from them), the API keys it
/// proposes and reads with, and <paramref name="Owner"/>, disposed when the bench is done with the system.
/// </summary>
public sealed record PerfSystem(Uri Address, IServiceProvider Services, IAsyncDisposable Owner,
    string ProposerKey = "dev-proposer-key", string AuditorKey = "dev-auditor-key") : IAsyncDisposable
{
    /// <summary>Stops the system by disposing <see cref="Owner"/>.</summary>
    public ValueTask DisposeAsync() => Owner.DisposeAsync();
}
