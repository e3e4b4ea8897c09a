using LiveEdit.Hosting.Serving;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Edits;
using Microsoft.Extensions.Options;

namespace LiveEdit.Inference.Auth.People;

/// <summary>Wiring of people's accounts and electronic signatures into the inference host.</summary>
public static class PeopleServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="IPeopleDirectory"/> over the ledger's database (settings: <see cref="PeopleOptions.Section"/>) and
    /// tells the ledger which generator and base model this host serves, which signatures on edits without an expert are
    /// bound to. Needs the ledger (<c>AddLedgerFromConfiguration</c>) registered.
    /// </summary>
    public static IServiceCollection AddPeople(this IServiceCollection s, IConfiguration c)
    {
        var options = c.GetSection(PeopleOptions.Section).Get<PeopleOptions>() ?? new PeopleOptions();
        options.Validate();
        s.AddSingleton(Options.Create(options));
        s.AddSingleton(sp =>
        {
            var ledger = sp.GetRequiredService<EditLedger>();
            return new PeopleStore(() => ledger.Store.Storage.Database.CreateConnection(), ledger.Store.Options.Events.DatabaseSchemaName,
                sp.GetService<TimeProvider>());
        });
        s.AddSingleton<IPeopleDirectory>(sp => new PeopleDirectory(sp.GetRequiredService<PeopleStore>(), sp.GetRequiredService<IOptions<PeopleOptions>>(),
            sp.GetService<TimeProvider>() ?? TimeProvider.System, sp.GetRequiredService<ILogger<PeopleDirectory>>()));
        s.AddHostedService<ServedModelsForSignatures>();
        return s;
    }

    /// <summary>At start, before requests are served: the ledger learns the generator and base model this host serves.</summary>
    private sealed class ServedModelsForSignatures(IServiceProvider services) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            if (services.GetService<ModelRuntime>() is { } runtime)
                services.GetRequiredService<LedgerOptions>().ServedModels = ServedModels(runtime);
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }

    /// <summary>The generator and base model of <paramref name="runtime"/>.</summary>
    public static SignatureModels ServedModels(ModelRuntime runtime) => new(runtime.Editor.GeneratorSha256, runtime.Model.WeightsSha256);
}
