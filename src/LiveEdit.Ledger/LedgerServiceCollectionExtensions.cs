using Marten;
using Microsoft.Extensions.DependencyInjection;

namespace LiveEdit.Ledger;

/// <summary>Wiring for hosts: <c>services.AddLedger(connectionString, o => o.Policy = ApprovalPolicy.FourEyes);</c></summary>
public static class LedgerServiceCollectionExtensions
{
    /// <summary>
    /// Registers Marten configured for the ledger and a singleton <see cref="EditLedger"/>. Returns Marten's
    /// configuration expression for further Marten settings. Call <see cref="EditLedger.EnsureSchemaAsync"/>
    /// (or, in a deployment, <see cref="EditLedger.MigrateAsync"/> as the owner) once before use.
    /// </summary>
    public static MartenServiceCollectionExtensions.MartenConfigurationExpression AddLedger(
        this IServiceCollection services, string connectionString, Action<LedgerOptions>? configure = null, string schema = LedgerStore.DefaultSchema)
    {
        var options = new LedgerOptions();
        configure?.Invoke(options);
        services.AddSingleton(options);
        services.AddSingleton(sp => new EditLedger(sp.GetRequiredService<IDocumentStore>(), options));
        return services.AddMarten(marten => marten.ConfigureLedger(connectionString, schema));
    }
}
