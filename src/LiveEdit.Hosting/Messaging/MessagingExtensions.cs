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

    /// <summary>The broker URI from <c>ConnectionStrings:RabbitMq</c>, required when the transport is RabbitMQ.</summary>
    public static Uri ReadRabbitMqUri(this IConfiguration configuration)
    {
        var value = configuration.GetConnectionString("RabbitMq");
        if (string.IsNullOrWhiteSpace(value))
            throw new InvalidOperationException("Transport:Kind is RabbitMq but ConnectionStrings:RabbitMq is not set (see infra/services env).");
        return Uri.TryCreate(value, UriKind.Absolute, out var uri) && uri.Scheme is "amqp" or "amqps"
            ? uri
            : throw new InvalidOperationException($"ConnectionStrings:RabbitMq must be an amqp:// URI, not '{value}'.");
    }

    /// <summary>
    /// Adds MassTransit on the configured transport. <paramref name="consumers"/> registers the consumers this
    /// process runs (none for an inference host whose workers run elsewhere).
    /// </summary>
    public static IServiceCollection AddLiveEditMessaging(this IServiceCollection services, IConfiguration configuration,
        Action<IBusRegistrationConfigurator>? consumers = null)
    {
        var kind = configuration.ReadTransportKind();
        services.AddSingleton(QueueNames.From(configuration));
        services.AddMassTransit(bus =>
        {
            bus.SetKebabCaseEndpointNameFormatter();
            consumers?.Invoke(bus);
            if (kind == TransportKind.RabbitMq)
            {
                var uri = configuration.ReadRabbitMqUri();
                bus.UsingRabbitMq((context, cfg) =>
                {
                    var user = Uri.UnescapeDataString(uri.UserInfo.Split(':')[0]);
                    var password = uri.UserInfo.Split(':') is [_, var p] ? Uri.UnescapeDataString(p) : "guest";
                    var vhost = uri.AbsolutePath is "" or "/" ? "/" : Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
                    cfg.Host(uri.Host, (ushort)(uri.IsDefaultPort ? 5672 : uri.Port), vhost, h =>
                    {
                        h.Username(user);
                        h.Password(password);
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
}
