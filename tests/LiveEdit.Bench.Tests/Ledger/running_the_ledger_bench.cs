using LiveEdit.Bench.Ledger;
using LiveEdit.Testing;
using Npgsql;
using Shouldly;
using Xunit;

namespace LiveEdit.Bench.Tests.Ledger;

/// <summary>The ledger benchmark writes only into a schema of its own, and never drops one it did not make.</summary>
[Collection(Collections.Postgres)]
public sealed class running_the_ledger_bench(PostgresFixture db) : IAsyncLifetime
{
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

    private async Task<T?> ScalarAsync<T>(string sql)
    {
        await using var connection = new NpgsqlConnection(db.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync() is T value ? value : default;
    }

    private Task<LedgerBenchResult> RunAsync() => LedgerBench.RunAsync(db.ConnectionString, 20, TextWriter.Null, _schema, writers: 2);

    [Fact]
    public async Task a_new_schema_is_made_marked_and_made_again_on_the_next_run()
    {
        var first = await RunAsync();
        first.Schema.ShouldBe(_schema);
        first.ActiveAtHead.ShouldBe(18, "20 edits, every tenth retracted");
        (await ScalarAsync<string>($"select obj_description('{_schema}'::regnamespace, 'pg_namespace')")).ShouldBe(LedgerBench.Marker);

        var second = await RunAsync();
        second.Events.ShouldBe(first.Events, "the second run starts from an empty schema again");
        second.HeadVersion.ShouldBe(first.HeadVersion);
    }

    [Fact]
    public async Task a_schema_holding_anything_it_did_not_make_is_refused_and_left_as_it_was()
    {
        await ExecuteAsync($"create schema {_schema}; create table {_schema}.precious (id int); insert into {_schema}.precious values (42);");

        var refused = await Should.ThrowAsync<InvalidOperationException>(RunAsync);

        refused.Message.ShouldContain($"schema '{_schema}' (from --schema)");
        refused.Message.ShouldContain("Nothing was changed");
        (await ScalarAsync<int>($"select id from {_schema}.precious")).ShouldBe(42);
        (await ScalarAsync<bool>($"select to_regclass('{_schema}.mt_events') is null")).ShouldBeTrue("nothing of a ledger was added");
    }

    [Fact]
    public async Task an_empty_schema_of_the_user_is_filled_but_never_dropped()
    {
        await ExecuteAsync($"create schema {_schema}");

        (await RunAsync()).ActiveAtHead.ShouldBe(18);
        (await ScalarAsync<string>($"select obj_description('{_schema}'::regnamespace, 'pg_namespace')")).ShouldBeNull("the benchmark did not make it");
        await Should.ThrowAsync<InvalidOperationException>(RunAsync);
        (await ScalarAsync<long>($"select count(*) from {_schema}.mt_events")).ShouldBeGreaterThan(0, "the earlier run's ledger is still there");
    }

    [Theory]
    [InlineData("ledger; drop schema public cascade")]
    [InlineData("Ledger")]
    public async Task a_schema_name_that_is_no_plain_identifier_is_refused(string name)
    {
        var refused = await Should.ThrowAsync<ArgumentException>(() => LedgerBench.RunAsync(db.ConnectionString, 20, TextWriter.Null, name));
        refused.Message.ShouldContain("--schema");
    }
}
