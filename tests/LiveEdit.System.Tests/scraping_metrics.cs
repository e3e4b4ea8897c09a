using System.Net;
using System.Text.RegularExpressions;
using LiveEdit.Inference;
using LiveEdit.Testing;
using Microsoft.Extensions.DependencyInjection;
using Shouldly;
using Xunit;

namespace LiveEdit.System.Tests;

/// <summary>The Prometheus scrape endpoints (<c>Telemetry:Prometheus</c>): what they show, to whom, and nothing when telemetry is off.</summary>
[Collection(SystemCollection.Name)]
public sealed partial class scraping_metrics(PostgresFixture postgres, RabbitMqFixture rabbit) : SchemaPerClass(postgres)
{
    private Dictionary<string, string?> WithPrometheus(string schema)
    {
        var settings = Settings.InMemory(Postgres, schema);
        settings["Telemetry:Prometheus"] = "true";
        settings["Telemetry:RefreshEvery"] = "00:00:00.2";
        return settings;
    }

    [Fact]
    public async Task an_auditor_reads_every_named_metric_after_an_edit_and_a_query()
    {
        await using var host = await RunningHost.StartAsync(WithPrometheus(Schema));
        var c = Settings.Cases(1, seed: 23)[0];
        var id = await host.ProposeAsync(c);
        await host.WaitForStatusAsync(id, "Active", TimeSpan.FromSeconds(90));
        await host.QueryAsync(c.Edit.Image, c.Edit.Prompt);

        using var auditor = host.Client(RunningHost.AuditorKey);
        var text = "";
        // Gauges read the ledger every 0.2 s and the exporter caches a scrape briefly: look until the head shows the edit.
        for (var deadline = DateTime.UtcNow.AddSeconds(20); DateTime.UtcNow < deadline; await Task.Delay(200))
        {
            using var response = await auditor.GetAsync("/metrics");
            text = await response.Content.ReadAsStringAsync();
            response.StatusCode.ShouldBe(HttpStatusCode.OK, text);
            if (Value(text, "liveedit_experts_active") == 1 && Value(text, "liveedit_work_pending") == 0) break;
        }

        Value(text, "liveedit_queries_total", "http_response_status_code=\"200\"").ShouldBe(1, text);
        Value(text, "liveedit_query_duration_seconds_count", "http_response_status_code=\"200\"").ShouldBe(1, text);
        Value(text, "liveedit_experts_active").ShouldBe(1, text);
        Value(text, "liveedit_work_pending").ShouldBe(0, text);
        Value(text, "liveedit_chain_verified").ShouldBe(1, text);
        Value(text, "liveedit_head_version").ShouldBe(await host.Ledger.GetHeadAsync(), text);
        Value(text, "liveedit_edit_propose_to_active_duration_seconds_count", "liveedit_activated_by=\"expert\"").ShouldBe(1, text);
    }

    [Fact]
    public async Task metrics_are_shown_only_to_an_auditor_or_an_admin()
    {
        await using var host = await RunningHost.StartAsync(WithPrometheus(Schema));

        using (var anonymous = host.Client(null))
            (await anonymous.GetAsync("/metrics")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        using (var stranger = host.Client("not-a-configured-key"))
            (await stranger.GetAsync("/metrics")).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        foreach (var key in new[] { RunningHost.ProposerKey, RunningHost.ApproverKey })
        {
            using var client = host.Client(key);
            using var refused = await client.GetAsync("/metrics");
            refused.StatusCode.ShouldBe(HttpStatusCode.Forbidden, key);
            (await refused.Content.ReadAsStringAsync()).ShouldNotContain("liveedit_");
        }
        foreach (var key in new[] { RunningHost.AuditorKey, RunningHost.AdminKey })
        {
            using var client = host.Client(key);
            using var shown = await client.GetAsync("/metrics");
            shown.StatusCode.ShouldBe(HttpStatusCode.OK, key);
            (await shown.Content.ReadAsStringAsync()).ShouldContain("liveedit_chain_verified");
        }

        // As Prometheus sends a key (authorization: credentials_file), checked the same way.
        using var scraper = host.Client(null);
        foreach (var (bearer, status) in new[] { (RunningHost.AuditorKey, HttpStatusCode.OK), (RunningHost.ProposerKey, HttpStatusCode.Forbidden), ("not-a-configured-key", HttpStatusCode.Unauthorized) })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/metrics") { Headers = { Authorization = new("Bearer", bearer) } };
            using var response = await scraper.SendAsync(request);
            response.StatusCode.ShouldBe(status, bearer);
        }
    }

