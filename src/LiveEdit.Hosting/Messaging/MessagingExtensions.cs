using LiveEdit.Contracts;
using LiveEdit.Hosting.Experts;
using MassTransit;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace LiveEdit.Hosting.Messaging;

/// <summary>MassTransit wiring chosen by configuration: the same consumers on either transport.</summary>
public static class MessagingExtensions
{
    /// <summary>Reads <c>Transport:Kind</c>; a clear error for anything but InMemory or RabbitMq.</summary>
    public static TransportKind ReadTransportKind(this IConfiguration configuration)
    {
        var value = configuration["Transport:Kind"] ?? nameof(TransportKind.InMemory);
        return Enum.TryParse<TransportKind>(value, ignoreCase: true, out var kind)
            ? kind
            : throw new InvalidOperationException($"Transport:Kind must be InMemory or RabbitMq, not '{value}'.");
    }

    /// <summary>The deployment's queue names: <c>Transport:QueuePrefix</c> (default none) before each.</summary>
    public static QueueNames ReadQueueNames(this IConfiguration configuration)
    {
        var prefix = configuration["Transport:QueuePrefix"] ?? "";
        return QueueNames.IsValidPrefix(prefix)
            ? new QueueNames(prefix)
            : throw new InvalidOperationException($"Transport:QueuePrefix '{prefix}' may hold only letters, digits, '-', '_' and '.'.");
    }

    /// <summary>The broker URI from <c>ConnectionStrings:RabbitMq</c>, required when the transport is RabbitMQ.</summary>
    public static Uri ReadRabbitMqUri(this IConfiguration configuration)
    {
        var value = configuration.GetConnectionString("RabbitMq");
        if (string.IsNullOrWhiteSpace(value))
            throw new InvalidOperationException("Transport:Kind is RabbitMq but ConnectionStrings:RabbitMq is not set (see infra/services env).");
        if (!Uri.TryCreate(value, UriKind.Absolute, out var uri) || uri.Scheme is not ("amqp" or "amqps"))
            throw new InvalidOperationException($"ConnectionStrings:RabbitMq must be an amqp:// or amqps:// URI, not '{Redacted(value)}'.");
        return uri;
    }

    /// <summary>The URI without its password, for messages.</summary>
    private static string Redacted(string value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var uri) && uri.UserInfo.Contains(':')
            ? value.Replace(uri.UserInfo, uri.UserInfo.Split(':')[0] + ":***", StringComparison.Ordinal)
            : value.Length > 80 ? value[..80] + "…" : value;

    /// <summary>
    /// TLS for an <c>amqps://</c> broker (configuration <c>Transport:Tls:ServerName</c> overrides the name the
    /// certificate must carry; the default is the URI's host). The certificate is checked against the machine's trust
    /// store; nothing is ever sent in clear over an <c>amqps://</c> URI.
    /// </summary>
    public static void ConfigureTls(IRabbitMqHostConfigurator host, Uri uri, IConfiguration configuration)
    {
        if (uri.Scheme != "amqps") return;
        host.UseSsl(ssl =>
        {
            ssl.Protocol = System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13;
            ssl.ServerName = configuration["Transport:Tls:ServerName"] is { Length: > 0 } name ? name : uri.Host;
        });
    }

    /// <summary>
    /// Adds MassTransit on the configured transport. <paramref name="consumers"/> registers the consumers this
    /// process runs (none for an inference host whose workers run elsewhere).
    /// </summary>
    public static IServiceCollection AddLiveEditMessaging(this IServiceCollection services, IConfiguration configuration,
        Action<IBusRegistrationConfigurator>? consumers = null)
    {
        var kind = configuration.ReadTransportKind();
        services.AddSingleton(configuration.ReadQueueNames());
        services.AddSingleton<ExpertWorkDispatcher>();
        services.AddHostedService(sp => sp.GetRequiredService<ExpertWorkDispatcher>());
        services.AddMassTransit(bus =>
        {
            bus.SetKebabCaseEndpointNameFormatter();
            // The bus's own check stays off the readiness probe: the host's rule (broker down → Degraded) decides there.
            bus.ConfigureHealthCheckOptions(o => o.Tags.Add("masstransit"));
            consumers?.Invoke(bus);
            if (kind == TransportKind.RabbitMq)
            {
                var uri = configuration.ReadRabbitMqUri();
                bus.UsingRabbitMq((context, cfg) =>
                {
                    var user = Uri.UnescapeDataString(uri.UserInfo.Split(':')[0]);
                    var password = uri.UserInfo.Split(':') is [_, var p] ? Uri.UnescapeDataString(p) : "guest";
                    var vhost = uri.AbsolutePath is "" or "/" ? "/" : Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
                    cfg.Host(uri.Host, (ushort)(uri.IsDefaultPort ? (uri.Scheme == "amqps" ? 5671 : 5672) : uri.Port), vhost, h =>
                    {
                        h.Username(user);
                        h.Password(password);
                        ConfigureTls(h, uri, configuration);
                    });
                    cfg.ConfigureEndpoints(context);
                });
            }
            else
            {
                bus.UsingInMemory((context, cfg) => cfg.ConfigureEndpoints(context));
            }
        });
        return services;
    }

    /// <summary>The expert worker's consumers with their endpoint definitions (pass to <see cref="AddLiveEditMessaging"/>).</summary>
    public static void AddExpertWorkers(this IBusRegistrationConfigurator bus) =>
        bus.AddConsumer<GenerateExpertConsumer, GenerateExpertConsumerDefinition>();
}
