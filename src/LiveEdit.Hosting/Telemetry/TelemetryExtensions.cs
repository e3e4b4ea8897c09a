using LiveEdit.Ledger;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace LiveEdit.Hosting.Telemetry;

/// <summary>OpenTelemetry for a host, by configuration (<see cref="TelemetrySettings"/>); nothing at all when none is set.</summary>
public static class TelemetryExtensions
{
    /// <summary>
    /// Registers what the configuration asks for: JSON console logs; traces of the ledger, the hosts and MassTransit (whose
    /// send and consume spans carry the trace context in message headers) to the OTLP collector and/or the span file;
    /// the <c>LiveEdit</c> and <c>MassTransit</c> meters to the OTLP collector and/or the host's Prometheus exporter.
    /// </summary>
    /// <param name="defaultServiceName">The service name unless <c>Telemetry:ServiceName</c> says otherwise.</param>
    /// <param name="tracing">More sources or instrumentation (the inference host adds ASP.NET Core's).</param>
    /// <param name="metrics">More meters or exporters (the inference host adds Prometheus when asked).</param>
    /// <param name="ledgerGauges">Read the ledger for the pending-work and chain gauges (one process per ledger should).</param>
    /// <returns>The settings read (also registered as a service).</returns>
    public static TelemetrySettings AddLiveEditTelemetry(this IHostApplicationBuilder builder, string defaultServiceName,
        Action<TracerProviderBuilder, TelemetrySettings>? tracing = null, Action<MeterProviderBuilder, TelemetrySettings>? metrics = null, bool ledgerGauges = false)
    {
        var settings = TelemetrySettings.Read(builder.Configuration, defaultServiceName);
        builder.Services.AddSingleton(settings);
        if (settings.JsonLogs)
        {
            // Scopes carry the trace and span ids (the host's activity tracking) into every line.
            builder.Logging.AddJsonConsole(o =>
            {
                o.IncludeScopes = true;
                o.UseUtcTimestamp = true;
                o.TimestampFormat = "yyyy-MM-dd'T'HH:mm:ss.fff'Z'";
            });
        }
        if (!settings.Tracing && !settings.Metrics) return settings;

        var otel = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(settings.ServiceName, serviceVersion: typeof(TelemetryExtensions).Assembly.GetName().Version?.ToString()));
        if (settings.Tracing)
        {
            otel.WithTracing(t =>
            {
                t.AddSource(LedgerTelemetry.SourceName, LiveEditTelemetry.SourceName, LiveEditTelemetry.MassTransitName)
                    .SetSampler(new ParentBasedSampler(new TraceIdRatioBasedSampler(settings.SampleRatio)));
                tracing?.Invoke(t, settings);
                if (settings.File is { } file) t.AddProcessor(new SimpleActivityExportProcessor(new SpanFileExporter(file)));
            });
        }
        if (settings.Metrics)
        {
            builder.Services.AddSingleton<LiveEditMetrics>();
            if (ledgerGauges)
            {
                builder.Services.AddSingleton<MetricsRefresher>();
                builder.Services.AddHostedService(sp => sp.GetRequiredService<MetricsRefresher>());
            }
            otel.WithMetrics(m =>
            {
                m.AddMeter(LedgerTelemetry.MeterName, LiveEditTelemetry.MassTransitName);
                metrics?.Invoke(m, settings);
            });
            // The instruments exist (and their gauges are observed) from the start, not from the first query.
            builder.Services.AddHostedService(sp => new InstrumentsAtStart(sp.GetRequiredService<LiveEditMetrics>()));
        }
        if (settings.OtlpEndpoint is { } endpoint) otel.UseOtlpExporter(settings.OtlpProtocol, endpoint);
        return settings;
    }

    /// <summary>Resolving it creates <see cref="LiveEditMetrics"/> (and so its gauges) when the host starts.</summary>
    private sealed class InstrumentsAtStart(LiveEditMetrics metrics) : IHostedService
    {
        public LiveEditMetrics Metrics => metrics;

        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
