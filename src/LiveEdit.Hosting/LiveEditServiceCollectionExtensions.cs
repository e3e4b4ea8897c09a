using LiveEdit.Hosting.Experts;
using LiveEdit.Hosting.Reconciliation;
using LiveEdit.Hosting.Serving;
using LiveEdit.Ledger;
using Marten;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace LiveEdit.Hosting;

/// <summary>
/// The services both hosts are built from: the ledger, the model runtime, the edited model that follows the ledger,
/// and what the expert worker needs besides its consumers. The inference host takes them all (it runs the workers
/// in-process by default); the worker host takes all but the edited model. The transport and the consumers are
/// wired by <see cref="Messaging.MessagingExtensions"/>.
/// </summary>
public static class LiveEditServiceCollectionExtensions
{
    /// <summary>
    /// The ledger (Marten, approval policy from <c>Ledger:ApprovalPolicy</c>, schema <c>Ledger:Schema</c>, chain key from
    /// <c>Ledger:ChainKey</c> or <c>Ledger:ChainKeyFile</c>, required outside Development).
    /// </summary>
    /// <remarks>
    /// Outside development (<paramref name="environment"/>) the connection string and schema must be given and
    /// Marten creates no schema objects: the owner role migrates (see <see cref="Startup.LedgerStartup"/>).
    /// </remarks>
    public static IServiceCollection AddLedgerFromConfiguration(this IServiceCollection services, IConfiguration configuration,
        Microsoft.Extensions.Hosting.IHostEnvironment? environment = null)
    {
        var ledgerSettings = Startup.LedgerStartup.Read(configuration, environment);
        var connection = ledgerSettings.ConnectionString;
        var policyText = configuration["Ledger:ApprovalPolicy"] ?? nameof(ApprovalPolicy.FourEyes);
        if (!Enum.TryParse<ApprovalPolicy>(policyText, ignoreCase: true, out var policy))
            throw new InvalidOperationException($"Ledger:ApprovalPolicy must be AutoApprove or FourEyes, not '{policyText}'.");
        var schema = ledgerSettings.Schema;
        var chainKey = LedgerChainKey.FromConfiguration(configuration, environment is { } env ? Microsoft.Extensions.Hosting.HostEnvironmentEnvExtensions.IsDevelopment(env) : IsDevelopment(configuration), Console.Error.WriteLine);
        services.AddLedger(connection, o =>
        {
            o.Policy = policy;
            o.ChainKey = chainKey;
        }, schema);
        services.AddSingleton(ledgerSettings);
        if (!ledgerSettings.AutoMigrate) services.ConfigureMarten(o => o.AutoCreateSchemaObjects = JasperFx.AutoCreate.None);
        services.AddSingleton(TimeProvider.System);
        return services;
    }

    /// <summary>True when the host runs in the Development environment (DOTNET_ENVIRONMENT / ASPNETCORE_ENVIRONMENT).</summary>
    private static bool IsDevelopment(IConfiguration configuration) =>
        string.Equals(configuration["environment"] ?? Environment.GetEnvironmentVariable("DOTNET_ENVIRONMENT") ?? Environment.GetEnvironmentVariable("ASPNETCORE_ENVIRONMENT"),
            "Development", StringComparison.OrdinalIgnoreCase);

    /// <summary>The model checkpoints, loaded once (configuration section <c>Model</c>).</summary>
    public static IServiceCollection AddModelRuntime(this IServiceCollection services, IConfiguration configuration, string contentRoot)
    {
        var settings = (configuration.GetSection(ModelSettings.Section).Get<ModelSettings>() ?? new ModelSettings()).ResolvedAgainst(contentRoot);
        // Kind, device and dtype are checked now, so a host with a bad setting stops at start naming it.
        LiveEdit.Model.Vlm.VlmLoader.Check(settings.Kind, settings.Device, settings.DType);
        services.AddSingleton(_ => ModelRuntime.Load(settings));
        return services;
    }

    /// <summary>
    /// The edited model at any version, its head pushed by the ledger (settings: <see cref="HeadFollowingSettings.Section"/>);
    /// queries batched as section <c>Serving</c> says.
    /// </summary>
    public static IServiceCollection AddEditedModelServer(this IServiceCollection services, IConfiguration? configuration = null)
    {
        var serving = ServingSettings.From(configuration);
        services.AddSingleton(HeadFollowingSettings.From(configuration));
        services.AddSingleton<HeadFollowingState>();
        services.AddSingleton<ExpertIncidents>();
        services.AddSingleton(sp => new RoutingPolicies(sp.GetRequiredService<EditLedger>(), sp.GetRequiredService<ModelRuntime>().Editor));
        services.AddSingleton(sp => new EditedModelServer(sp.GetRequiredService<ModelRuntime>(), sp.GetRequiredService<EditLedger>(),
            incidents: sp.GetRequiredService<ExpertIncidents>(), policies: sp.GetRequiredService<RoutingPolicies>(), serving: serving));
        services.AddHostedService<LedgerHeadFollower>();
        return services;
    }

    /// <summary>What the expert worker needs besides its consumers (<see cref="Messaging.MessagingExtensions.AddExpertWorkers"/>): its identity, fault injection and the reconciler.</summary>
    public static IServiceCollection AddExpertWorkerServices(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSingleton(WorkerIdentity.From(configuration));
        services.AddSingleton(configuration.GetSection(FaultInjection.Section).Get<FaultInjection>() ?? new FaultInjection());
        services.AddSingleton(configuration.GetSection("Workers:Reconciler").Get<ReconcilerSettings>() ?? new ReconcilerSettings());
        services.AddHostedService<PendingWorkReconciler>();
        return services;
    }
}
