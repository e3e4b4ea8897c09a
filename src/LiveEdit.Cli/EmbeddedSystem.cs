using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using LiveEdit.Bench;
using LiveEdit.Inference;
using Microsoft.AspNetCore.Builder;

namespace LiveEdit.Cli;

/// <summary>
/// The whole system in this process, as the demo and the benchmarks run it: the project's services up, a ledger
/// schema of its own (see <see cref="BenchSchema"/>: named by <c>--schema</c> or <c>Ledger__Schema</c>, else a fresh
/// one; never one that holds anything a benchmark did not make), the inference host on a free loopback port with the
/// in-memory transport and in-process workers.
/// </summary>
internal sealed class EmbeddedSystem : IAsyncDisposable
{
    private readonly string _owner;
    private readonly bool _dropWhenDone;

    private EmbeddedSystem(WebApplication app, Uri address, PreparedSchema schema, string owner, bool dropWhenDone)
    {
        App = app;
        Address = address;
        Schema = schema;
        _owner = owner;
        _dropWhenDone = dropWhenDone;
    }

    public WebApplication App { get; }
    public Uri Address { get; }

    /// <summary>The ledger's schema and whether this run made it.</summary>
    public PreparedSchema Schema { get; }

    public HostClient Client(string key) => new(Address, key);

    /// <summary>
    /// Starts it on <paramref name="schema"/> (null: <c>Ledger__Schema</c>, else a fresh <c>{prefix}_…</c>), prepared by
    /// <see cref="BenchSchema.PrepareAsync"/>: a schema a benchmark made is re-created, one holding anything else is
    /// refused. With <paramref name="dropWhenDone"/>, a fresh schema is dropped again on dispose.
    /// </summary>
    /// <exception cref="InvalidOperationException">The schema holds something no benchmark made (nothing was changed), or the services did not come up.</exception>
    public static async Task<EmbeddedSystem> StartAsync(string prefix, string policy, CancellationToken ct, IDictionary<string, string>? extra = null,
        string? schema = null, bool dropWhenDone = false, TextWriter? log = null, Action<WebApplicationBuilder>? configure = null)
    {
        var (name, origin) = BenchSchema.Choose(schema, prefix);
        ServicesUp();
        // As a deployment runs: the owner role makes and migrates the schema, the host serves as the application role.
        var appConnection = Environment.GetEnvironmentVariable(MigrateCommand.AppVariable)!;
        var owner = Environment.GetEnvironmentVariable(MigrateCommand.OwnerVariable)
                    ?? throw new InvalidOperationException($"infra/services up printed no {MigrateCommand.OwnerVariable}");
        var prepared = await BenchSchema.PrepareAsync(owner, name, origin, $"liveedit {prefix.Replace('_', ' ')}", log, ct);
        await MigrateCommand.MigrateAsync(owner, name, LiveEdit.Ledger.Storage.LedgerSchema.UserOf(appConnection), ct);
        var address = new Uri($"http://127.0.0.1:{FreePort()}");
        // A development run on this machine: the development keys (dev-proposer-key, …) are accepted.
        var app = InferenceApp.Build(["--urls", address.ToString().TrimEnd('/'), "--environment", "Development"], b =>
        {
            b.Configuration["Ledger:Schema"] = name;
            b.Configuration["Ledger:ApprovalPolicy"] = policy;
            b.Configuration["Transport:Kind"] = "InMemory";
            b.Configuration["Workers:InProcess"] = "true";
            b.Configuration["Logging:LogLevel:Default"] = "Warning";
            b.Configuration["Logging:LogLevel:Microsoft"] = "Warning";
            b.Configuration["Logging:LogLevel:MassTransit"] = "Error";
            // A benchmark's ledger gets a throw-away chain key unless one is configured.
            if (string.IsNullOrWhiteSpace(b.Configuration["Ledger:ChainKey"]) && string.IsNullOrWhiteSpace(b.Configuration["Ledger:ChainKeyFile"]))
                b.Configuration["Ledger:ChainKey"] = Convert.ToBase64String(LiveEdit.Ledger.LedgerChainKey.NewRandom());
            foreach (var (key, value) in extra ?? new Dictionary<string, string>()) b.Configuration[key] = value;
            configure?.Invoke(b);
        });
        await InferenceApp.PrepareAsync(app, ct);
        await app.StartAsync(ct);
        return new EmbeddedSystem(app, address, prepared, owner, dropWhenDone && prepared.Made && origin == SchemaOrigin.Fresh);
    }

    /// <summary>Runs infra/services up and takes the settings it prints into this process.</summary>
    public static void ServicesUp() => TakeServicesSettings("up");

    /// <summary>Runs infra/services <paramref name="verb"/> (up or env) and takes the settings it prints into this process.</summary>
    public static void TakeServicesSettings(string verb)
    {
        var script = ServicesCommand.FindScript() ?? throw new InvalidOperationException("infra/services not found; run from inside the repository");
        var start = new ProcessStartInfo("bash", [script, verb]) { RedirectStandardOutput = true, UseShellExecute = false };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"infra/services {verb} failed (exit {process.ExitCode})");
        foreach (var line in output.Split('\n'))
        {
            // export Name='value'
            var text = line.Trim();
            if (!text.StartsWith("export ", StringComparison.Ordinal)) continue;
            var eq = text.IndexOf('=');
            Environment.SetEnvironmentVariable(text[7..eq], text[(eq + 1)..].Trim('\''));
        }
        if (Environment.GetEnvironmentVariable("ConnectionStrings__Ledger") is null)
            throw new InvalidOperationException($"infra/services {verb} printed no ConnectionStrings__Ledger");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync(CancellationToken.None);
        await App.DisposeAsync();
        if (_dropWhenDone) await BenchSchema.DropIfMarkedAsync(_owner, Schema.Name);
    }
}
