using LiveEdit.Ledger.Edits;
using LiveEdit.Testing;
using Npgsql;
using Shouldly;
using Xunit;

namespace LiveEdit.Ledger.Tests;

/// <summary>
/// The reconciler's question — which edits still need an expert — is answered from a partial index of the waiting
/// summaries, so a pass costs what is waiting, not every edit the ledger holds; and the answer is the same as before:
/// proposed or approved edits with no expert, oldest proposal first.
/// </summary>
[Collection(Collections.Postgres)]
public sealed class finding_work_awaiting_an_expert(PostgresFixture db) : IAsyncLifetime
{
    private TestLedger _t = null!;
    public async Task InitializeAsync() => _t = await TestLedger.CreateAsync(db, GetType());
    public async Task DisposeAsync() => await _t.DisposeAsync();

    [Fact]
    public async Task only_proposed_and_approved_edits_without_an_expert_are_listed_oldest_first()
    {
        var proposed = await _t.ProposeAsync();
        var approved = await _t.ProposeAsync();
        await _t.Ledger.ApproveAsync(new ApproveEdit(approved, "bob"));
        var generated = await _t.ProposeAsync();
        await _t.RecordExpertAsync(generated);
        var active = await _t.ActiveEditAsync();
        var rejected = await _t.ProposeAsync();
        await _t.Ledger.RejectAsync(new RejectEdit(rejected, "bob", "not needed"));
        var later = await _t.ProposeAsync();

        var waiting = await _t.Ledger.ListEditsAwaitingExpertAsync();
        waiting.Select(e => e.Id).ShouldBe([proposed, approved, later]);
        (await _t.Ledger.ListEditsAwaitingExpertAsync(take: 2)).Select(e => e.Id).ShouldBe([proposed, approved]);
        waiting.Select(e => e.Id).ShouldNotContain(active);
    }

    [Fact]
    public async Task the_query_reads_through_the_awaiting_expert_index_and_marten_keeps_it()
    {
        await _t.ProposeAsync();
        await _t.ActiveEditAsync();
        // Marten's own migration runs again (as every migrate does, and as a host that may create schema objects does): it
        // must leave the ledger's index be, or an application role that cannot drop it fails on its first query.
        await _t.Store.Storage.ApplyAllConfiguredChangesToDatabaseAsync();
        await using var connection = new NpgsqlConnection(_t.ConnectionString);
        await connection.OpenAsync();
        await using (var off = new NpgsqlCommand("set enable_seqscan = off", connection)) await off.ExecuteNonQueryAsync();
        // The reconciler's query as the ledger sends it (the same predicate text): with sequential scans priced out the plan
        // must go through the partial index, which it can only do when the predicates match.
        await using var explain = new NpgsqlCommand(
            $"explain select d.data from {_t.Schema}.mt_doc_editsummary as d where {EditLedger.AwaitingExpertPredicate} " +
            "order by (data ->> 'proposedAt')::timestamptz, id limit 1000", connection);
        var plan = new List<string>();
        await using (var reader = await explain.ExecuteReaderAsync())
            while (await reader.ReadAsync()) plan.Add(reader.GetString(0));
        string.Join("\n", plan).ShouldContain(EditLedger.AwaitingExpertIndex);
    }
}
