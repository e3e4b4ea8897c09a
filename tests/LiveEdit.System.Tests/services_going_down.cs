using System.Net;
using LiveEdit.Ledger.Edits;
using LiveEdit.Testing;
using Npgsql;
using Shouldly;
using Xunit;

namespace LiveEdit.System.Tests;

[Collection(SystemCollection.Name)]
public sealed class services_going_down(PostgresFixture postgres, RabbitMqFixture rabbit) : SchemaPerClass(postgres)
{
    [Fact]
    public async Task postgres_down_gives_503_with_a_clear_body_and_the_host_recovers()
    {
        var real = new NpgsqlConnectionStringBuilder(Postgres.ConnectionString);
        await using var relay = new TcpRelay(real.Host!, real.Port);
        var viaRelay = new NpgsqlConnectionStringBuilder(Postgres.AppConnectionString) { Host = "127.0.0.1", Port = relay.Port, Pooling = false, Timeout = 3 };
        var settings = Settings.InMemory(Postgres, Schema);
        settings["ConnectionStrings:Ledger"] = viaRelay.ToString();
        await using var host = await RunningHost.StartAsync(settings);
        using var client = host.Client(RunningHost.AuditorKey);
        (await client.GetAsync("/health/ready")).StatusCode.ShouldBe(HttpStatusCode.OK);

        relay.Down();
        using (var ready = await client.GetAsync("/health/ready"))
            ready.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        // A query that needs the ledger (a past version, or a minimum head version) says the database is away…
        foreach (var field in new[] { ("asOf", "1"), ("minVersion", "999999") })
        {
            using var query = await client.PostAsync("/query", RunningHost.Form(null, ("prompt", "what is the capital of ora?"), field));
            query.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
            (await query.Content.ReadAsStringAsync()).ShouldContain("ledger database is unavailable");
        }
        // …while the head model, in memory, still answers at the version it is at.
        using (var head = await client.PostAsync("/query", RunningHost.Form(null, ("prompt", "what is the capital of ora?"))))
            head.StatusCode.ShouldBe(HttpStatusCode.OK, await head.Content.ReadAsStringAsync());
        (await client.GetAsync("/health/live")).StatusCode.ShouldBe(HttpStatusCode.OK, "the process itself is alive");

        relay.Up();
        (await client.GetAsync("/health/ready")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await client.PostAsync("/query", RunningHost.Form(null, ("prompt", "what is the capital of ora?")))).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task rabbitmq_down_loses_no_proposal_and_the_reconciler_finishes_the_work_when_it_is_back()
    {
        await using var relay = new TcpRelay(rabbit.Uri.Host, rabbit.Uri.Port);
        var broker = new UriBuilder(rabbit.Uri) { Host = "127.0.0.1", Port = relay.Port }.Uri;
        await using var host = await RunningHost.StartAsync(Settings.RabbitHost(Postgres, Schema, broker, Prefix));
        using var worker = WorkerProcess.Start(Settings.RabbitWorker(Postgres, Schema, broker, Prefix, "patient",
            reconcileEvery: TimeSpan.FromSeconds(1), pendingAfter: TimeSpan.FromSeconds(3)));
        await worker.WaitForLineAsync("started: consuming", TimeSpan.FromSeconds(90));

        relay.Down();
        var cases = Settings.Cases(2, seed: 16);
        var ids = new List<Guid>();
        foreach (var c in cases) ids.Add(await host.ProposeAsync(c)); // recorded although the broker is unreachable
        foreach (var id in ids) (await host.Ledger.GetEditAsync(id)).Status.ShouldBe(EditStatus.Approved);

        relay.Up();
        foreach (var id in ids) await host.WaitForStatusAsync(id, "Active", TimeSpan.FromSeconds(120));
        foreach (var id in ids)
            (await host.Ledger.GetHistoryAsync(id)).Select(h => h.Event).OfType<ExpertGenerated>().Count().ShouldBe(1);
    }
}
