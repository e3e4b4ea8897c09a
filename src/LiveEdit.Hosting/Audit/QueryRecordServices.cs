using LiveEdit.Ledger;
using LiveEdit.Ledger.Queries;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LiveEdit.Hosting.Audit;

/// <summary>Wiring of the per-query records: the store (<see cref="IQueryRecords"/>), the writer and the retention job.</summary>
public static class QueryRecordServices
{
    /// <summary>Registers the query records from configuration section <see cref="QueryAuditSettings.Section"/> (checked now).</summary>
    public static IServiceCollection AddQueryRecords(this IServiceCollection services, IConfiguration configuration)
    {
        var settings = configuration.GetSection(QueryAuditSettings.Section).Get<QueryAuditSettings>() ?? new QueryAuditSettings();
        settings.Validate();
        services.AddSingleton(settings);
        services.AddSingleton(sp => new QueryRecordStore(sp.GetRequiredService<EditLedger>()));
        services.AddSingleton<IQueryRecords>(sp => sp.GetRequiredService<QueryRecordStore>());
        services.AddSingleton(sp => new QueryRecordWriter(sp.GetRequiredService<QueryRecordStore>(), settings,
            sp.GetRequiredService<ILogger<QueryRecordWriter>>(), sp.GetService<TimeProvider>() ?? TimeProvider.System));
        services.AddHostedService(sp => sp.GetRequiredService<QueryRecordWriter>());
        services.AddSingleton(sp => new QueryRecordRetention(sp.GetRequiredService<QueryRecordStore>(), settings,
            sp.GetRequiredService<ILogger<QueryRecordRetention>>(), sp.GetService<TimeProvider>() ?? TimeProvider.System));
        services.AddHostedService(sp => sp.GetRequiredService<QueryRecordRetention>());
        services.AddSingleton(sp => new AuditExporter(sp.GetRequiredService<EditLedger>(), sp.GetService<TimeProvider>()));
        return services;
    }
}
