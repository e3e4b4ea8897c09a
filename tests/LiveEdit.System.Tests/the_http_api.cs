using System.Net;
using System.Text.Json.Nodes;
using LiveEdit.Testing;
using Shouldly;
using Xunit;

namespace LiveEdit.System.Tests;

[Collection(SystemCollection.Name)]
public sealed class the_http_api(PostgresFixture postgres) : SchemaPerClass(postgres)
{
    [Fact]
    public async Task describes_itself_in_an_openapi_document_and_answers_health_checks()
    {
        await using var host = await RunningHost.StartAsync(Settings.InMemory(Postgres, Schema));
        using var anonymous = host.Client(null);
        (await anonymous.GetAsync("/health/live")).StatusCode.ShouldBe(HttpStatusCode.OK);
        (await anonymous.GetAsync("/health/ready")).StatusCode.ShouldBe(HttpStatusCode.OK);

        var document = JsonNode.Parse(await anonymous.GetStringAsync("/openapi/v1.json"))!;
        var paths = document["paths"]!.AsObject().Select(p => p.Key).ToList();
        paths.ShouldContain("/edits");
        paths.ShouldContain("/edits/{id}/approve");
        paths.ShouldContain("/edits/{id}/retract");
        paths.ShouldContain("/query");
        paths.ShouldContain("/ledger/versions");
        paths.ShouldContain("/ledger/diff");
    }

    [Fact]
    public async Task records_who_did_what_under_the_callers_name()
    {
        await using var host = await RunningHost.StartAsync(Settings.InMemory(Postgres, Schema, policy: "FourEyes"));
        var id = await host.ProposeAsync(Settings.Cases(1, seed: 17)[0]);
        using (var bob = host.Client(RunningHost.ApproverKey))
            (await bob.PostAsync($"/edits/{id}/approve", null)).StatusCode.ShouldBe(HttpStatusCode.OK);
        var summary = await host.Ledger.GetEditAsync(id);
        summary.ProposedBy.ShouldBe("alice");
        summary.ApprovedBy.ShouldBe("bob");

        using var carol = host.Client(RunningHost.AuditorKey);
        var shown = JsonNode.Parse(await carol.GetStringAsync($"/edits/{id}"))!;
        shown["edit"]!["proposedBy"]!.ToString().ShouldBe("alice");
        shown["history"]!.AsArray().Select(h => h!["type"]!.ToString()).ShouldContain("EditApproved");
    }
}
