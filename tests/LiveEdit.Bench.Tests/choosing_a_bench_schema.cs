using LiveEdit.Testing;
using Npgsql;
using Shouldly;
using Xunit;

namespace LiveEdit.Bench.Tests;

/// <summary>
/// Every bench command and the demo write only into a schema of their own: named, configured or fresh; a schema
/// holding anything no benchmark made is refused and left as it was; only a marked schema is ever dropped.
/// </summary>
[Collection(Collections.Postgres)]
public sealed class choosing_a_bench_schema(PostgresFixture db) : IAsyncLifetime
{
    private const string Prefix = "t_bench_schema";
    private readonly string _schema = PostgresFixture.SchemaNameFor(typeof(choosing_a_bench_schema));

    public Task InitializeAsync() => DropOursAsync();

    public Task DisposeAsync() => DropOursAsync();

    private async Task DropOursAsync()
    {
        await using var connection = new NpgsqlConnection(db.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            $"select format('drop schema %I cascade', nspname) from pg_namespace where nspname = '{_schema}' or nspname like '{Prefix}%'", connection);
        var drops = new List<string>();
        await using (var reader = await command.ExecuteReaderAsync())
            while (await reader.ReadAsync()) drops.Add(reader.GetString(0));
        foreach (var drop in drops) await ExecuteAsync(drop);
    }

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

    private Task<PreparedSchema> PrepareAsync(string schema, SchemaOrigin origin = SchemaOrigin.Option) =>
        BenchSchema.PrepareAsync(db.OwnerConnectionString, schema, origin, "liveedit bench run");

    [Fact]
    public async Task a_schema_holding_someone_elses_tables_is_refused_and_left_intact()
    {
        await ExecuteAsync($"create schema {_schema}; create table {_schema}.precious (id int); insert into {_schema}.precious values (42);");

        var refused = await Should.ThrowAsync<InvalidOperationException>(() => PrepareAsync(_schema, SchemaOrigin.Configuration));

        refused.Message.ShouldContain($"schema '{_schema}' (from Ledger__Schema)");
        refused.Message.ShouldContain("Nothing was changed");
        (await ScalarAsync<int>($"select id from {_schema}.precious")).ShouldBe(42);
        (await ScalarAsync<string>($"select obj_description('{_schema}'::regnamespace, 'pg_namespace')")).ShouldBeNull("it was not marked either");
        (await BenchSchema.DropIfMarkedAsync(db.OwnerConnectionString, _schema)).ShouldBeFalse();
        (await ScalarAsync<int>($"select id from {_schema}.precious")).ShouldBe(42, "an unmarked schema is never dropped");
    }

    [Fact]
    public async Task two_runs_with_fresh_schemas_do_not_touch_each_other()
    {
        var (first, firstOrigin) = BenchSchema.Choose(null, Prefix);
        var (second, _) = BenchSchema.Choose(null, Prefix);
        first.ShouldNotBe(second);
        firstOrigin.ShouldBe(SchemaOrigin.Fresh);
        first.ShouldStartWith(Prefix + "_");

        (await PrepareAsync(first, SchemaOrigin.Fresh)).Made.ShouldBeTrue();
        (await PrepareAsync(second, SchemaOrigin.Fresh)).Made.ShouldBeTrue();
        await ExecuteAsync($"create table {first}.rows (id int); insert into {first}.rows values (1);");
        await ExecuteAsync($"create table {second}.rows (id int); insert into {second}.rows values (2);");

        // The first run's schema made again (a rerun with the same name), then dropped at its end.
        await PrepareAsync(first);
        (await ScalarAsync<bool>($"select to_regclass('{first}.rows') is null")).ShouldBeTrue("a marked schema is re-created empty");
        (await BenchSchema.DropIfMarkedAsync(db.OwnerConnectionString, first)).ShouldBeTrue();

        (await ScalarAsync<int>($"select id from {second}.rows")).ShouldBe(2, "the other run's schema is untouched");
        (await ScalarAsync<bool>($"select exists (select 1 from pg_namespace where nspname = '{first}')")).ShouldBeFalse();
    }

    [Fact]
    public async Task an_older_unmarked_schema_of_the_default_name_is_left_alone_and_a_fresh_one_used()
    {
        // An older build left a ledger in a fixed, unmarked schema; the command now picks a fresh name beside it.
        var old = Prefix + "_old";
        await ExecuteAsync($"create schema {old}; create table {old}.mt_events (seq bigint); insert into {old}.mt_events values (7);");

        var (name, origin) = BenchSchema.Choose(null, Prefix);
        var prepared = await PrepareAsync(name, origin);

        prepared.Name.ShouldNotBe(old);
        (await ScalarAsync<long>($"select seq from {old}.mt_events")).ShouldBe(7L);
        (await ScalarAsync<string>($"select obj_description('{name}'::regnamespace, 'pg_namespace')")).ShouldBe(BenchSchema.Marker);
    }

    [Fact]
    public async Task an_empty_schema_of_the_user_is_used_but_never_marked_or_dropped()
    {
        await ExecuteAsync($"create schema {_schema}");

        (await PrepareAsync(_schema)).Made.ShouldBeFalse();
        (await BenchSchema.DropIfMarkedAsync(db.OwnerConnectionString, _schema)).ShouldBeFalse();
        (await ScalarAsync<bool>($"select exists (select 1 from pg_namespace where nspname = '{_schema}')")).ShouldBeTrue();
    }

    [Fact]
    public void the_option_comes_before_the_configuration_and_names_are_plain_identifiers()
    {
        BenchSchema.Choose("named_one", Prefix).ShouldBe(("named_one", SchemaOrigin.Option));
        BenchSchema.Choose(null, Prefix, "fixed_default").Origin.ShouldBeOneOf(SchemaOrigin.Default, SchemaOrigin.Configuration);
        Should.Throw<ArgumentException>(() => BenchSchema.Choose("demo; drop schema public cascade", Prefix)).Message.ShouldContain("--schema");
    }
}
