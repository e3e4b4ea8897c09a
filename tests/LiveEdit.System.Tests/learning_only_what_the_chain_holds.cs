using LiveEdit.Hosting.Serving;
using LiveEdit.Ledger.Edits;
using LiveEdit.Testing;
using Npgsql;
using Shouldly;
using Xunit;

namespace LiveEdit.System.Tests;

/// <summary>
/// The expert worker and `verify --experts` take image, prompt and target from the chained <c>EditProposed</c> event.
/// An insider who rewrites the target in the summary table (as the database superuser, in SQL) teaches the model nothing
/// and fools no verification.
/// </summary>
[Collection(SystemCollection.Name)]
public sealed class learning_only_what_the_chain_holds(PostgresFixture postgres) : HostPerClass(postgres)
{
    private string _schema = "", _connection = "";

    protected override Dictionary<string, string?> Configure(PostgresFixture postgres, string schema)
    {
        (_schema, _connection) = (schema, postgres.ConnectionString);
        return Settings.InMemory(postgres, schema);
    }

    [Fact]
    public async Task a_target_changed_in_the_summary_table_before_the_worker_runs_is_not_learned()
    {
        var c = Settings.Cases(2, seed: 31)[0];
        var forged = Settings.Cases(2, seed: 31)[1].NewTarget;
        forged.ShouldNotBe(c.NewTarget);
        // Recorded straight in the ledger: no work is sent, so the summary can be changed before any worker reads it.
        var image = await Host.Ledger.Blobs.PutAsync(c.Edit.Image!.ToPng());
        var id = Guid.NewGuid();
        await Host.Ledger.ProposeAsync(new ProposeEdit(id, image, c.Edit.Prompt, c.NewTarget, "test", "alice"));
        await SetSummaryTargetAsync(id, forged);
        (await Host.Ledger.GetEditAsync(id)).Target.ShouldBe(forged, "the insider's change is in the table the worker used to read");

        await Host.WaitForStatusAsync(id, "Active", TimeSpan.FromSeconds(60)); // the reconciler sends the work

        var recorded = (await Host.Ledger.GetHistoryAsync(id)).Select(h => h.Event).OfType<ExpertGenerated>().Single();
        var original = await Host.Runtime.GenerateAsync(c.Edit.Image!, c.Edit.Prompt, c.NewTarget);
        var learnedForged = await Host.Runtime.GenerateAsync(c.Edit.Image!, c.Edit.Prompt, forged);
        recorded.ExpertSha256.ShouldBe(original.Sha256, "the expert is made from the chained target");
        recorded.ExpertSha256.ShouldNotBe(learnedForged.Sha256);
    }

    [Fact]
    public async Task verify_experts_regenerates_from_the_chain_and_names_an_expert_learned_from_a_changed_summary()
    {
        var c = Settings.Cases(2, seed: 32)[0];
        var forged = Settings.Cases(2, seed: 32)[1].NewTarget;
        // A worker fooled by the table (one that reads the projection row) records the expert of the forged target. Made first, so that
        // it is recorded well before the host's own worker would take the edit (the reconciler waits 5 s).
        var fooled = await Host.Runtime.GenerateAsync(c.Edit.Image!, c.Edit.Prompt, forged);
        var sha = await Host.Ledger.Blobs.PutAsync(fooled.ToBytes());
        var image = await Host.Ledger.Blobs.PutAsync(c.Edit.Image!.ToPng());
        var id = Guid.NewGuid();
        await Host.Ledger.ProposeAsync(new ProposeEdit(id, image, c.Edit.Prompt, c.NewTarget, "test", "alice"));
        await SetSummaryTargetAsync(id, forged);
        await Host.Ledger.RecordExpertAsync(new RecordExpert(id, sha, fooled.GeneratorSha256, fooled.BaseSha256, fooled.Rank, fooled.HiddenSize,
            "fooled-worker", 1, fooled.KeyRows, fooled.ModuleDim, fooled.VisualKey.ToArray()));
        await SetSummaryTargetAsync(id, forged); // the append rewrote the row from the chain; the insider writes it again

        var report = await ExpertVerification.VerifyAsync(Host.Ledger, Host.Runtime);

        var mismatch = report.Different.ShouldHaveSingleItem();
        mismatch.EditId.ShouldBe(id);
        mismatch.RecordedSha256.ShouldBe(fooled.Sha256);
        mismatch.WorkerId.ShouldBe("fooled-worker");
        report.AllIntact.ShouldBeFalse();
    }

    private async Task SetSummaryTargetAsync(Guid id, string target)
    {
        await using var connection = new NpgsqlConnection(_connection);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            $"update {_schema}.mt_doc_editsummary set data = jsonb_set(data, '{{target}}', to_jsonb(@t::text)) where id = @id", connection);
        command.Parameters.AddWithValue("t", target);
        command.Parameters.AddWithValue("id", id);
        (await command.ExecuteNonQueryAsync()).ShouldBe(1);
    }
}
