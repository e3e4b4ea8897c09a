using LiveEdit.Testing;
using Npgsql;
using Shouldly;
using Xunit;

namespace LiveEdit.Ledger.Tests;

/// <summary>
/// A schema made by another role (a superuser's benchmark, say) is refused by the owner role's migration with a message
/// naming both roles, before anything is created in it; the superuser may migrate it.
/// </summary>
[Collection(Collections.Postgres)]
public sealed class migrating_a_schema_another_role_owns(PostgresFixture db)
{
    [Fact]
    public async Task the_owner_roles_migration_names_the_owner_and_changes_nothing()
    {
        var schema = await db.CreateSchemaAsync(GetType());
        await using (var store = LedgerStore.Create(db.OwnerConnectionString, schema))
        {
            var refused = await Should.ThrowAsync<InvalidOperationException>(() => new EditLedger(store).MigrateAsync(db.AppRole));
            refused.Message.ShouldContain($"belongs to role {new NpgsqlConnectionStringBuilder(db.ConnectionString).Username}");
            refused.Message.ShouldContain(db.OwnerRole);
        }
        (await ObjectsInAsync(schema)).ShouldBe(0, "nothing was created before the refusal");

        await using (var store = LedgerStore.Create(db.ConnectionString, schema))
            await new EditLedger(store).MigrateAsync(db.AppRole);
        (await ObjectsInAsync(schema)).ShouldBeGreaterThan(0, "a superuser may migrate a schema it does not own");
    }

    private async Task<long> ObjectsInAsync(string schema)
    {
        await using var connection = new NpgsqlConnection(db.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = @s", connection);
        command.Parameters.AddWithValue("s", schema);
        return (long)(await command.ExecuteScalarAsync())!;
    }
}
