using System.Threading.Channels;
using LiveEdit.Hosting.Startup;
using LiveEdit.Ledger;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace LiveEdit.Hosting.Serving;

/// <summary>Configuration section <c>Serving:Head</c>: how the head model follows the ledger and how long a query waits for it.</summary>
public sealed class HeadFollowingSettings
{
    public const string Section = "Serving:Head";

    /// <summary>
    /// Time between two looks at the ledger's head when no notification came: a safety net for a notification lost while
    /// the connection was up (one cheap read of the head; the active set only when it moved).
    /// </summary>
    public TimeSpan SafetyPoll { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Longest a head query with <c>minVersion</c> waits for the head model to reach it (then 503).</summary>
    public TimeSpan MinVersionPatience { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>First wait before reconnecting the listening connection; doubles up to <see cref="MaxReconnectDelay"/>.</summary>
    public TimeSpan ReconnectDelay { get; set; } = TimeSpan.FromMilliseconds(250);

    /// <summary>Longest wait between two reconnection attempts.</summary>
    public TimeSpan MaxReconnectDelay { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Reads and checks the section; throws naming the setting when a value is out of range.</summary>
    public static HeadFollowingSettings From(IConfiguration? configuration)
    {
        var settings = configuration?.GetSection(Section).Get<HeadFollowingSettings>() ?? new HeadFollowingSettings();
        settings.Validate();
        return settings;
    }

    /// <summary>Throws <see cref="InvalidOperationException"/> naming the setting that is out of range.</summary>
    /// <remarks>The safety poll is a wait on the listening connection, where a time-out of zero means no time-out at all
    /// (and under a millisecond rounds to zero): a poll shorter than a second would either never come or poll the ledger
    /// as the one-second loop this follower replaces did. A reconnection delay of zero would retry a lost database in a
    /// tight loop.</remarks>
    public void Validate()
    {
        Require(nameof(SafetyPoll), SafetyPoll, TimeSpan.FromSeconds(1), TimeSpan.FromDays(1));
        Require(nameof(MinVersionPatience), MinVersionPatience, TimeSpan.Zero, TimeSpan.FromMinutes(5));
        Require(nameof(ReconnectDelay), ReconnectDelay, TimeSpan.FromMilliseconds(10), TimeSpan.FromHours(1));
        Require(nameof(MaxReconnectDelay), MaxReconnectDelay, ReconnectDelay, TimeSpan.FromHours(1));
    }

    private static void Require(string name, TimeSpan value, TimeSpan least, TimeSpan most)
    {
        if (value < least || value > most)
            throw new InvalidOperationException($"{Section}:{name} must be between {least:c} and {most:c}, not {value:c}");
    }
}

/// <summary>Where the head model stands, for the readiness check and the logs. Thread-safe; one per host.</summary>
public sealed class HeadFollowingState
{
    private volatile bool _listening;
    private volatile string? _lastError;

    /// <summary>True while the listening connection is up (notifications arrive as the ledger commits).</summary>
    public bool Listening { get => _listening; internal set => _listening = value; }

    /// <summary>
    /// False when the ledger's schema has no notifying trigger (a schema migrated by an older version): nothing is pushed,
    /// and the head follows by the safety poll until the owner runs <c>liveedit ledger migrate</c>.
    /// </summary>
    public bool LedgerAnnounces { get => _announces; internal set => _announces = value; }

    private volatile bool _announces = true;

    /// <summary>The last failure to listen or to sync, or null.</summary>
    public string? LastError { get => _lastError; internal set => _lastError = value; }

    /// <summary>Times the listening connection was opened (the first connection included).</summary>
    public int Connections => Volatile.Read(ref _connections);

    internal int _connections;
}

/// <summary>
/// Keeps the head model at the ledger's head, pushed by the ledger: a dedicated PostgreSQL connection LISTENs on the
/// ledger's head channel (<see cref="EditLedger.HeadChannel"/>); every notification, and every (re)connection, asks for
/// one sync of the head (<see cref="EditedModelServer.SyncHeadAsync"/>). Requests that arrive while a sync runs are
/// coalesced into the next one, so a burst of appends costs one read of the active set. A lost connection is opened
/// again with a doubling delay, and the head caught up from its last version at once; a slow safety poll covers a
/// notification lost while connected. After the first sync it warms the model up (<see cref="EditedModelServer.WarmUpAsync"/>):
/// readiness waits for both.
/// </summary>
public sealed class LedgerHeadFollower(EditedModelServer server, EditLedger ledger, LedgerSettings ledgerSettings, HeadFollowingSettings settings,
    HeadFollowingState state, ILogger<LedgerHeadFollower> log) : BackgroundService
{
    // One pending request at most: requests while one waits are the same request.
    private readonly Channel<bool> _wanted = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    /// <summary>Name the listening connection reports to PostgreSQL (pg_stat_activity.application_name), with the schema.</summary>
    public static string ApplicationName(string schema) => $"liveedit-head-listener:{schema}";

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(Task.Run(() => ListenAsync(stoppingToken), stoppingToken), Task.Run(() => SyncAsync(stoppingToken), stoppingToken));

    private void Want() => _wanted.Writer.TryWrite(true);

    private async Task ListenAsync(CancellationToken stop)
    {
        var delay = settings.ReconnectDelay;
        var connection = new NpgsqlConnectionStringBuilder(ledgerSettings.ConnectionString)
        {
            // Its own physical connection, not a pooled one: LISTEN belongs to one server connection. Keepalives find a dead peer.
            Pooling = false,
            KeepAlive = 10,
            ApplicationName = ApplicationName(ledgerSettings.Schema),
        }.ConnectionString;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await using var listener = new NpgsqlConnection(connection);
                await listener.OpenAsync(stop);
                listener.Notification += (_, e) =>
                {
                    // The payload is only a hint (anyone connected may notify): skip a sync when the head is already there.
                    if (!long.TryParse(e.Payload, out var head) || head > server.HeadVersion) Want();
                };
                await using (var listen = new NpgsqlCommand($"listen \"{ledger.HeadChannel}\"", listener)) await listen.ExecuteNonQueryAsync(stop);
                await using (var trigger = new NpgsqlCommand("""
                    select exists (select 1 from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
                                   where n.nspname = @schema and c.relname = 'ledger_chain' and t.tgname = 'ledger_chain_notify' and t.tgenabled <> 'D')
                    """, listener))
                {
                    trigger.Parameters.AddWithValue("schema", ledgerSettings.Schema);
                    state.LedgerAnnounces = (bool)(await trigger.ExecuteScalarAsync(stop))!;
                }
                if (!state.LedgerAnnounces)
                    log.LogWarning("Head follower: the ledger schema '{Schema}' announces no new heads (migrated by an older version); following every {Seconds} s until the owner runs liveedit ledger migrate",
                        ledgerSettings.Schema, settings.SafetyPoll.TotalSeconds);
                state.Listening = true;
                Interlocked.Increment(ref state._connections);
                delay = settings.ReconnectDelay;
                // Listening from here on: whatever was appended while no connection listened is read now.
                Want();
                while (!stop.IsCancellationRequested)
                {
                    if (!await listener.WaitAsync(settings.SafetyPoll, stop)) Want();
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                state.Listening = false;
                state.LastError = $"listening for ledger notifications: {e.Message}";
                log.LogWarning("Head follower: lost the ledger's notifications ({Message}); reconnecting in {Delay} ms and catching up", e.Message, delay.TotalMilliseconds);
                // Until it listens again, the head still follows: one sync per attempt.
                Want();
                try
                {
                    await Task.Delay(delay, stop);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, settings.MaxReconnectDelay.Ticks));
            }
            finally
            {
                state.Listening = false;
            }
        }
    }

    private async Task SyncAsync(CancellationToken stop)
    {
        var delay = settings.ReconnectDelay;
        var last = -1L;
        try
        {
            while (await _wanted.Reader.WaitToReadAsync(stop))
            {
                _wanted.Reader.TryRead(out _);
                try
                {
                    var version = await server.SyncHeadAsync(stop);
                    if (!server.IsWarm)
                    {
                        // Where a start's time goes, at Information: the first sync by phase, then the warm-up.
                        if (server.LastSync is { } sync)
                            log.LogInformation("Head model at version {Version}: {Experts} active experts ({Skipped} left out); active set {ActiveSetMs:F0} ms, expert blobs read, hashed and decoded {BlobsMs:F0} ms ({BlobsRead} blobs), head model built {ApplyMs:F0} ms",
                                sync.Version, sync.Experts, sync.Skipped, sync.ActiveSetMs, sync.BlobsMs, sync.BlobsRead, sync.ApplyMs);
                        var warming = System.Diagnostics.Stopwatch.StartNew();
                        await server.WarmUpAsync(stop);
                        log.LogInformation("Head model warmed up in {WarmUpMs:F0} ms: ready", warming.Elapsed.TotalMilliseconds);
                    }
                    if (version != last) log.LogDebug("Head model at version {Version}", version);
                    last = version;
                    delay = settings.ReconnectDelay;
                }
                catch (Exception e) when (e is not OperationCanceledException || !stop.IsCancellationRequested)
                {
                    state.LastError = $"bringing the head model to the ledger: {e.Message}";
                    log.LogWarning("Head follower: could not bring the head model to the ledger ({Message}); trying again in {Delay} ms", e.Message, delay.TotalMilliseconds);
                    await Task.Delay(delay, stop);
                    delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, settings.MaxReconnectDelay.Ticks));
                    Want();
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }
    }
}
