using System.Net;
using System.Text.Json.Nodes;
using LiveEdit.Hosting.Audit;
using LiveEdit.Hosting.Serving;
using LiveEdit.Inference.Endpoints;
using LiveEdit.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Shouldly;
using Xunit;

namespace LiveEdit.System.Tests;

/// <summary>
/// Before <c>/health/ready</c> says Healthy the host runs <c>POST /query</c>'s own handler once in process, so the first
/// client's query finds the form reader, the image decoder and the answer's serializer compiled. That warm-up is no
/// client's query: it leaves no query record, while a client's query does.
/// </summary>
[Collection(SystemCollection.Name)]
public sealed class warming_the_query_endpoint_before_ready(PostgresFixture postgres) : HostPerClass(postgres)
{
    [Fact]
    public async Task ready_comes_after_the_query_endpoint_has_run_once()
    {
        Host.App.Services.GetRequiredService<QueryPathWarmUp>().Done.ShouldBeTrue();
        using var client = Host.Client(null);
        using var ready = await client.GetAsync("/health/ready");
        var body = await ready.Content.ReadAsStringAsync();
        ready.StatusCode.ShouldBe(HttpStatusCode.OK, body);
        JsonNode.Parse(body)!["checks"]!.AsArray().Single(c => c!["name"]!.GetValue<string>() == "head")!["status"]!.GetValue<string>().ShouldBe("Healthy", body);
    }

    [Fact]
    public async Task a_warm_head_model_is_not_ready_while_the_query_endpoint_has_not_run()
    {
        var services = Host.App.Services;
        Host.Server.IsWarm.ShouldBeTrue();
        var notYet = new QueryPathWarmUp(services, Host.Server, Microsoft.Extensions.Logging.Abstractions.NullLogger<QueryPathWarmUp>.Instance);
        var check = new HeadModelHealthCheck(Host.Server, services.GetRequiredService<HeadFollowingState>(), services.GetRequiredService<HeadFollowingSettings>(), notYet);

        var result = await check.CheckHealthAsync(new HealthCheckContext());

        result.Status.ShouldBe(HealthStatus.Unhealthy);
        result.Description.ShouldNotBeNull().ShouldContain("query endpoint is warming up");
    }

    [Fact]
    public async Task the_warm_up_query_answers_and_leaves_no_query_record_while_a_clients_query_leaves_one()
    {
        var warmUp = Host.App.Services.GetRequiredService<QueryPathWarmUp>();
        var records = Host.App.Services.GetRequiredService<QueryRecordWriter>();
        await records.FlushAsync();
        var before = records.Written;

        (await warmUp.RunOnceAsync(CancellationToken.None)).ShouldBe(200);
        await records.FlushAsync();
        records.Written.ShouldBe(before);

        var c = Settings.Cases(1, seed: 91)[0];
        await Host.QueryAsync(c.Edit.Image, c.Edit.Prompt, readYourWrites: false);
        await records.FlushAsync();
        records.Written.ShouldBe(before + 1);
    }
}
