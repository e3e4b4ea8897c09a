using Marten;
using Microsoft.Extensions.DependencyInjection;

namespace LiveEdit.Ledger;

/// <summary>Wiring for hosts: <c>services.AddLedger(connectionString, o => o.Policy = ApprovalPolicy.FourEyes).AddAsyncDaemon(DaemonMode.Solo);</c></summary>
public static class LedgerServiceCollectionExtensions
{
    /// <summary>
    /// Registers Marten configured for the ledger and a singleton <see cref="EditLedger"/>. Returns Marten's
    /// configuration expression so a worker host can chain <c>.AddAsyncDaemon(DaemonMode.Solo)</c> to run
    /// the visual-key index projection. Call <see cref="EditLedger.EnsureSchemaAsync"/> once at start-up.
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
