using LiveEdit.Ledger;
using LiveEdit.Ledger.Audit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace LiveEdit.Hosting.Audit;

/// <summary>
/// Configuration section <c>Checkpoints</c> of the periodic checkpoint writer. The writer is off unless
/// <see cref="Folder"/> is set.
/// </summary>
public sealed class CheckpointSettings
{
    /// <summary>The configuration section.</summary>
    public const string Section = "Checkpoints";

    /// <summary>Folder the checkpoint files go to: one the database owner cannot write (another machine's mount, a WORM store).</summary>
    public string? Folder { get; set; }

    /// <summary>Private key file (PKCS#8 PEM).</summary>
    public string? KeyFile { get; set; }

    /// <summary>The private key's PEM text itself (e.g. <c>Checkpoints__Key</c> from a secret store), instead of <see cref="KeyFile"/>.</summary>
    public string? Key { get; set; }

    /// <summary>Write one when the chain has grown by this many entries (0: only by time).</summary>
    public long EveryEvents { get; set; }

    /// <summary>Write one when this many minutes have passed and the chain has grown (0: only by count).</summary>
    public double EveryMinutes { get; set; }

    /// <summary>How often the chain's length is looked at, in seconds.</summary>
    public double PollSeconds { get; set; } = 10;
}

/// <summary>
/// Signs the ledger's chain head into <see cref="CheckpointSettings.Folder"/> every N events or M minutes (see
/// <see cref="CheckpointSchedule"/>). A broken chain is never signed: it is logged as an error at every change of
/// the failure, and the writer carries on trying.
/// </summary>
public sealed class CheckpointWriter(CheckpointSchedule schedule, CheckpointSettings settings, ILogger<CheckpointWriter> log, TimeProvider clock)
    : BackgroundService
{
    /// <inheritdoc/>
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        log.LogInformation("Checkpoint writer: every {Events} events / {Minutes} minutes into {Folder}",
            schedule.EveryEntries, schedule.Every?.TotalMinutes ?? 0, schedule.Folder);
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(settings.PollSeconds), clock);
        string? lastFailure = null;
        do
        {
            try
            {
                if (await schedule.WriteIfDueAsync(stoppingToken) is { AlreadyExisted: false } written)
                    log.LogInformation("Checkpoint written: {Path}: {Notary}", written.Path,
                        LedgerCheckpoint.Parse(await File.ReadAllTextAsync(written.Path, stoppingToken)).NotaryLine);
                lastFailure = null;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // A broken chain, a full disk or a database that is away: report each new cause once, keep trying.
                var failure = $"{e.GetType().Name}: {e.Message}";
                if (failure != lastFailure)
                    log.Log(e is CheckpointException ? LogLevel.Error : LogLevel.Warning, "Checkpoint not written: {Failure}", failure);
                lastFailure = failure;
            }
        }
        while (await timer.NextTickOrStopAsync(stoppingToken));
    }
}

/// <summary>Wiring of the <see cref="CheckpointWriter"/>.</summary>
public static class CheckpointWriterExtensions
{
    /// <summary>
    /// Registers the checkpoint writer when <c>Checkpoints:Folder</c> is set; does nothing otherwise. Reads the key
    /// at once, so a host with a bad key setting refuses to start instead of running without checkpoints.
    /// </summary>
    /// <exception cref="InvalidOperationException">A folder without a key, a bad key, or no interval.</exception>
    public static IServiceCollection AddCheckpointWriter(this IServiceCollection services, IConfiguration configuration)
    {
        var settings = configuration.GetSection(CheckpointSettings.Section).Get<CheckpointSettings>() ?? new CheckpointSettings();
        if (string.IsNullOrWhiteSpace(settings.Folder)) return services;
        if (settings.EveryEvents < 0 || settings.EveryMinutes < 0 || (settings.EveryEvents == 0 && settings.EveryMinutes == 0))
            throw new InvalidOperationException("Checkpoints:Folder is set: set Checkpoints:EveryEvents or Checkpoints:EveryMinutes (or both) to a positive number.");
        if (settings.PollSeconds is <= 0 or > 3600 || double.IsNaN(settings.PollSeconds))
            throw new InvalidOperationException("Checkpoints:PollSeconds must be in (0, 3600].");
        CheckpointSigner signer;
        try
        {
            signer = !string.IsNullOrWhiteSpace(settings.Key) ? CheckpointSigner.FromPem(settings.Key, "Checkpoints:Key")
                : !string.IsNullOrWhiteSpace(settings.KeyFile) ? CheckpointSigner.FromPemFile(settings.KeyFile)
                : throw new CheckpointKeyException("Checkpoints:Folder is set but neither Checkpoints:KeyFile nor Checkpoints:Key");
        }
        catch (CheckpointKeyException e)
        {
            throw new InvalidOperationException($"Checkpoints: {e.Message}.", e);
        }
        services.AddSingleton(settings);
        services.AddSingleton(signer);
        services.AddSingleton(sp => new CheckpointSchedule(
            new LedgerCheckpoints(sp.GetRequiredService<EditLedger>()), signer, settings.Folder,
            settings.EveryEvents, settings.EveryMinutes > 0 ? TimeSpan.FromMinutes(settings.EveryMinutes) : null,
            sp.GetService<TimeProvider>()));
        services.AddHostedService(sp => new CheckpointWriter(sp.GetRequiredService<CheckpointSchedule>(), settings,
            sp.GetRequiredService<ILogger<CheckpointWriter>>(), sp.GetService<TimeProvider>() ?? TimeProvider.System));
        return services;
    }
}
