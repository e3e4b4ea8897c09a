using LiveEdit.Testing;
using Npgsql;
using Shouldly;
using Xunit;

namespace LiveEdit.Infra.Tests;

[Collection(Collections.Postgres)]
public sealed class the_shared_postgres(PostgresFixture postgres)
{
    [Fact]
    public async Task gives_each_test_class_a_schema_of_its_own()
    {
        var schema = await postgres.CreateSchemaAsync(GetType());
        schema.ShouldBe("t_the_shared_postgres");

        await using var connection = new NpgsqlConnection(postgres.ConnectionString);
        await connection.OpenAsync();
        await using (var create = new NpgsqlCommand($"CREATE TABLE {schema}.probe(id int primary key, note text); INSERT INTO {schema}.probe VALUES (1, 'written');", connection))
        {
            await create.ExecuteNonQueryAsync();
        }
        await using var read = new NpgsqlCommand($"SELECT note FROM {schema}.probe WHERE id = 1", connection);
        (await read.ExecuteScalarAsync()).ShouldBe("written");

        // Re-creating the schema starts the class from nothing.
        await postgres.CreateSchemaAsync(GetType());
        await using var exists = new NpgsqlCommand($"SELECT to_regclass('{schema}.probe') IS NULL", connection);
        (await exists.ExecuteScalarAsync()).ShouldBe(true);
    }

    [Fact]
    public async Task is_a_real_postgresql_server()
    {
        await using var connection = new NpgsqlConnection(postgres.ConnectionString);
        await connection.OpenAsync();
        await using var version = new NpgsqlCommand("SHOW server_version_num", connection);
        int.Parse((string)(await version.ExecuteScalarAsync())!).ShouldBeGreaterThanOrEqualTo(150000);
    }

    [Fact]
    public void schema_names_are_valid_identifiers() =>
        PostgresFixture.SchemaNameFor(typeof(List<int>)).ShouldBe("t_list_1");
}
