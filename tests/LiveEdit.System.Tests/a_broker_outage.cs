using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using LiveEdit.Hosting.Messaging;
using LiveEdit.Hosting.Reconciliation;
using LiveEdit.Testing;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Shouldly;
using Xunit;
using Xunit.Abstractions;

namespace LiveEdit.System.Tests;

/// <summary>
/// The ledger is the outbox: while the broker is unreachable a proposal answers at once, readiness says Degraded naming
/// the broker, and the reconciler sends each pending edit at most once per back-off interval — then every edit is
/// finished when the broker is back.
/// </summary>
[Collection(SystemCollection.Name)]
public sealed class a_broker_outage(PostgresFixture postgres, RabbitMqFixture rabbit, ITestOutputHelper output) : SchemaPerClass(postgres)
{
    [Fact]
    public async Task of_40_seconds_with_13_pending_edits_costs_at_most_13_resends_and_no_proposal_waits()
    {
        await using var relay = new TcpRelay(rabbit.Uri.Host, rabbit.Uri.Port);
        var broker = new UriBuilder(rabbit.Uri) { Host = "127.0.0.1", Port = relay.Port }.Uri;
        var settings = Settings.RabbitHost(Postgres, Schema, broker, Prefix);
        settings["Workers:InProcess"] = "true";
        settings["Workers:Reconciler:Every"] = "00:00:02";
        settings["Workers:Reconciler:PendingAfter"] = "00:00:10";
        settings["Workers:Reconciler:Backoff"] = "00:00:30";
        await using var host = await RunningHost.StartAsync(settings);
        var reconciler = host.App.Services.GetServices<IHostedService>().OfType<PendingWorkReconciler>().Single();
        using var auditor = host.Client(RunningHost.AuditorKey);

        // One proposal first, while the broker is up, so that the timed ones pay no start-up cost of the host.
        var warm = await host.ProposeAsync(Settings.Cases(1, seed: 60)[0]);
        await host.WaitForStatusAsync(warm, "Active", TimeSpan.FromSeconds(60));

        relay.Down();
        var outage = Stopwatch.StartNew();
        var before = reconciler.SendAttempts;
        var cases = Settings.Cases(13, seed: 61);
        var ids = new List<Guid>();
        var times = new List<double>();
        foreach (var c in cases)
        {
            var clock = Stopwatch.StartNew();
            ids.Add(await host.ProposeAsync(c));
            times.Add(clock.Elapsed.TotalMilliseconds);
        }
        // Waiting for the broker cost 5 s per proposal; a shared test machine can still be slow for other reasons.
        times.Max().ShouldBeLessThan(2_000, "a proposal never waits for the broker");

        await WaitAsync(async () =>
        {
            using var ready = await auditor.GetAsync("/health/ready");
            var body = await ready.Content.ReadAsStringAsync();
            return ready.StatusCode == HttpStatusCode.OK && body.Contains("Degraded") && body.Contains("broker unreachable");
        }, TimeSpan.FromSeconds(30));

        await Task.Delay(TimeSpan.FromSeconds(40) - outage.Elapsed);
        var resends = reconciler.SendAttempts - before;
        relay.Up();
        output.WriteLine($"13 proposals during the outage: median {times.Order().ElementAt(6):F0} ms, slowest {times.Max():F0} ms; {resends} reconciler re-sends in {outage.Elapsed.TotalSeconds:F0} s");

        resends.ShouldBeGreaterThan(0, "pending edits were sent again during the outage");
        resends.ShouldBeLessThanOrEqualTo(13, $"{resends} re-sends for 13 pending edits in a 40 s outage");
        foreach (var id in ids) await host.WaitForStatusAsync(id, "Active", TimeSpan.FromSeconds(120));
        await WaitAsync(async () =>
        {
            using var ready = await auditor.GetAsync("/health/ready");
            return JsonNode.Parse(await ready.Content.ReadAsStringAsync())!["status"]!.GetValue<string>() == "Healthy";
        }, TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task an_amqps_broker_is_spoken_to_in_tls_and_an_amqp_one_in_clear()
    {
        (await FirstBytesAsync("amqps")).ShouldBe((byte)0x16, "a TLS handshake record starts the connection");
        (await FirstBytesAsync("amqp")).ShouldBe((byte)'A', "plain AMQP starts with its protocol header");
    }

    /// <summary>Starts a bus against a listener of the test's own and returns the first byte it sends.</summary>
    private async Task<byte> FirstBytesAsync(string scheme)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Transport:Kind"] = "RabbitMq",
                ["ConnectionStrings:RabbitMq"] = $"{scheme}://user:secret@127.0.0.1:{port}/",
                ["Transport:QueuePrefix"] = Prefix,
            }).Build();
            var services = new ServiceCollection().AddLogging().AddLiveEditMessaging(configuration);
            await using var provider = services.BuildServiceProvider();
            var bus = provider.GetRequiredService<IBusControl>();
            using var patience = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            _ = bus.StartAsync(patience.Token);
            using var client = await listener.AcceptTcpClientAsync(patience.Token);
            var buffer = new byte[1];
            (await client.GetStream().ReadAsync(buffer, patience.Token)).ShouldBe(1);
            return buffer[0];
        }
        finally
        {
            listener.Stop();
        }
    }

    private static async Task WaitAsync(Func<Task<bool>> condition, TimeSpan patience)
    {
        var deadline = DateTime.UtcNow + patience;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"not within {patience.TotalSeconds:0} s");
            await Task.Delay(250);
        }
    }
}
