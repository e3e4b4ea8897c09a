using System.Net;
using LiveEdit.Ledger.Edits;
using LiveEdit.Ledger.Versions;
using LiveEdit.Testing;
using Npgsql;
using Shouldly;
using Xunit;

namespace LiveEdit.System.Tests;

/// <summary>
/// An edit the model can never learn is refused at proposal with the limit named, and stores nothing; one that reaches a
/// worker anyway (recorded past the check) is recorded as Failed with its reason, once, and never retried.
/// </summary>
[Collection(SystemCollection.Name)]
public sealed class refusing_work_that_can_never_succeed(PostgresFixture postgres) : HostPerClass(postgres)
{
    private string _schema = "", _connection = "";

    protected override Dictionary<string, string?> Configure(PostgresFixture postgres, string schema)
    {
        (_schema, _connection) = (schema, postgres.ConnectionString);
        return Settings.InMemory(postgres, schema);
    }

    private static string LongTarget => string.Join(' ', Enumerable.Repeat("the red golem of the north", 7)); // 42 words

    [Fact]
    public async Task a_42_word_target_is_refused_at_proposal_naming_the_limit_and_nothing_is_stored()
    {
        var c = Settings.Cases(1, seed: 51)[0];
        var (head, blobs) = (await Host.Ledger.GetHeadAsync(), await CountBlobsAsync());
        using var client = Host.Client(RunningHost.ProposerKey);
        using var response = await client.PostAsync("/edits", RunningHost.Form(c.Edit.Image!.ToPng(),
            ("prompt", c.Edit.Prompt), ("target", LongTarget), ("rationale", "test")));
        var body = await response.Content.ReadAsStringAsync();

        response.StatusCode.ShouldBe(HttpStatusCode.UnprocessableEntity, body);
        body.ShouldContain("'target' is 42 tokens; the model answers with at most 8");
        (await Host.Ledger.GetHeadAsync()).ShouldBe(head);
        (await CountBlobsAsync()).ShouldBe(blobs, "a refused proposal stores no image");
    }

    [Fact]
    public async Task a_target_the_model_cannot_express_is_refused_rather_than_learned_as_unknown()
    {
        var c = Settings.Cases(1, seed: 52)[0];
        using var client = Host.Client(RunningHost.ProposerKey);
        using var response = await client.PostAsync("/edits", RunningHost.Form(c.Edit.Image!.ToPng(),
            ("prompt", c.Edit.Prompt), ("target", "qwxzy"), ("rationale", "test")));
        var body = await response.Content.ReadAsStringAsync();

        response.StatusCode.ShouldBe(HttpStatusCode.UnprocessableEntity, body);
        body.ShouldContain("'target' contains words the model cannot express: qwxzy");
    }

    [Fact]
    public async Task a_query_prompt_longer_than_the_model_reads_is_refused_naming_the_limit()
    {
        var c = Settings.Cases(1, seed: 54)[0];
        using var client = Host.Client(RunningHost.AuditorKey);
        using var response = await client.PostAsync("/query", RunningHost.Form(c.Edit.Image!.ToPng(), ("prompt", LongTarget)));
        var body = await response.Content.ReadAsStringAsync();

        response.StatusCode.ShouldBe(HttpStatusCode.UnprocessableEntity, body);
        body.ShouldContain("'prompt' is 42 tokens; with an image (16 tokens) the model reads at most 31 prompt tokens");
    }

    [Fact]
    public async Task an_edit_recorded_past_the_check_ends_failed_with_its_reason_and_is_not_retried()
    {
        var c = Settings.Cases(1, seed: 53)[0];
        var image = await Host.Ledger.Blobs.PutAsync(c.Edit.Image!.ToPng());
        var id = Guid.NewGuid();
        await Host.Ledger.ProposeAsync(new ProposeEdit(id, image, c.Edit.Prompt, LongTarget, "test", "alice")); // the ledger does not know the model

        await Host.WaitForStatusAsync(id, "Failed", TimeSpan.FromSeconds(60)); // the reconciler sends the work after 5 s
        await Task.Delay(TimeSpan.FromSeconds(8)); // several more reconciler passes

        var history = (await Host.Ledger.GetHistoryAsync(id)).Select(h => h.Event).ToList();
        var failed = history.OfType<ExpertGenerationFailed>().ShouldHaveSingleItem();
        failed.Code.ShouldBe("target_too_long");
        failed.Reason.ShouldContain("42 tokens");
        history.OfType<ExpertGenerated>().ShouldBeEmpty();
        var summary = await Host.Ledger.GetEditAsync(id);
        summary.Status.ShouldBe(EditStatus.Failed);
        summary.Reason!.ShouldContain("42 tokens");
        (await Host.Ledger.ListEditsAwaitingExpertAsync()).Select(e => e.Id).ShouldNotContain(id, "the reconciler sends it no more");
        (await Host.Ledger.ListVersionsAsync()).ShouldContain(v => v.EditId == id && v.Change == LedgerChange.GenerationFailed);
        (await Host.Ledger.VerifyAsync()).IsIntact.ShouldBeTrue("the failure is a chained event");
    }

    private async Task<long> CountBlobsAsync()
    {
        await using var connection = new NpgsqlConnection(_connection);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"select count(*) from {_schema}.ledger_blobs", connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }
}
