using System.Net;
using System.Text.Json.Nodes;
using LiveEdit.Hosting.Serving;
using LiveEdit.Testing;
using Npgsql;
using Shouldly;
using Xunit;

namespace LiveEdit.System.Tests;

/// <summary>
/// An expert blob corrupted or deleted in SQL (as the database superuser, with the blob table's triggers disabled) is an
/// incident, not an outage: after a restart the host leaves that expert out of every answer with a warning naming it,
/// serves text-only queries and every other expert as before, reports Degraded naming it, and `verify --experts` names
/// it by edit.
/// </summary>
[Collection(SystemCollection.Name)]
public sealed class serving_around_a_broken_expert(PostgresFixture postgres) : HostPerClass(postgres)
{
    private Dictionary<string, string?> _settings = [];
    private string _schema = "", _connection = "";

    protected override Dictionary<string, string?> Configure(PostgresFixture postgres, string schema)
    {
        (_schema, _connection) = (schema, postgres.ConnectionString);
        return _settings = Settings.InMemory(postgres, schema);
    }

    [Fact]
    public async Task the_broken_experts_are_left_out_with_a_warning_and_everything_else_is_served()
    {
        var cases = Settings.Cases(3, seed: 41);
        var ids = new List<Guid>();
        foreach (var c in cases) ids.Add(await Host.ProposeAsync(c));
        foreach (var id in ids) await Host.WaitForStatusAsync(id, "Active", TimeSpan.FromSeconds(60));
        var corrupt = (await Host.Ledger.GetEditAsync(ids[0])).ExpertSha256!;
        var deleted = (await Host.Ledger.GetEditAsync(ids[1])).ExpertSha256!;
        var healthyAnswer = (await Host.QueryAsync(cases[2].Edit.Image, cases[2].Edit.Prompt))["answer"]!.GetValue<string>();
        var textAnswer = (await Host.QueryAsync(null, "what is the capital of ora?"))["answer"]!.GetValue<string>();

        await TamperAsync($"update {_schema}.ledger_blobs set content = content || '\\x00'::bytea where sha256 = '{corrupt}'");
        await TamperAsync($"delete from {_schema}.ledger_blobs where sha256 = '{deleted}'");

        // A restart: a fresh host on the same ledger reads every active expert from the blob store again.
        var settings = new Dictionary<string, string?>(_settings) { ["Workers:InProcess"] = "false" };
        await using var restarted = await RunningHost.StartAsync(settings);

        var text = await restarted.QueryAsync(null, "what is the capital of ora?");
        text["answer"]!.GetValue<string>().ShouldBe(textAnswer);
        var warnings = text["warnings"]!.AsArray().Select(w => w!.GetValue<string>()).ToList();
        warnings.Count.ShouldBe(2);
        warnings.ShouldContain(w => w.Contains(ids[0].ToString()) && w.Contains("corrupt"));
        warnings.ShouldContain(w => w.Contains(ids[1].ToString()) && w.Contains("missing"));

        var withImage = await restarted.QueryAsync(cases[0].Edit.Image, cases[0].Edit.Prompt);
        Fired(withImage).ShouldNotContain(ids[0], "the corrupt expert is left out");
        withImage["skippedExperts"]!.AsArray().Select(s => s!["editId"]!.GetValue<Guid>()).ShouldBe([ids[0], ids[1]], ignoreOrder: true);

        var other = await restarted.QueryAsync(cases[2].Edit.Image, cases[2].Edit.Prompt);
        other["answer"]!.GetValue<string>().ShouldBe(healthyAnswer, "the intact expert still answers");
        Fired(other).ShouldContain(ids[2]);

        using var client = restarted.Client(RunningHost.AuditorKey);
        using var ready = await client.GetAsync("/health/ready");
        var body = await ready.Content.ReadAsStringAsync();
        ready.StatusCode.ShouldBe(HttpStatusCode.OK, body);
        var report = JsonNode.Parse(body)!;
        report["status"]!.GetValue<string>().ShouldBe("Degraded");
        body.ShouldContain(ids[0].ToString());
        body.ShouldContain(ids[1].ToString());

        var verification = await ExpertVerification.VerifyAsync(restarted.Ledger, restarted.Runtime);
        verification.AllIntact.ShouldBeFalse();
        verification.BrokenBlobs.ShouldContain(b => b.EditId == ids[0] && b.Role == "expert" && b.Problem == "corrupt");
        verification.BrokenBlobs.ShouldContain(b => b.EditId == ids[1] && b.Role == "expert" && b.Problem == "missing");
        verification.BrokenBlobs.Count.ShouldBe(2);

        // Retracting the two edits takes their experts out of the head model: the incident closes, the host is Healthy.
        foreach (var id in ids.Take(2)) await restarted.Ledger.RetractAsync(new LiveEdit.Ledger.Edits.RetractEdit(id, "dana", "expert blob damaged"));
        (await restarted.QueryAsync(null, "what is the capital of ora?"))["warnings"]!.AsArray().ShouldBeEmpty();
        using var again = await client.GetAsync("/health/ready");
        JsonNode.Parse(await again.Content.ReadAsStringAsync())!["status"]!.GetValue<string>().ShouldBe("Healthy");
    }

    private static IReadOnlyList<Guid> Fired(JsonNode answer) => answer["experts"]!.AsArray().Select(e => e!["editId"]!.GetValue<Guid>()).ToList();

    /// <summary>Runs SQL as the test's database user (a superuser), with the blob table's triggers off for the statement.</summary>
    private async Task TamperAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(_connection);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            $"alter table {_schema}.ledger_blobs disable trigger user; {sql}; alter table {_schema}.ledger_blobs enable trigger user;", connection);
        await command.ExecuteNonQueryAsync();
    }
}
