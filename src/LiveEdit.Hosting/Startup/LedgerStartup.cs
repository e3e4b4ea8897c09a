using LiveEdit.Ledger;
using LiveEdit.Ledger.Storage;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace LiveEdit.Hosting.Startup;

/// <summary>Where a host's ledger lives and whether the host may create its schema.</summary>
/// <param name="ConnectionString">The ledger database, as the application role.</param>
/// <param name="Schema">The ledger's PostgreSQL schema.</param>
/// <param name="AutoMigrate">True with <c>Ledger:AutoMigrate=true</c>: the host creates the schema itself (it must connect as a role that may).</param>
public sealed record LedgerSettings(string ConnectionString, string Schema, bool AutoMigrate);

/// <summary>
/// The ledger settings a host starts with. Outside development a host neither guesses where the ledger is nor
/// changes its schema: <c>ConnectionStrings:Ledger</c> and <c>Ledger:Schema</c> must be given, the schema must
/// have been created by the owner role (<c>liveedit ledger migrate</c>), and Marten creates nothing.
/// </summary>
public static class LedgerStartup
{
    /// <summary>Configuration key that lets a host create or update its own schema.</summary>
    public const string AutoMigrateKey = "Ledger:AutoMigrate";

    /// <summary>Reads and checks the settings; one clear line when something required is missing.</summary>
    public static LedgerSettings Read(IConfiguration configuration, IHostEnvironment? environment)
    {
        var development = environment?.IsDevelopment() ?? false;
        var connection = configuration.GetConnectionString("Ledger");
        if (string.IsNullOrWhiteSpace(connection))
            throw new InvalidOperationException(
                "ConnectionStrings:Ledger is not set: give the ledger database as the application role " +
                "(ConnectionStrings__Ledger; on this machine: eval \"$(infra/services env)\").");
        var schema = configuration["Ledger:Schema"];
        if (string.IsNullOrWhiteSpace(schema))
        {
            if (!development)
                throw new InvalidOperationException(
                    $"Ledger:Schema is not set: name the ledger's schema (Ledger__Schema=…; the local services use '{LedgerStore.DefaultSchema}'). " +
                    "Only a development run falls back to a default.");
            schema = LedgerStore.DefaultSchema;
        }
        LedgerSchema.RequireIdentifier(schema, "Ledger:Schema");
        // Only when asked: a development host usually connects as the application role, which may not change the schema.
        var autoMigrate = configuration.GetValue<bool?>(AutoMigrateKey) ?? false;
        if (configuration["Ledger:ChainKeyFile"] is { Length: > 0 } keyFile && !File.Exists(keyFile))
            throw new InvalidOperationException($"Ledger:ChainKeyFile names '{keyFile}', which does not exist.");
        return new LedgerSettings(connection, schema, autoMigrate);
    }

    /// <summary>
    /// At start-up: with <c>Ledger:AutoMigrate</c> creates or updates the schema (as whatever role the host connects as);
    /// otherwise checks that the owner has created it, and fails with the command that does when not.
    /// </summary>
    public static async Task PrepareSchemaAsync(IServiceProvider services, CancellationToken ct = default)
    {
        var settings = services.GetRequiredService<LedgerSettings>();
        var ledger = services.GetRequiredService<EditLedger>();
        if (settings.AutoMigrate)
        {
            await ledger.MigrateAsync(appRole: null, ct);
            return;
        }
        var missing = await LedgerSchema.MissingTablesAsync(settings.ConnectionString, settings.Schema, ct);
        if (missing.Count > 0) throw new InvalidOperationException(LedgerSchema.MissingSchemaMessage(settings.Schema, missing));
    }

    /// <summary>
    /// One-shot migration for a deployment (the compose <c>migrate</c> service): connected as the owner role
    /// (<c>ConnectionStrings:LedgerOwner</c>), creates or updates <c>Ledger:Schema</c> and grants
    /// <c>Ledger:AppRole</c> (default: the user of <c>ConnectionStrings:Ledger</c>) append and read only.
    /// Returns the schema and role it migrated for.
    /// </summary>
    public static async Task<(string Schema, string AppRole)> MigrateAsync(IConfiguration configuration, CancellationToken ct = default)
    {
        var owner = configuration.GetConnectionString("LedgerOwner");
        if (string.IsNullOrWhiteSpace(owner))
            throw new InvalidOperationException("ConnectionStrings:LedgerOwner is not set: migrating takes the owner role's connection string.");
        var schema = configuration["Ledger:Schema"];
        if (string.IsNullOrWhiteSpace(schema)) throw new InvalidOperationException("Ledger:Schema is not set: name the schema to migrate.");
        var appRole = configuration["Ledger:AppRole"] is { Length: > 0 } role ? role
            : configuration.GetConnectionString("Ledger") is { Length: > 0 } app ? LedgerSchema.UserOf(app)
            : throw new InvalidOperationException("Ledger:AppRole is not set: name the role the hosts connect as.");
        LedgerSchema.RequireIdentifier(schema, "Ledger:Schema");
        LedgerSchema.RequireIdentifier(appRole, "Ledger:AppRole");
        if (appRole == LedgerSchema.UserOf(owner))
            throw new InvalidOperationException($"Ledger:AppRole must not be the owner ({appRole}): the hosts could change the schema and switch the guards off.");
        await using var store = LedgerStore.Create(owner, schema);
        await new EditLedger(store).MigrateAsync(appRole, ct);
        return (schema, appRole);
    }
}
