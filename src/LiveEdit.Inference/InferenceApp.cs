using LiveEdit.Hosting;
using LiveEdit.Hosting.Audit;
using LiveEdit.Hosting.Messaging;
using LiveEdit.Hosting.Serving;
using LiveEdit.Hosting.Startup;
using LiveEdit.Inference.Auth;
using LiveEdit.Inference.Auth.People;
using LiveEdit.Inference.Endpoints;
using LiveEdit.Inference.Errors;
using LiveEdit.Inference.Telemetry;
using LiveEdit.Inference.Web;
using LiveEdit.Ledger;
using Microsoft.AspNetCore.Http.Features;

namespace LiveEdit.Inference;

/// <summary>Builds the inference host; <c>Program.cs</c>, the CLI's <c>serve</c>/<c>demo</c> and the tests all use it.</summary>
public static class InferenceApp
{
    /// <summary>Largest request body (an image upload plus fields), in bytes; larger → 413.</summary>
    public const long MaxRequestBytes = 12 * 1024 * 1024;

    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        SettingsFile.AddDefaults(builder.Configuration, "inference.settings.json");
        configure?.Invoke(builder);
        var configuration = builder.Configuration;
        var transport = configuration.ReadTransportKind();
        if (transport == TransportKind.RabbitMq) configuration.ReadRabbitMqUri();
        var workersInProcess = configuration.GetValue("Workers:InProcess", true);

        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = MaxRequestBytes);
        builder.Services.Configure<FormOptions>(o =>
        {
            o.MultipartBodyLengthLimit = MaxRequestBytes;
            Forms.Limit(o);
        });
        // A body that does not bind (bad JSON, wrong content type) reaches ProblemMapping as an exception in every environment.
        builder.Services.Configure<Microsoft.AspNetCore.Routing.RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        // One line per failed authentication (FailedAuthenticationLimiter's), not the handler's own as well.
        builder.Logging.AddFilter(typeof(ApiKeyAuthentication).FullName, LogLevel.Warning);
        builder.Services.ConfigureHttpJsonOptions(o =>
        {
            o.SerializerOptions.Converters.Add(new System.Text.Json.Serialization.JsonStringEnumConverter());
            // Numbers are numbers: no body takes one as a string, and the OpenAPI document then types them as numbers only.
            o.SerializerOptions.NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.Strict;
        });
        builder.Services.AddProblemDetails(o => o.CustomizeProblemDetails = ProblemMapping.AddCode);
        builder.Services.AddExceptionHandler<ProblemMapping>();
        builder.Services.AddApiDescription();
        builder.Services.AddSingleton<ImageGate>();
        builder.Services.AddApiKeyAuth(configuration, builder.Environment.IsDevelopment());
        builder.Services.AddWebUi(configuration, builder.Environment); // after the API key: the UI's cookie under /ui only
        builder.Services.AddHealthChecks().AddCheck<LedgerHealthCheck>("ledger", tags: ["ready"])
            .AddCheck<ChainHealthCheck>("chain", tags: ["ready"])
            .AddCheck<BrokerHealthCheck>("broker", tags: ["ready"])
            .AddCheck<ExpertStoreHealthCheck>("experts", tags: ["ready"])
            .AddCheck<HeadModelHealthCheck>("head", tags: ["ready"]);

        builder.Services.AddLedgerFromConfiguration(configuration, builder.Environment);
        builder.Services.AddPeople(configuration);
        builder.Services.AddCheckpointWriter(configuration);
        builder.Services.AddQueryRecords(configuration);
        builder.Services.AddModelRuntime(configuration, ContentRoot.Find());
        builder.Services.AddEditedModelServer(configuration);
        builder.Services.AddSingleton<QueryPathWarmUp>();
        builder.Services.AddSingleton<FirstQueryPhases>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<QueryPathWarmUp>());
        if (workersInProcess) builder.Services.AddExpertWorkerServices(configuration);
        builder.Services.AddLiveEditMessaging(configuration, workersInProcess ? bus => bus.AddExpertWorkers() : null);
        builder.AddInferenceTelemetry();

        var app = builder.Build();
        app.UseFirstQueryPhases();
        app.UseTelemetry();
        app.UseExceptionHandler();
        app.Use(async (context, next) =>
        {
            // Refuse an oversized upload from its Content-Length, before reading a byte of it.
            if (context.Request.ContentLength > MaxRequestBytes)
                throw new RequestInputException("too_large", $"the request is {context.Request.ContentLength} bytes; at most {MaxRequestBytes}", StatusCodes.Status413PayloadTooLarge);
            await next(context);
        });
        app.UseStatusCodePages();
        app.UseFailedAuthenticationLimit();
        app.UseAuthentication();
        app.UseAuthorization();
        app.MapOpenApi();
        app.MapHealthEndpoints();
        app.MapMetricsEndpoint();
        app.MapEditEndpoints();
        app.MapQueryEndpoints();
        app.MapLedgerEndpoints();
        app.MapRoutingPolicyEndpoints();
        app.MapAuditEndpoints();
        app.MapWebUi();
        return app;
    }

    /// <summary>Waits for PostgreSQL (and RabbitMQ when configured), checks the ledger's schema (creates it in development), then runs.</summary>
    public static async Task RunAsync(WebApplication app, CancellationToken ct = default)
    {
        await PrepareAsync(app, ct);
        await app.RunAsync(ct);
    }

    /// <summary>Start-up checks with bounded patience and a clear message when a service is missing.</summary>
    public static async Task PrepareAsync(WebApplication app, CancellationToken ct = default)
    {
        var configuration = app.Configuration;
        var patience = TimeSpan.FromSeconds(configuration.GetValue("Startup:PatienceSeconds", 30));
        await StartupGuard.WaitForPostgresAsync(configuration.GetConnectionString("Ledger")!, patience, ct);
        if (configuration.ReadTransportKind() == TransportKind.RabbitMq)
            await StartupGuard.WaitForRabbitMqAsync(configuration.ReadRabbitMqUri(), patience, ct);
        await LedgerStartup.PrepareSchemaAsync(app.Services, ct);
        // Before the first request: a ledger with no routing-policy event gets its inception policy (docs/routing-policy.md).
        if (app.Services.GetService<LiveEdit.Hosting.Serving.RoutingPolicies>() is { } policies) await policies.EnsureRecordedAsync(ct);
    }
}
