using LiveEdit.Bench.Fixtures;
using LiveEdit.Hosting.Serving;
using LiveEdit.Ledger;
using LiveEdit.Model.Editor;
using LiveEdit.Research.World;
using LiveEdit.Testing;
using Npgsql;
using Shouldly;
using Xunit;

namespace LiveEdit.Bench.Tests;

/// <summary>
/// The fixture builder appends real, active experts through the ledger's commands (chain intact, blobs stored), and
/// the same seed gives the same edits and expert bytes.
/// </summary>
[Collection(Collections.Postgres)]
public sealed class building_a_ledger_fixture(PostgresFixture db) : IAsyncLifetime, IDisposable
{
    private readonly string _schema = PostgresFixture.SchemaNameFor(typeof(building_a_ledger_fixture));
    private readonly ModelRuntime _runtime = ModelRuntime.Load(new ModelSettings().ResolvedAgainst(RepositoryRoot.Path));

    public Task InitializeAsync() => ExecuteAsync($"drop schema if exists {_schema} cascade");

    public Task DisposeAsync() => ExecuteAsync($"drop schema if exists {_schema} cascade");

    public void Dispose() => _runtime.Dispose();

    private async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(db.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    [Fact]
    public async Task every_edit_becomes_active_through_the_ledger_with_its_expert_stored()
    {
        await using var store = LedgerStore.Create(db.ConnectionString, _schema);
        var ledger = new EditLedger(store, new LedgerOptions { Policy = ApprovalPolicy.AutoApprove, ChainKey = LedgerChainKey.NewRandom() });
        await ledger.EnsureSchemaAsync();

        var result = await LedgerFixture.BuildAsync(ledger, _runtime.Model, _runtime.Editor, experts: 20, seed: 3, batch: 8, writers: 2);

        result.ActiveAtHead.ShouldBe(20);
        var active = await ledger.GetActiveExpertsAsync();
        active.EditIds.ToHashSet().SetEquals(Enumerable.Range(0, 20).Select(i => LedgerFixture.EditId(3, i))).ShouldBeTrue("the seed's ids, all active");
        (await ledger.VerifyAsync()).IsIntact.ShouldBeTrue();
        foreach (var a in active.Experts)
        {
            var expert = Expert.FromBytes(await ledger.Blobs.GetAsync(a.ExpertSha256));
            expert.GeneratorSha256.ShouldBe(_runtime.Editor.GeneratorSha256);
            expert.BaseSha256.ShouldBe(_runtime.Model.WeightsSha256);
        }
    }

    [Fact]
    public void the_same_cases_give_the_same_expert_bytes_and_each_is_the_cases_own()
    {
        var cases = new SynthWorld(WorldConfig.Default).EditCases(EditSplit.EditorEval, 6, seed: 3);

        var first = LedgerFixture.Generate(_runtime.Model, _runtime.Editor, cases);
        var again = LedgerFixture.Generate(_runtime.Model, _runtime.Editor, cases);

        first.Select(e => Convert.ToHexString(e.ToBytes())).ShouldBe(again.Select(e => Convert.ToHexString(e.ToBytes())));
        first.Select(e => Convert.ToHexString(e.ToBytes())).Distinct().Count().ShouldBe(6, "one expert of its own per case");
    }
}
