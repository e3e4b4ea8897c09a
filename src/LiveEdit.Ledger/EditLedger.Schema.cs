using LiveEdit.Ledger.Audit;
using LiveEdit.Ledger.Blobs;
using Npgsql;

namespace LiveEdit.Ledger;

// Schema: creating and migrating the ledger's tables, triggers and grants.
public sealed partial class EditLedger
{
    /// <summary>
    /// The PostgreSQL channel on which this ledger announces each new head (<see cref="Storage.HeadNotifications"/>): a
    /// reader that LISTENs on it learns of every append when it commits.
    /// </summary>
    public string HeadChannel => Storage.HeadNotifications.Channel(_schema);

    /// <summary>Creates Marten's tables, the ledger's blob and chain tables and the head notification if missing. Idempotent.</summary>
    public async Task EnsureSchemaAsync(CancellationToken ct = default)
    {
        await _store.Storage.ApplyAllConfiguredChangesToDatabaseAsync(JasperFx.AutoCreate.CreateOrUpdate);
        await using var connection = Connect();
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand(BlobStore.SchemaSql(_schema) + HashChain.SchemaSql(_schema) + Storage.HeadNotifications.SchemaSql(_schema)
            + Queries.QueryRecordSchema.SchemaSql(_schema)
            + Storage.PeopleTable.SchemaSql(_schema), connection);
        await command.ExecuteNonQueryAsync(ct);
        await using var activeRoad = new NpgsqlCommand(ActiveRoadIndexSql() + VersionTimeIndexSql() + AwaitingExpertIndexSql(), connection);
        await activeRoad.ExecuteNonQueryAsync(ct);
    }

    /// <summary>
    /// Creates or updates every object of the ledger (connected as the owner role), adds the insert-only triggers
    /// on events, chain and blobs, and grants <paramref name="appRole"/> (when given) what serving needs: no
    /// UPDATE, DELETE or TRUNCATE on those tables. Idempotent. See <see cref="Storage.LedgerSchema"/>.
    /// </summary>
    public async Task MigrateAsync(string? appRole, CancellationToken ct = default)
    {
        await using (var check = Connect())
        {
            await check.OpenAsync(ct);
            await Storage.LedgerSchema.RequireOwnedAsync(check, _schema, ct);
        }
        await EnsureSchemaAsync(ct);
        await using var connection = Connect();
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand(Storage.LedgerSchema.ProtectionSql(_schema, appRole)
            + Queries.QueryRecordSchema.ProtectionSql(_schema, appRole)
            + (appRole is null ? "" : Storage.PeopleTable.GrantSql(_schema, appRole)), connection);
        await command.ExecuteNonQueryAsync(ct);
    }
}
