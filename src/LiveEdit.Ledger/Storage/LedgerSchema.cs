using System.Text.RegularExpressions;
using Npgsql;

namespace LiveEdit.Ledger.Storage;

/// <summary>
/// The ledger's schema as a deployment runs it: created and updated by an owner role
/// (<see cref="EditLedger.MigrateAsync"/>), served by an application role that may append and read but never
/// rewrite. Insert-only triggers guard the events, the hash chain and the blobs against UPDATE, DELETE and
/// TRUNCATE; the application role gets no UPDATE, DELETE or TRUNCATE on them, owns nothing and so cannot
/// disable a trigger or change the schema.
/// </summary>
/// <remarks>
/// A superuser (or the owner) can still disable the triggers and rewrite rows; the hash chain and the signed
/// checkpoints kept outside the database are what catch that (see docs/security-roles.md).
/// </remarks>
public static partial class LedgerSchema
{
    /// <summary>Tables that only ever grow: guarded by triggers and never granted UPDATE, DELETE or TRUNCATE.</summary>
    public static IReadOnlyList<string> InsertOnlyTables { get; } = ["mt_events", "ledger_chain", "ledger_blobs"];

    /// <summary>Tables the hosts cannot run without; <see cref="MissingTablesAsync"/> looks for them.</summary>
    public static IReadOnlyList<string> RequiredTables { get; } = ["mt_events", "mt_streams", "mt_event_progression", "ledger_chain", "ledger_blobs", "ledger_queries"];

    /// <summary>The command that creates or updates the schema, named in start-up errors.</summary>
    public const string MigrateCommand = "liveedit ledger migrate";

    /// <summary>
    /// SQL (run by the owner, after the tables exist) that adds the insert-only triggers and, when
    /// <paramref name="appRole"/> is given, grants that role what serving needs and nothing more.
    /// </summary>
    public static string ProtectionSql(string schema, string? appRole)
    {
        RequireIdentifier(schema, nameof(schema));
        var sql = new System.Text.StringBuilder($"""
            create or replace function {schema}.ledger_insert_only() returns trigger language plpgsql as $$
            begin
                raise exception 'ledger table %.% is insert-only (% refused)', tg_table_schema, tg_table_name, tg_op;
            end $$;

            """);
        foreach (var table in InsertOnlyTables)
        {
            // Row triggers for UPDATE/DELETE (the chain and blob tables get theirs from their own schema SQL too;
            // re-creating them here is harmless), and a statement trigger for TRUNCATE, which skips row triggers.
            sql.Append($"""
                drop trigger if exists {table}_insert_only on {schema}.{table};
                create trigger {table}_insert_only before update or delete on {schema}.{table}
                    for each row execute function {schema}.ledger_insert_only();
                drop trigger if exists {table}_no_truncate on {schema}.{table};
                create trigger {table}_no_truncate before truncate on {schema}.{table}
                    for each statement execute function {schema}.ledger_insert_only();

                """);
        }
        if (appRole is null) return sql.ToString();

        RequireIdentifier(appRole, nameof(appRole));
        // Start from nothing on every run, so a privilege granted by hand (or by an older version) does not survive.
        sql.Append($"""
            revoke all on all tables in schema {schema} from {appRole};
            revoke all on all sequences in schema {schema} from {appRole};
            revoke all on schema {schema} from {appRole};
            grant usage on schema {schema} to {appRole};
            grant select, insert, update, delete on all tables in schema {schema} to {appRole};
            grant usage, select on all sequences in schema {schema} to {appRole};
            grant execute on all functions in schema {schema} to {appRole};
            revoke update, delete on {schema}.mt_streams from {appRole};
            grant update on {schema}.mt_streams to {appRole};
            do $$
            declare t record;
            begin
                -- Every table guarded by the insert-only function (the three above, and any later one that uses it)
                -- is append-and-read only for the application.
                for t in select distinct c.relname from pg_trigger g
                         join pg_class c on c.oid = g.tgrelid
                         join pg_namespace n on n.oid = c.relnamespace
                         where n.nspname = '{schema}' and not g.tgisinternal
                           and g.tgfoid = '{schema}.ledger_insert_only'::regproc
                loop
                    execute format('revoke update, delete, truncate, references, trigger on %I.%I from %I', '{schema}', t.relname, '{appRole}');
                end loop;
            end $$;

            """);
        return sql.ToString();
    }

    /// <summary>
    /// Which of <see cref="RequiredTables"/> are missing from <paramref name="schema"/>, and whether the connecting role
    /// lacks its privileges there (empty when the schema is ready for it).
    /// </summary>
    public static async Task<IReadOnlyList<string>> MissingTablesAsync(string connectionString, string schema, CancellationToken ct = default)
    {
        RequireIdentifier(schema, nameof(schema));
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(ct);
        // From the catalogs, which every role may read: a role without USAGE on the schema gets an error from to_regclass.
        await using var command = new NpgsqlCommand("""
            select t from unnest(@tables) t
            where not exists (select 1 from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = @schema and c.relname = t)
            union all
            select 'privileges for role ' || current_user
            where exists (select 1 from pg_namespace where nspname = @schema) and not has_schema_privilege(@schema, 'USAGE')
            """, connection);
        command.Parameters.AddWithValue("tables", RequiredTables.ToArray());
        command.Parameters.AddWithValue("schema", schema);
        var missing = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) missing.Add(reader.GetString(0));
        return missing;
    }

    /// <summary>One line for a host that finds its schema missing: what is missing and the command that creates it.</summary>
    public static string MissingSchemaMessage(string schema, IReadOnlyList<string> missing) =>
        $"the ledger schema '{schema}' is not ready (missing: {string.Join(", ", missing)}); create it as the owner role: " +
        $"{MigrateCommand} --schema {schema} (with ConnectionStrings__LedgerOwner set), or set Ledger__AutoMigrate=true in development";

    /// <summary>The user name of an Npgsql connection string.</summary>
    public static string UserOf(string connectionString) =>
        new NpgsqlConnectionStringBuilder(connectionString).Username
        ?? throw new ArgumentException("the connection string names no user (Username=…)", nameof(connectionString));

    /// <summary>Throws unless <paramref name="name"/> is a plain lower-case PostgreSQL identifier.</summary>
    public static void RequireIdentifier(string name, string what)
    {
        if (!Identifier().IsMatch(name))
            throw new ArgumentException($"{what} '{name}' must be a lower-case identifier (letters, digits, '_'; at most 63)", what);
    }

    [GeneratedRegex("^[a-z_][a-z0-9_]{0,62}$")]
    private static partial Regex Identifier();
}
