using LiveEdit.Ledger.Edits;
using LiveEdit.Testing;
using Shouldly;
using Xunit;

namespace LiveEdit.Ledger.Tests;

/// <summary>
/// The active set finds activations and removals through a partial index of their own (an index-only scan), so its cost
/// follows the activations, not every event; a ledger that has authenticated nothing yet reads the same set as a warm
/// one; and what a warm ledger remembers of authenticated events never lets a forged row in.
/// </summary>
[Collection(Collections.Postgres)]
public sealed class reading_the_active_set_at_scale(PostgresFixture db) : IAsyncLifetime
{
    private TestLedger _t = null!;
    public async Task InitializeAsync() => _t = await TestLedger.CreateAsync(db, GetType());
    public async Task DisposeAsync() => await _t.DisposeAsync();

    [Fact]
    public async Task the_active_set_query_can_read_through_the_active_road_index()
    {
        await _t.ActiveEditAsync();
        var head = await _t.Ledger.GetHeadAsync();
        // The index's predicate must match the query's word for word, or the planner never uses it: ask for its plan with
        // sequential scans priced out, and the index must be in it.
        await using var connection = new Npgsql.NpgsqlConnection(_t.ConnectionString);
        await connection.OpenAsync();
        await using (var off = new Npgsql.NpgsqlCommand("set enable_seqscan = off; set enable_bitmapscan = off", connection)) await off.ExecuteNonQueryAsync();
        await using var explain = new Npgsql.NpgsqlCommand($"""
            explain select a.seq_id from {_t.Schema}.mt_events a
            where a.seq_id <= {head} and a.type in ('edit_activated', 'edit_retracted', 'edit_superseded')
            order by a.seq_id
            """, connection);
        var plan = new List<string>();
        await using (var reader = await explain.ExecuteReaderAsync())
            while (await reader.ReadAsync()) plan.Add(reader.GetString(0));
        string.Join("\n", plan).ShouldContain("Index Only Scan using ledger_active_road");
    }

    [Fact]
    public async Task the_active_road_index_is_there_after_every_schema_update()
    {
        // Marten's migration drops indexes it was not configured with; the ledger's schema step puts this one back.
        const string Count = "select count(*) from pg_indexes where schemaname = '{schema}' and indexname = 'ledger_active_road'";
        (await _t.ScalarAsync<long>(Count)).ShouldBe(1);
        await _t.Ledger.EnsureSchemaAsync();
        (await _t.ScalarAsync<long>(Count)).ShouldBe(1);
    }

    [Fact]
    public async Task a_fresh_ledger_that_authenticates_every_row_reads_the_same_set_as_a_warm_one()
    {
        var ids = new List<Guid>();
        for (var i = 0; i < 6; i++) ids.Add(await _t.ActiveEditAsync());
        await _t.Ledger.RetractAsync(new RetractEdit(ids[2], "carol", "wrong"));
        var superseding = await _t.ActiveEditAsync(supersedes: ids[4]);
        var warm = await _t.Ledger.GetActiveExpertsAsync();

        var cold = await _t.OtherProcess().GetActiveExpertsAsync();

        cold.Version.ShouldBe(warm.Version);
        cold.Experts.ShouldBe(warm.Experts);
        cold.EditIds.ShouldBe([ids[0], ids[1], ids[3], ids[5], superseding]);
    }
}
