using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using LiveEdit.Inference;
using Microsoft.AspNetCore.Builder;
using Npgsql;

namespace LiveEdit.Cli;

/// <summary>
/// The whole system in this process, as the demo and the benchmarks run it: the project's services up, a fresh
/// ledger schema, the inference host on a free loopback port with the in-memory transport and in-process workers.
/// </summary>
internal sealed class EmbeddedSystem : IAsyncDisposable
{
    private EmbeddedSystem(WebApplication app, Uri address)
    {
        App = app;
        Address = address;
    }

    public WebApplication App { get; }
    public Uri Address { get; }

    public HostClient Client(string key) => new(Address, key);

    /// <summary>Starts it. <paramref name="schema"/> is dropped first: every run starts from an empty ledger.</summary>
    public static async Task<EmbeddedSystem> StartAsync(string schema, string policy, CancellationToken ct, IDictionary<string, string>? extra = null)
    {
        ServicesUp();
        // As a deployment runs: the owner role migrates the fresh schema, the host serves as the application role.
        var appConnection = Environment.GetEnvironmentVariable(MigrateCommand.AppVariable)!;
        var owner = Environment.GetEnvironmentVariable(MigrateCommand.OwnerVariable)
                    ?? throw new InvalidOperationException($"infra/services up printed no {MigrateCommand.OwnerVariable}");
        await DropSchemaAsync(Environment.GetEnvironmentVariable("ConnectionStrings__LedgerSuperuser") ?? owner, schema, ct);
        await MigrateCommand.MigrateAsync(owner, schema, LiveEdit.Ledger.Storage.LedgerSchema.UserOf(appConnection), ct);
        var address = new Uri($"http://127.0.0.1:{FreePort()}");
        // A development run on this machine: the development keys (dev-proposer-key, …) are accepted.
        var app = InferenceApp.Build(["--urls", address.ToString().TrimEnd('/'), "--environment", "Development"], b =>
        {
            b.Configuration["Ledger:Schema"] = schema;
            b.Configuration["Ledger:ApprovalPolicy"] = policy;
            b.Configuration["Transport:Kind"] = "InMemory";
            b.Configuration["Workers:InProcess"] = "true";
            b.Configuration["Logging:LogLevel:Default"] = "Warning";
            b.Configuration["Logging:LogLevel:Microsoft"] = "Warning";
            b.Configuration["Logging:LogLevel:MassTransit"] = "Error";
            // A throw-away ledger (dropped at every start) gets a throw-away chain key unless one is configured.
            if (string.IsNullOrWhiteSpace(b.Configuration["Ledger:ChainKey"]) && string.IsNullOrWhiteSpace(b.Configuration["Ledger:ChainKeyFile"]))
                b.Configuration["Ledger:ChainKey"] = Convert.ToBase64String(LiveEdit.Ledger.LedgerChainKey.NewRandom());
            foreach (var (key, value) in extra ?? new Dictionary<string, string>()) b.Configuration[key] = value;
        });
        await InferenceApp.PrepareAsync(app, ct);
        await app.StartAsync(ct);
        return new EmbeddedSystem(app, address);
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

    private static async Task DropSchemaAsync(string connectionString, string schema, CancellationToken ct)
    {
        if (!schema.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '_'))
            throw new ArgumentException($"schema '{schema}' must be lower-case letters, digits and '_'", nameof(schema));
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand($"DROP SCHEMA IF EXISTS {schema} CASCADE", connection);
        await command.ExecuteNonQueryAsync(ct);
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
    }
}
