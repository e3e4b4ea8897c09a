using LiveEdit.Contracts;
using LiveEdit.Hosting;
using LiveEdit.Hosting.Experts;
using LiveEdit.Hosting.Messaging;
using LiveEdit.Hosting.Serving;
using LiveEdit.Hosting.Startup;
using LiveEdit.Hosting.Telemetry;
using LiveEdit.Ledger;
using MassTransit;
using OpenTelemetry.Metrics;

namespace LiveEdit.Workers;

/// <summary>The worker host: the expert generation consumer and the reconciler.</summary>
public static class WorkerApp
{
    public static IHost Build(string[] args, Action<HostApplicationBuilder>? configure = null)
    {
        var builder = Host.CreateApplicationBuilder(args);
        SettingsFile.AddDefaults(builder.Configuration, "worker.settings.json");
        configure?.Invoke(builder);
        var configuration = builder.Configuration;
        builder.Services
            .AddLedgerFromConfiguration(configuration, builder.Environment)
            .AddModelRuntime(configuration, ContentRoot.Find())
            .AddExpertWorkerServices(configuration)
            .AddLiveEditMessaging(configuration, bus => bus.AddExpertWorkers());
        builder.AddLiveEditTelemetry("liveedit-worker", metrics: (metrics, settings) =>
        {
            // No HTTP server of its own to mount /metrics on: a listener of the exporter's, where configured.
            if (settings.Prometheus) metrics.AddPrometheusHttpListener(o =>
            {
                o.Host = settings.PrometheusListen.Host;
                o.Port = settings.PrometheusListen.Port;
            });
        });
        // "Started" means the bus is connected and consuming: the line below is printed only then.
        builder.Services.Configure<MassTransitHostOptions>(o =>
        {
            o.WaitUntilStarted = true;
            o.StartTimeout = TimeSpan.FromSeconds(60);
        });
        var host = builder.Build();
        var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
        var identity = host.Services.GetRequiredService<WorkerIdentity>();
        var log = host.Services.GetRequiredService<ILoggerFactory>().CreateLogger("LiveEdit.Workers");
        lifetime.ApplicationStarted.Register(() => log.LogInformation("Worker {Worker} started: consuming {Queue}",
            identity.Id, host.Services.GetRequiredService<QueueNames>().GenerateExpert));
        return host;
    }

    /// <summary>Waits for PostgreSQL and the broker (bounded), checks the ledger's schema (creates it in development), then runs until stopped.</summary>
    public static async Task RunAsync(IHost host, CancellationToken ct = default)
    {
        var configuration = host.Services.GetRequiredService<IConfiguration>();
        var patience = TimeSpan.FromSeconds(configuration.GetValue("Startup:PatienceSeconds", 30));
        await StartupGuard.WaitForPostgresAsync(configuration.GetConnectionString("Ledger")
            ?? throw new InvalidOperationException("ConnectionStrings:Ledger is not set (see infra/services env)."), patience, ct);
        if (configuration.ReadTransportKind() == TransportKind.RabbitMq)
            await StartupGuard.WaitForRabbitMqAsync(configuration.ReadRabbitMqUri(), patience, ct);
        await LedgerStartup.PrepareSchemaAsync(host.Services, ct);
        host.Services.GetRequiredService<ModelRuntime>(); // load and check the checkpoints before taking work
        await host.RunAsync(ct);
    }
}
