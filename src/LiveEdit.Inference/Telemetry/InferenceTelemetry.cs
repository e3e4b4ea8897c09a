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

    /// <summary>
    /// Outermost middleware (so refusals count with their final status): times every <c>POST /query</c> when metrics are
    /// on, and lets a scraper present its key on <c>/metrics</c> as Prometheus sends one (<c>Authorization: Bearer …</c>).
    /// Nothing when telemetry is off.
    /// </summary>
    public static void UseTelemetry(this WebApplication app)
    {
        if (app.Services.GetService<LiveEditMetrics>() is not { } metrics) return;
        var scrape = app.Services.GetRequiredService<TelemetrySettings>().Prometheus;
        app.Use(async (context, next) =>
        {
            if (scrape && context.Request.Path.Equals(MetricsPath, StringComparison.OrdinalIgnoreCase)) BearerAsApiKey(context.Request);
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
                // The host's own warm-up query before ready is nobody's query: it is neither recorded nor counted.
                if (!Endpoints.QueryEndpoints.IsWarmUp(context))
                    metrics.Query(Stopwatch.GetElapsedTime(started).TotalSeconds, context.Response.StatusCode);
            }
        });
    }

    /// <summary>A bearer token on a scrape is the API key (checked, and its failures limited, as every key is).</summary>
    private static void BearerAsApiKey(HttpRequest request)
    {
        if (request.Headers.ContainsKey(ApiKeyAuthentication.Header)) return;
        if (request.Headers.Authorization is [{ } value] && value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            request.Headers[ApiKeyAuthentication.Header] = value["Bearer ".Length..].Trim();
    }

    /// <summary>
    /// <c>GET /metrics</c> for Prometheus, with <c>Telemetry:Prometheus</c> true. It takes an auditor's or admin's key (in
    /// <c>X-Api-Key</c> or as a bearer token): the figures say how the model is used and whether the ledger refuses appends,
    /// which the host tells no anonymous caller.
    /// </summary>
    public static void MapMetricsEndpoint(this WebApplication app)
    {
        if (app.Services.GetRequiredService<TelemetrySettings>().Prometheus)
            app.MapPrometheusScrapingEndpoint(MetricsPath).RequireAuthorization(Policies.Audit);
    }

    private static bool IsProbeOrScrape(PathString path) =>
        path.StartsWithSegments("/health", StringComparison.OrdinalIgnoreCase) || path.StartsWithSegments(MetricsPath, StringComparison.OrdinalIgnoreCase);
}
