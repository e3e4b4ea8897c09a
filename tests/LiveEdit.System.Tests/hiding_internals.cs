using System.Net;
using System.Text.Json.Nodes;
using LiveEdit.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Shouldly;
using Xunit;

namespace LiveEdit.System.Tests;

/// <summary>An unexpected error answers 500 with a trace id only; its message (SQL, internals) only in a Development run.</summary>
[Collection(SystemCollection.Name)]
public sealed class hiding_internals(PostgresFixture postgres) : SchemaPerClass(postgres)
{
    private const string Internals = "select secret from ledger.mt_events where id = 42 (Npgsql.PostgresException)";

    /// <summary>A path no endpoint serves that fails the way a driver would, inside the host's error handling.</summary>
    private sealed class FailingPath : IStartupFilter
    {
        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            next(app);
            app.Run(context => context.Request.Path == "/fail" ? throw new InvalidOperationException(Internals) : Task.CompletedTask);
        };
    }

    private async Task<(HttpStatusCode Status, string Body)> FailAsync(string environment)
    {
        await using var host = await RunningHost.StartAsync(Settings.InMemory(Postgres, Schema), environment: environment,
            configure: b => b.Services.AddSingleton<IStartupFilter, FailingPath>());
        using var client = host.Client(null);
        using var response = await client.GetAsync("/fail");
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task outside_development_a_500_carries_a_trace_id_and_no_exception_text()
    {
        var (status, body) = await FailAsync("Production");
        status.ShouldBe(HttpStatusCode.InternalServerError);
        var problem = JsonNode.Parse(body)!;
        problem["code"]!.GetValue<string>().ShouldBe("internal");
        var trace = problem["traceId"]!.GetValue<string>();
        problem["detail"]!.GetValue<string>().ShouldContain(trace);
        body.ShouldNotContain("select", Case.Insensitive);
        body.ShouldNotContain("Npgsql");
        body.ShouldNotContain("Exception");
    }

    [Fact]
    public async Task in_a_development_run_a_500_shows_the_message()
    {
        var (status, body) = await FailAsync("Development");
        status.ShouldBe(HttpStatusCode.InternalServerError);
        JsonNode.Parse(body)!["detail"]!.GetValue<string>().ShouldBe(Internals);
    }
}
