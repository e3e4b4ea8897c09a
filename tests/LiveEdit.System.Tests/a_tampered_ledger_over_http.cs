using System.Net;
using System.Text.Json.Nodes;
using LiveEdit.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Npgsql;
using Shouldly;
using Xunit;

namespace LiveEdit.System.Tests;

/// <summary>A row inserted behind the ledger's back, seen from the host: not ready, proposals refused with 503, verify lists it.</summary>
[Collection(SystemCollection.Name)]
public sealed class a_tampered_ledger_over_http(PostgresFixture postgres) : SchemaPerClass(postgres)
{
    [Fact]
    public async Task a_foreign_row_makes_the_host_unready_and_refuse_proposals_until_acknowledged()
    {
        await using var host = await RunningHost.StartAsync(Settings.InMemory(Postgres, Schema));
        var cases = Settings.Cases(3, seed: 29);
        await host.ProposeAsync(cases[0]);
        var head = await host.Ledger.GetHeadAsync();
        long forged;
        await using (var connection = new NpgsqlConnection(Postgres.ConnectionString))
        {
            await connection.OpenAsync();
            await using var insert = new NpgsqlCommand($"""
                insert into {Schema}.mt_events (seq_id, id, stream_id, version, data, type, timestamp, tenant_id, mt_dotnet_type, is_archived)
                select nextval('{Schema}.mt_events_sequence'), gen_random_uuid(), stream_id, version + 100, data, type, now(), tenant_id, mt_dotnet_type, false
                from {Schema}.mt_events where seq_id = {head}
                returning seq_id
                """, connection);
            forged = (long)(await insert.ExecuteScalarAsync())!;
        }
        using var anonymous = host.Client(null);
        using var proposer = host.Client(RunningHost.ProposerKey);
        using var auditor = host.Client(RunningHost.AuditorKey);

        (await anonymous.GetAsync("/health/ready")).StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable);
        var report = await host.App.Services.GetRequiredService<HealthCheckService>().CheckHealthAsync(c => c.Tags.Contains("ready"));
        report.Entries["chain"].Status.ShouldBe(HealthStatus.Unhealthy);
        report.Entries["chain"].Description!.ShouldContain(forged.ToString());

        using (var refused = await proposer.PostAsync("/edits", RunningHost.Form(cases[1].Edit.Image!.ToPng(),
                   ("prompt", cases[1].Edit.Prompt), ("target", cases[1].NewTarget), ("rationale", "test"))))
        {
            var body = await refused.Content.ReadAsStringAsync();
            refused.StatusCode.ShouldBe(HttpStatusCode.ServiceUnavailable, body);
            var problem = JsonNode.Parse(body)!;
            problem["code"]!.ToString().ShouldBe("chain_refused");
            problem["detail"]!.ToString().ShouldContain(forged.ToString());
            body.ShouldNotContain("select", Case.Insensitive);
        }
        (await host.Ledger.GetHeadAsync()).ShouldBe(head);

        var verify = JsonNode.Parse(await auditor.GetStringAsync("/ledger/verify"))!;
        verify["isIntact"]!.GetValue<bool>().ShouldBeFalse();
        verify["breaks"]!.AsArray().ShouldContain(b => b!["version"]!.GetValue<long>() == forged);

        await host.Ledger.AcknowledgeIncidentAsync(forged, "test forgery", "dba");

        (await anonymous.GetAsync("/health/ready")).StatusCode.ShouldBe(HttpStatusCode.OK);
        await host.ProposeAsync(cases[2]);
        verify = JsonNode.Parse(await auditor.GetStringAsync("/ledger/verify"))!;
        verify["isIntact"]!.GetValue<bool>().ShouldBeTrue(verify.ToJsonString());
        verify["acknowledged"]!.AsArray().ShouldHaveSingleItem()!["sequence"]!.GetValue<long>().ShouldBe(forged);
    }

    [Fact]
    public void a_host_without_a_chain_key_refuses_to_start_outside_development()
    {
        var refused = Should.Throw<InvalidOperationException>(() => LiveEdit.Inference.InferenceApp.Build(["--urls", "http://127.0.0.1:0"], b =>
        {
            foreach (var (key, value) in Settings.InMemory(Postgres, Schema)) b.Configuration[key] = value;
            b.Configuration["environment"] = "Production";
            b.Configuration["Ledger:ChainKey"] = "";
            b.Configuration["Ledger:ChainKeyFile"] = "";
        }));
        refused.Message.ShouldContain("No ledger chain key");
    }
}
