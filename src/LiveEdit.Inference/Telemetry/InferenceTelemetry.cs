using System.Diagnostics;
using LiveEdit.Hosting.Telemetry;
using LiveEdit.Inference.Auth;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace LiveEdit.Inference.Telemetry;

/// <summary>The inference host's part of telemetry: request spans, the query meter and the Prometheus scrape endpoint.</summary>
public static class InferenceTelemetry
{
    /// <summary>Path of the Prometheus scrape endpoint (with <c>Telemetry:Prometheus</c> true).</summary>
    public const string MetricsPath = "/metrics";

    /// <summary>
    /// Registers telemetry from configuration: ASP.NET Core's request spans (not for probes and scrapes) when tracing,
    /// the Prometheus exporter when asked, the ledger gauges when metered.
    /// </summary>
    public static void AddInferenceTelemetry(this WebApplicationBuilder builder) =>
        builder.AddLiveEditTelemetry("liveedit-inference",
            (tracing, _) => tracing.AddAspNetCoreInstrumentation(o => o.Filter = http => !IsProbeOrScrape(http.Request.Path)),
            (metrics, settings) =>
            {
                if (settings.Prometheus) metrics.AddPrometheusExporter();
            },
            ledgerGauges: true);

    /// <summary>Times every <c>POST /query</c> (outermost, so refusals count with their final status). Nothing when metrics are off.</summary>
    public static void UseQueryMetrics(this WebApplication app)
    {
        if (app.Services.GetService<LiveEditMetrics>() is not { } metrics) return;
        app.Use(async (context, next) =>
        {
            if (!HttpMethods.IsPost(context.Request.Method) || !context.Request.Path.Equals("/query", StringComparison.OrdinalIgnoreCase))
            {
                await next(context);
                return;
            }
            var started = Stopwatch.GetTimestamp();
            try
            {
                await next(context);
            }
            finally
            {
                metrics.Query(Stopwatch.GetElapsedTime(started).TotalSeconds, context.Response.StatusCode);
            }
        });
    }

    /// <summary>
    /// <c>GET /metrics</c> for Prometheus, with <c>Telemetry:Prometheus</c> true. It takes an auditor's or admin's key: the
    /// figures say how the model is used and whether the ledger refuses appends, which the host tells no anonymous caller.
    /// </summary>
    public static void MapMetricsEndpoint(this WebApplication app)
    {
        if (app.Services.GetRequiredService<TelemetrySettings>().Prometheus)
            app.MapPrometheusScrapingEndpoint(MetricsPath).RequireAuthorization(Policies.Audit);
    }

    private static bool IsProbeOrScrape(PathString path) =>
        path.StartsWithSegments("/health", StringComparison.OrdinalIgnoreCase) || path.StartsWithSegments(MetricsPath, StringComparison.OrdinalIgnoreCase);
}
