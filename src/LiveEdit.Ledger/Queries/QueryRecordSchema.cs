using LiveEdit.Ledger.Storage;

namespace LiveEdit.Ledger.Queries;

/// <summary>
/// The table of per-query records, <c>ledger_queries</c>, in the ledger's schema. Append-only: a trigger refuses UPDATE,
/// DELETE and TRUNCATE from anyone, except the DELETE that the retention function <c>ledger_queries_expire(days)</c> runs;
/// that function belongs to the owner (SECURITY DEFINER), removes only rows older than the given number of whole days
/// (at least one) by the database's clock, and is the only way the application role can remove anything (it is granted
/// INSERT and SELECT on the table, never UPDATE, DELETE or TRUNCATE). See docs/audit.md.
/// </summary>
public static class QueryRecordSchema
{
    /// <summary>The table's name.</summary>
    public const string Table = "ledger_queries";

    /// <summary>The connection-level setting the retention function turns on for its own DELETE; the trigger refuses every other one.</summary>
    internal const string RetentionSetting = "liveedit.query_retention";

    /// <summary>SQL that creates the table, its indexes, its guard trigger and the retention function if missing. Idempotent.</summary>
    public static string SchemaSql(string schema)
    {
        LedgerSchema.RequireIdentifier(schema, nameof(schema));
        return $"""
            create or replace function {schema}.ledger_queries_guard() returns trigger language plpgsql as $$
            begin
                if tg_op = 'DELETE' and current_setting('{RetentionSetting}', true) = 'on' then
                    return old;
                end if;
                raise exception 'ledger table %.% is append-only; only the retention job removes query records (% refused)', tg_table_schema, tg_table_name, tg_op;
            end $$;
            create table if not exists {schema}.{Table} (
                id bigint generated always as identity primary key,
                at timestamptz not null,
                username text not null,
                version bigint not null,
                image_sha256 text,
                prompt_sha256 text not null,
                answer text not null,
                experts jsonb not null);
            create index if not exists ledger_queries_at on {schema}.{Table} (at);
            create index if not exists ledger_queries_image on {schema}.{Table} (image_sha256, at);
            create index if not exists ledger_queries_user on {schema}.{Table} (username, at);
            create index if not exists ledger_queries_experts on {schema}.{Table} using gin (experts jsonb_path_ops);
            drop trigger if exists ledger_queries_append_only on {schema}.{Table};
            create trigger ledger_queries_append_only before update or delete on {schema}.{Table}
                for each row execute function {schema}.ledger_queries_guard();
            drop trigger if exists ledger_queries_no_truncate on {schema}.{Table};
            create trigger ledger_queries_no_truncate before truncate on {schema}.{Table}
                for each statement execute function {schema}.ledger_queries_guard();
            create or replace function {schema}.ledger_queries_expire(keep_days integer) returns bigint
                language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
            declare removed bigint;
            begin
                if keep_days is null or keep_days < 1 then
                    raise exception 'keep_days must be at least 1, got %', keep_days;
                end if;
                perform set_config('{RetentionSetting}', 'on', true);
                delete from {schema}.{Table} where at < now() - make_interval(days => keep_days);
                get diagnostics removed = row_count;
                perform set_config('{RetentionSetting}', 'off', true);
                return removed;
            end $$;

            """;
    }

    /// <summary>
    /// SQL (run by the owner after <see cref="LedgerSchema.ProtectionSql"/>) that leaves <paramref name="appRole"/> INSERT and
    /// SELECT on the table and EXECUTE on the retention function, nothing else.
    /// </summary>
    public static string ProtectionSql(string schema, string? appRole)
    {
        LedgerSchema.RequireIdentifier(schema, nameof(schema));
        if (appRole is null) return "";
        LedgerSchema.RequireIdentifier(appRole, nameof(appRole));
        return $"""
            revoke all on {schema}.{Table} from {appRole};
            grant select, insert on {schema}.{Table} to {appRole};
            revoke all on function {schema}.ledger_queries_expire(integer) from public;
            grant execute on function {schema}.ledger_queries_expire(integer) to {appRole};

            """;
    }
}
