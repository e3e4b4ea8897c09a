using System.Globalization;
using System.Security.Cryptography;
using LiveEdit.Ledger.Storage;
using Npgsql;

namespace LiveEdit.Bench;

/// <summary>Where a benchmark's schema name came from, for messages.</summary>
public enum SchemaOrigin
{
    /// <summary>A command-line option (<c>--schema</c>).</summary>
    Option,
    /// <summary>The configuration (<c>Ledger__Schema</c>).</summary>
    Configuration,
    /// <summary>A fixed default of the command.</summary>
    Default,
    /// <summary>A fresh name made for this run.</summary>
    Fresh,
}

/// <summary>The schema a benchmark writes into, chosen and prepared by <see cref="BenchSchema"/>.</summary>
/// <param name="Name">The schema.</param>
/// <param name="Origin">Where the name came from.</param>
/// <param name="Made">Whether this run created it (and marked it with <see cref="BenchSchema.Marker"/>).</param>
public sealed record PreparedSchema(string Name, SchemaOrigin Origin, bool Made);

/// <summary>
/// The one road by which every <c>liveedit bench</c> command (and the demo) gets a schema: named by an option, by
/// <c>Ledger__Schema</c>, or a fresh unique one. A schema a benchmark creates carries <see cref="Marker"/> as its
/// comment; only a schema with that comment is ever dropped. An existing empty schema is used as it is (and never
/// dropped); any other schema that holds something is refused, untouched.
/// </summary>
public static class BenchSchema
{
    /// <summary>The comment a schema created by a benchmark carries; only a schema with it is ever dropped.</summary>
    public const string Marker = "liveedit bench: made by a liveedit benchmark, which may drop and re-create it; it holds nothing else";

    /// <summary>The comment the ledger benchmark put on its schemas before <see cref="Marker"/>; recognised the same way.</summary>
    public const string LedgerBenchMarker = "liveedit bench ledger: made by the ledger benchmark, which drops and re-creates it on its next run";

    /// <summary>The configuration variable that names the ledger's schema.</summary>
    public const string ConfigurationVariable = "Ledger__Schema";

    /// <summary>Whether <paramref name="comment"/> marks a schema a benchmark made.</summary>
    public static bool IsMarker(string? comment) => comment is Marker or LedgerBenchMarker;

    /// <summary>
    /// The schema to use: <paramref name="option"/> when given, else <c>Ledger__Schema</c>, else
    /// <paramref name="fallback"/> when given, else a fresh name <c>{prefix}_yyyymmdd_hhmmss_xxxxxx</c>.
    /// </summary>
    /// <exception cref="ArgumentException">The name is no plain lower-case identifier.</exception>
    public static (string Name, SchemaOrigin Origin) Choose(string? option, string prefix, string? fallback = null)
    {
        var (name, origin) = option is { Length: > 0 } given ? (given, SchemaOrigin.Option)
            : Environment.GetEnvironmentVariable(ConfigurationVariable) is { Length: > 0 } configured ? (configured, SchemaOrigin.Configuration)
            : fallback is { Length: > 0 } ? (fallback, SchemaOrigin.Default)
            : (Fresh(prefix), SchemaOrigin.Fresh);
        LedgerSchema.RequireIdentifier(name, Describe(origin));
        return (name, origin);
    }

    /// <summary>A new schema name no other run picks: the prefix, the UTC time and six random hex digits.</summary>
    public static string Fresh(string prefix)
    {
        LedgerSchema.RequireIdentifier(prefix, "prefix");
        return string.Create(CultureInfo.InvariantCulture,
            $"{prefix}_{DateTime.UtcNow:yyyyMMdd_HHmmss}_{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3))}");
    }

    /// <summary>How an origin reads in a message.</summary>
    public static string Describe(SchemaOrigin origin) => origin switch
    {
        SchemaOrigin.Option => "--schema",
        SchemaOrigin.Configuration => ConfigurationVariable,
        SchemaOrigin.Default => "the default",
        _ => "a fresh name",
    };

    /// <summary>
    /// Makes <paramref name="schema"/> ready for a benchmark, connected as <paramref name="connectionString"/> (a role
    /// that may create schemas; it owns what it creates): creates and marks it when missing, drops and re-creates it
    /// when a benchmark made it, uses it as it is when it exists empty, and refuses (changing nothing) when it holds
    /// anything else.
    /// </summary>
    /// <param name="command">The command, for messages (<c>liveedit bench run</c>).</param>
    /// <exception cref="InvalidOperationException">The schema holds something no benchmark made; nothing was changed.</exception>
    public static async Task<PreparedSchema> PrepareAsync(string connectionString, string schema, SchemaOrigin origin, string command,
        TextWriter? output = null, CancellationToken ct = default)
    {
        LedgerSchema.RequireIdentifier(schema, Describe(origin));
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        // Two runs preparing one name at once: the second waits for the first's decision, then sees its schema.
        await Execute(connection, $"select pg_advisory_xact_lock(hashtext('liveedit bench schema {schema}'))", ct);
        var (exists, comment, objects) = await LookAsync(connection, schema, ct);

        var made = true;
        if (!exists) await Execute(connection, $"create schema {schema}; comment on schema {schema} is '{Marker}';", ct);
        else if (IsMarker(comment))
        {
            output?.WriteLine($"{command}: re-creating schema {schema}, made by an earlier benchmark run");
            await Execute(connection, $"drop schema {schema} cascade; create schema {schema}; comment on schema {schema} is '{Marker}';", ct);
        }
        else if (objects == 0) made = false; // the user's own empty schema: used as it is, never dropped
        else
            throw new InvalidOperationException(
                $"schema '{schema}' (from {Describe(origin)}) holds {objects} objects that no liveedit benchmark made; {command} writes only into " +
                $"a new or empty schema, or one a benchmark made. Nothing was changed. Name another schema (--schema or {ConfigurationVariable}), " +
                $"or leave both unset for a fresh one.");
        await transaction.CommitAsync(ct);
        return new PreparedSchema(schema, origin, made);
    }

    /// <summary>Drops <paramref name="schema"/> if, and only if, a benchmark made it; true when it was dropped.</summary>
    public static async Task<bool> DropIfMarkedAsync(string connectionString, string schema, CancellationToken ct = default)
    {
        LedgerSchema.RequireIdentifier(schema, "schema");
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await Execute(connection, $"select pg_advisory_xact_lock(hashtext('liveedit bench schema {schema}'))", ct);
        var (exists, comment, _) = await LookAsync(connection, schema, ct);
        if (!exists || !IsMarker(comment)) return false;
        await Execute(connection, $"drop schema {schema} cascade", ct);
        await transaction.CommitAsync(ct);
        return true;
    }

    private static async Task<(bool Exists, string? Comment, long Objects)> LookAsync(NpgsqlConnection connection, string schema, CancellationToken ct)
    {
        await using var look = new NpgsqlCommand("""
            select obj_description(n.oid, 'pg_namespace'),
                   (select count(*) from pg_class c where c.relnamespace = n.oid)
                 + (select count(*) from pg_proc p where p.pronamespace = n.oid)
                 + (select count(*) from pg_type t where t.typnamespace = n.oid and t.typrelid = 0 and t.typelem = 0)
            from pg_namespace n where n.nspname = @schema
            """, connection);
        look.Parameters.AddWithValue("schema", schema);
        await using var reader = await look.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct)) return (false, null, 0);
        return (true, reader.IsDBNull(0) ? null : reader.GetString(0), reader.GetInt64(1));
    }

    private static async Task Execute(NpgsqlConnection connection, string sql, CancellationToken ct)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(ct);
    }
}
