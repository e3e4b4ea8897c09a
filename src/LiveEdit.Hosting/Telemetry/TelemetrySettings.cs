using Microsoft.Extensions.Configuration;
using OpenTelemetry.Exporter;

namespace LiveEdit.Hosting.Telemetry;

/// <summary>
/// Configuration section <c>Telemetry</c> (and <c>Logging:Format</c>). Everything is off by default: a host without these
/// settings registers no OpenTelemetry at all, so it pays nothing and prints nothing more.
/// </summary>
/// <param name="OtlpEndpoint"><c>Telemetry:Otlp:Endpoint</c>: an OTLP collector; traces, metrics and logs are exported to it.</param>
/// <param name="OtlpProtocol"><c>Telemetry:Otlp:Protocol</c>: <c>grpc</c> (default, port 4317) or <c>http</c> (http/protobuf, port 4318).</param>
/// <param name="Prometheus"><c>Telemetry:Prometheus</c>: true → the inference host serves <c>/metrics</c> for a Prometheus scraper (with
/// a key), and the worker host listens for one at <paramref name="PrometheusListen"/>.</param>
/// <param name="File"><c>Telemetry:File</c>: a file that receives one JSON line per finished span (tests, debugging; written synchronously).</param>
/// <param name="ServiceName"><c>Telemetry:ServiceName</c>: the service name in every span and metric.</param>
/// <param name="SampleRatio"><c>Telemetry:SampleRatio</c>: the share of new traces recorded (0 to 1, default 1); a trace
/// continued from a caller or a message follows the caller's decision.</param>
/// <param name="RefreshEvery"><c>Telemetry:RefreshEvery</c>: how often the inference host reads the ledger for its gauges
/// (work awaiting an expert, the chain's state); default 15 s.</param>
/// <param name="JsonLogs"><c>Logging:Format</c> = <c>json</c>: console logs as one JSON object a line, with scopes (trace and span ids).</param>
/// <param name="PrometheusListen"><c>Telemetry:PrometheusListen</c>: where the worker host's own scrape listener binds (it has no
/// other HTTP server), as <c>http://host:port/</c>; the metrics are at <c>metrics</c> below it. Default <see cref="DefaultPrometheusListen"/>.</param>
public sealed record TelemetrySettings(Uri? OtlpEndpoint, OtlpExportProtocol OtlpProtocol, bool Prometheus, string? File, string ServiceName,
    double SampleRatio, TimeSpan RefreshEvery, bool JsonLogs, Uri PrometheusListen)
{
    /// <summary>The worker's scrape listener unless configured: the loopback interface only, on the exporter's usual port.</summary>
    public static readonly Uri DefaultPrometheusListen = new("http://127.0.0.1:9464/");

    /// <summary>Spans are recorded (an exporter takes them).</summary>
    public bool Tracing => OtlpEndpoint is not null || File is not null;

    /// <summary>Metrics are collected (an exporter or the scrape endpoint takes them).</summary>
    public bool Metrics => OtlpEndpoint is not null || Prometheus;

    /// <summary>Reads and checks the settings; a bad value stops the host naming the key.</summary>
    public static TelemetrySettings Read(IConfiguration configuration, string defaultServiceName)
    {
        Uri? endpoint = null;
        if (configuration["Telemetry:Otlp:Endpoint"] is { Length: > 0 } text)
        {
            if (!Uri.TryCreate(text, UriKind.Absolute, out endpoint) || endpoint.Scheme is not ("http" or "https"))
                throw new InvalidOperationException($"Telemetry:Otlp:Endpoint must be an http:// or https:// URI, not '{Excerpt(text)}'.");
        }
        var protocol = (configuration["Telemetry:Otlp:Protocol"] ?? "grpc").ToLowerInvariant() switch
        {
            "grpc" => OtlpExportProtocol.Grpc,
            "http" or "http/protobuf" => OtlpExportProtocol.HttpProtobuf,
            var other => throw new InvalidOperationException($"Telemetry:Otlp:Protocol must be grpc or http, not '{Excerpt(other)}'."),
        };
        var prometheus = Flag(configuration, "Telemetry:Prometheus");
        var file = configuration["Telemetry:File"] is { Length: > 0 } path ? Path.GetFullPath(path) : null;
        var serviceName = configuration["Telemetry:ServiceName"] is { Length: > 0 } name ? name : defaultServiceName;
        var ratio = 1.0;
        if (configuration["Telemetry:SampleRatio"] is { Length: > 0 } ratioText
            && (!double.TryParse(ratioText, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out ratio) || ratio is < 0 or > 1))
            throw new InvalidOperationException($"Telemetry:SampleRatio must be a number from 0 to 1, not '{Excerpt(ratioText)}'.");
        var refresh = TimeSpan.FromSeconds(15);
        if (configuration["Telemetry:RefreshEvery"] is { Length: > 0 } refreshText
            && (!TimeSpan.TryParse(refreshText, System.Globalization.CultureInfo.InvariantCulture, out refresh) || refresh < TimeSpan.FromMilliseconds(100)))
            throw new InvalidOperationException($"Telemetry:RefreshEvery must be a time span of at least 00:00:00.1, not '{Excerpt(refreshText)}'.");
        var json = (configuration["Logging:Format"] ?? "simple").ToLowerInvariant() switch
        {
            "simple" or "" => false,
            "json" => true,
            var other => throw new InvalidOperationException($"Logging:Format must be simple or json, not '{Excerpt(other)}'."),
        };
        var listen = DefaultPrometheusListen;
        if (configuration["Telemetry:PrometheusListen"] is { Length: > 0 } listenText)
        {
            // The listener has no key check (a scraper cannot send one to it): it binds where it is told, a loopback or a
            // private address, never a guess; a path is not taken, so the metrics stay at /metrics.
            if (!Uri.TryCreate(listenText, UriKind.Absolute, out var parsed) || parsed.Scheme != "http" || parsed.Host.Length == 0
                || parsed.AbsolutePath != "/" || parsed.Query.Length > 0 || parsed.Fragment.Length > 0 || parsed.UserInfo.Length > 0)
                throw new InvalidOperationException($"Telemetry:PrometheusListen must be http://host:port/ (an address and a port, nothing after them), not '{Excerpt(listenText)}'.");
            listen = parsed;
        }
        return new TelemetrySettings(endpoint, protocol, prometheus, file, serviceName, ratio, refresh, json, listen);
    }

    private static bool Flag(IConfiguration configuration, string key) => configuration[key] switch
    {
        null or "" => false,
        var text when bool.TryParse(text, out var value) => value,
        var text => throw new InvalidOperationException($"{key} must be true or false, not '{Excerpt(text)}'."),
    };

    private static string Excerpt(string text) => text.Length > 80 ? text[..80] + "…" : text;
}
