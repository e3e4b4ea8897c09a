using System.Net;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using LiveEdit.Hosting.Audit;
using LiveEdit.Hosting.Serving;
using LiveEdit.Inference.Auth;
using LiveEdit.Inference.Endpoints;
using LiveEdit.Ledger.Queries;
using LiveEdit.Testing;
using LiveEdit.Testing.Hosts;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Shouldly;
using Xunit;

namespace LiveEdit.System.Tests;

/// <summary>
/// Before <c>/health/ready</c> says Healthy the host sends real <c>POST /query</c> requests to its own address, so the first
/// client's query finds Kestrel's request path, the middleware, the form reader, the image decoder and the answer's
/// serializer compiled. Each request presents a warm-up key the process made for it: good once, for the query only. The
/// warm-up is no client's query: it leaves no query record and takes no record id, while a client's query does.
/// </summary>
[Collection(SystemCollection.Name)]
public sealed class warming_the_query_endpoint_before_ready(PostgresFixture postgres) : HostPerClass(postgres)
{
    [Fact]
    public async Task ready_comes_after_a_query_over_the_hosts_own_address()
    {
        var warmUp = Host.App.Services.GetRequiredService<QueryPathWarmUp>();
        warmUp.Done.ShouldBeTrue();
        warmUp.Route.ShouldBe(Host.Address.ToString());
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
        var c = Settings.Cases(1, seed: 91)[0];
        await Host.QueryAsync(c.Edit.Image, c.Edit.Prompt, readYourWrites: false);
        await records.FlushAsync();
        var before = records.Written;
        var (rows, lastId) = await StoredRecordsAsync();

        (await warmUp.RunOverHttpAsync(CancellationToken.None)).ShouldBe(200);
        (await warmUp.RunOnceAsync(CancellationToken.None)).ShouldBe(200);
        await records.FlushAsync();
        records.Written.ShouldBe(before);
        // The warm-up rehearses the record's statement selecting no row: nothing stored, and no record id taken (the next
        // client's record follows the last one without a gap).
        (await StoredRecordsAsync()).ShouldBe((rows, lastId));

        await Host.QueryAsync(c.Edit.Image, c.Edit.Prompt, readYourWrites: false);
        await records.FlushAsync();
        records.Written.ShouldBe(before + 1);
        (await StoredRecordsAsync()).ShouldBe((rows + 1, lastId + 1));
    }

    private async Task<(long Rows, long LastId)> StoredRecordsAsync()
    {
        await using var connection = new Npgsql.NpgsqlConnection(Postgres.ConnectionString);
        await connection.OpenAsync();
        await using var read = new Npgsql.NpgsqlCommand(
            $"select count(*), coalesce(max(id), 0) from {Schema}.{QueryRecordSchema.Table}",
            connection);
        await using var reader = await read.ExecuteReaderAsync();
        await reader.ReadAsync();
        return (reader.GetInt64(0), reader.GetInt64(1));
    }

    [Fact]
    public async Task a_warm_up_key_is_good_for_one_query_and_then_refused_like_any_unknown_key()
    {
        var key = Host.App.Services.GetRequiredService<WarmUpKey>().Issue();

        (await QueryWithAsync(key)).ShouldBe(HttpStatusCode.OK);
        (await QueryWithAsync(key)).ShouldBe(HttpStatusCode.Unauthorized);
        (await QueryWithAsync(UnknownKey())).ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task a_revoked_warm_up_key_or_one_replaced_by_a_newer_is_refused()
    {
        var warmUpKey = Host.App.Services.GetRequiredService<WarmUpKey>();
        var revoked = warmUpKey.Issue();
        warmUpKey.Revoke();
        (await QueryWithAsync(revoked)).ShouldBe(HttpStatusCode.Unauthorized);

        var replaced = warmUpKey.Issue();
        var newer = warmUpKey.Issue();
        (await QueryWithAsync(replaced)).ShouldBe(HttpStatusCode.Unauthorized);
        warmUpKey.Revoke();
        (await QueryWithAsync(newer)).ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task the_warm_up_caller_may_query_the_head_and_do_nothing_else()
    {
        var warmUpKey = Host.App.Services.GetRequiredService<WarmUpKey>();
        var c = Settings.Cases(1, seed: 92)[0];
        var png = c.Edit.Image!.ToPng();

        using (var client = Host.Client(warmUpKey.Issue()))
        using (var propose = await client.PostAsync("/edits", RunningHost.Form(png, ("prompt", c.Edit.Prompt), ("target", c.NewTarget), ("rationale", "warm-up"))))
            propose.StatusCode.ShouldBe(HttpStatusCode.Forbidden, await propose.Content.ReadAsStringAsync());
        foreach (var path in new[] { "/edits", "/ledger/head", "/routing-policy" })
        {
            using var client = Host.Client(warmUpKey.Issue());
            using var read = await client.GetAsync(path);
            read.StatusCode.ShouldBe(HttpStatusCode.Forbidden, $"{path}: {await read.Content.ReadAsStringAsync()}");
        }
        (await QueryWithAsync(warmUpKey.Issue(), ("asOf", "0"))).ShouldBe(HttpStatusCode.Forbidden);
        warmUpKey.Revoke();
    }

    private async Task<HttpStatusCode> QueryWithAsync(string key, params (string Name, string Value)[] extra)
    {
        var c = Settings.Cases(1, seed: 93)[0];
        using var client = Host.Client(key);
        using var response = await client.PostAsync("/query", RunningHost.Form(c.Edit.Image!.ToPng(), [("prompt", c.Edit.Prompt), .. extra]));
        return response.StatusCode;
    }

    private static string UnknownKey() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
