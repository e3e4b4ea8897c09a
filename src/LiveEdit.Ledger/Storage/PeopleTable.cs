namespace LiveEdit.Ledger.Storage;

/// <summary>
/// The accounts of people who sign in and sign (<c>ledger_people</c>, in the ledger's schema): user name (unique without
/// regard to case), display name, roles, a password hash (never the password), a disabled flag, the failed-attempt
/// counter and lockout, and when the account was created and last changed. Created by <see cref="EditLedger.EnsureSchemaAsync"/>;
/// managed by the owner role (<c>liveedit users</c>). The application role reads it and may change only the failure
/// counter and the lockout: a host taken over cannot add a person, grant a role or set a password.
/// </summary>
public static class PeopleTable
{
    /// <summary>The table's name.</summary>
    public const string Name = "ledger_people";

    /// <summary>SQL that creates the table if missing. Idempotent.</summary>
    public static string SchemaSql(string schema)
    {
        LedgerSchema.RequireIdentifier(schema, nameof(schema));
        return $"""
            create table if not exists {schema}.{Name} (
                user_name text primary key,
                display_name text not null,
                roles text[] not null,
                password_hash text not null,
                disabled boolean not null default false,
                failed_attempts integer not null default 0,
                locked_until timestamptz null,
                created_at timestamptz not null,
                changed_at timestamptz not null);
            create unique index if not exists {Name}_user_name_ci on {schema}.{Name} (lower(user_name));

            """;
    }

    /// <summary>
    /// SQL (run by the owner after <see cref="LedgerSchema.ProtectionSql"/>, which grants every table) that narrows what
    /// <paramref name="appRole"/> may do with the table to reading it and counting failures.
    /// </summary>
    public static string GrantSql(string schema, string appRole)
    {
        LedgerSchema.RequireIdentifier(schema, nameof(schema));
        LedgerSchema.RequireIdentifier(appRole, nameof(appRole));
        return $"""
            revoke all on {schema}.{Name} from {appRole};
            grant select on {schema}.{Name} to {appRole};
            grant update (failed_attempts, locked_until) on {schema}.{Name} to {appRole};

            """;
    }
}
