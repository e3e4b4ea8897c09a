using LiveEdit.Bench.Ledger;
using LiveEdit.Hosting.Serving;
using LiveEdit.Testing;
using Npgsql;
using Shouldly;
using Xunit;

namespace LiveEdit.Bench.Tests.Ledger;

/// <summary>
/// The cold-start benchmark builds a small ledger of real-shaped experts in a schema of its own, starts a host on it as
/// after a restart and reports what it measured; a second run measures the kept ledger without building it again.
/// </summary>
[Collection(Collections.Postgres)]
public sealed class measuring_a_cold_start(PostgresFixture db) : IAsyncLifetime
{
    private const int Active = 60;
    private string _schema = "";

    public async Task InitializeAsync()
    {
        _schema = PostgresFixture.SchemaNameFor(GetType());
        await ExecuteAsync($"drop schema if exists {_schema} cascade");
    }

    public Task DisposeAsync() => ExecuteAsync($"drop schema if exists {_schema} cascade");

    private async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(db.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    private Task<ColdStartResult> RunAsync(bool reuse) =>
        ColdStartBench.RunAsync(db.ConnectionString, new ModelSettings().ResolvedAgainst(RepositoryRoot.Path), Active, TextWriter.Null, _schema, reuse, queries: 5);

    [Fact]
    public async Task a_host_started_on_the_built_ledger_holds_every_active_expert_and_reports_each_phase()
    {
        var built = await RunAsync(reuse: false);

        built.Schema.ShouldBe(_schema);
        built.Sync.ShouldNotBeNull();
        built.Sync.Experts.ShouldBe(Active - Active / 20, "every twentieth edit is retracted");
        built.Sync.BlobsRead.ShouldBe(built.Sync.Experts, "a fresh host reads every expert blob once");
        built.Sync.Skipped.ShouldBe(0);
        built.ReadyMs.ShouldBeGreaterThanOrEqualTo(built.SyncMs);
        built.MeanSurvivors.ShouldBeGreaterThan(0, "the queries' images are the edits' own: their experts fire");
        built.ActiveSets.Select(s => s.Experts).ShouldAllBe(n => n > 0);
        built.ActiveSets[0].Experts.ShouldBe(Active - Active / 20);
        built.PastExperts.ShouldBeGreaterThanOrEqualTo(Active - Active / 20, "fewer than 5,000 experts: the version at which the last one still active was activated");

        var again = await RunAsync(reuse: true);
        again.HeadVersion.ShouldBe(built.HeadVersion, "the kept ledger is measured as it was, not built again");
        again.Sync!.Experts.ShouldBe(built.Sync.Experts);
    }
}