    [Fact]
    public async Task without_telemetry_settings_the_host_registers_no_telemetry_and_serves_no_metrics()
    {
        await using var host = await RunningHost.StartAsync(Settings.InMemory(Postgres, Schema));

        host.App.Services.GetService<OpenTelemetry.Trace.TracerProvider>().ShouldBeNull();
        host.App.Services.GetService<OpenTelemetry.Metrics.MeterProvider>().ShouldBeNull();
        using var auditor = host.Client(RunningHost.AuditorKey);
        (await auditor.GetAsync("/metrics")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task a_worker_process_serves_its_own_metrics_at_the_address_it_is_given()
    {
        var schema = await Settings.MigrateAsync(Postgres, GetType(), "_worker");
        var prefix = Prefix + "w-";
        await using var host = await RunningHost.StartAsync(Settings.RabbitHost(Postgres, schema, rabbit.Uri, prefix));
        var port = FreePort();
        var workerSettings = Settings.RabbitWorker(Postgres, schema, rabbit.Uri, prefix, "worker-m");
        workerSettings["Telemetry__Prometheus"] = "true";
        workerSettings["Telemetry__PrometheusListen"] = $"http://127.0.0.1:{port}/";
        using var worker = WorkerProcess.Start(workerSettings);
        await worker.WaitForLineAsync("started: consuming", TimeSpan.FromSeconds(90));

        // Auto-approved, so the expert comes last: the worker appends the activation and records propose→active itself.
        var id = await host.ProposeAsync(Settings.Cases(1, seed: 25)[0]);
        await host.WaitForStatusAsync(id, "Active", TimeSpan.FromSeconds(90));

        using var scraper = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}/"), Timeout = TimeSpan.FromSeconds(10) };
        var text = "";
        // The exporter caches a scrape briefly: look until the activation shows.
        for (var deadline = DateTime.UtcNow.AddSeconds(20); DateTime.UtcNow < deadline; await Task.Delay(200))
        {
            using var response = await scraper.GetAsync("/metrics");
            text = await response.Content.ReadAsStringAsync();
            response.StatusCode.ShouldBe(HttpStatusCode.OK, text);
            if (Value(text, "liveedit_edit_propose_to_active_duration_seconds_count", "liveedit_activated_by=\"expert\"") == 1) break;
        }
        Value(text, "liveedit_edit_propose_to_active_duration_seconds_count", "liveedit_activated_by=\"expert\"").ShouldBe(1, text);
        text.ShouldContain("service_name=\"liveedit-worker\"");
    }

    private static int FreePort()
    {
        var listener = new global::System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    [Theory]
    [InlineData("Telemetry:Otlp:Endpoint", "ftp://collector:4317")]
    [InlineData("Telemetry:Otlp:Protocol", "carrier-pigeon")]
    [InlineData("Telemetry:Prometheus", "sometimes")]
    [InlineData("Telemetry:PrometheusListen", "http://127.0.0.1:9464/metrics")]
    [InlineData("Telemetry:PrometheusListen", "https://127.0.0.1:9464/")]
    [InlineData("Telemetry:SampleRatio", "2")]
    [InlineData("Logging:Format", "xml")]
    public void a_bad_telemetry_setting_stops_the_host_naming_it(string key, string value)
    {
        var settings = Settings.InMemory(Postgres, Schema);
        settings[key] = value;

        var error = Should.Throw<InvalidOperationException>(() => InferenceApp.Build(["--urls", "http://127.0.0.1:0"], b =>
        {
            foreach (var (k, v) in settings) b.Configuration[k] = v;
            b.Configuration["Ledger:ChainKey"] = TestChainKey.Base64;
        }));
        error.Message.ShouldStartWith(key);
        error.Message.ShouldContain(value);
    }

    /// <summary>The value of the sample <paramref name="name"/> whose labels contain <paramref name="label"/>, or null.</summary>
    private static double? Value(string text, string name, string label = "")
    {
        foreach (var line in text.Split('\n'))
        {
            var m = Sample().Match(line);
            if (m.Success && m.Groups["name"].Value == name && m.Groups["labels"].Value.Contains(label, StringComparison.Ordinal))
                return double.Parse(m.Groups["value"].Value, global::System.Globalization.CultureInfo.InvariantCulture);
        }
        return null;
    }

    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>[^}]*)\})? (?<value>\S+)")]
    private static partial Regex Sample();
}
