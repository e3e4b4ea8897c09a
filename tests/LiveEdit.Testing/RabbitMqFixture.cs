using System.Net.Sockets;
using Testcontainers.RabbitMq;
using Xunit;

namespace LiveEdit.Testing;

/// <summary>
/// One RabbitMQ for the test run. Uses <c>ConnectionStrings__RabbitMq</c> (an amqp:// URI) when set;
/// otherwise starts a Testcontainers RabbitMQ.
/// </summary>
public sealed class RabbitMqFixture : IAsyncLifetime
{
    public const string EnvironmentVariable = "ConnectionStrings__RabbitMq";
    private RabbitMqContainer? _container;

    /// <summary>amqp://user:password@host:port/ of the broker.</summary>
    public Uri Uri { get; private set; } = new("amqp://localhost/");

    public async Task InitializeAsync()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(fromEnvironment))
        {
            Uri = new Uri(fromEnvironment);
        }
        else
        {
            try
            {
                _container = new RabbitMqBuilder("rabbitmq:3.12").Build();
                await _container.StartAsync();
                Uri = new Uri(_container.GetConnectionString());
            }
            catch (Exception e)
            {
                throw new InvalidOperationException(
                    $"No RabbitMQ for the tests: {EnvironmentVariable} is not set and Testcontainers could not start one " +
                    $"({e.GetType().Name}: {e.Message}). Run the tests with ./test, or `infra/services up --for-tests` " +
                    "then `eval \"$(infra/services env)\"`.", e);
            }
        }

        using var client = new TcpClient();
        try
        {
            await client.ConnectAsync(Uri.Host, Uri.Port);
        }
        catch (SocketException e)
        {
            throw new InvalidOperationException($"RabbitMQ at {Uri.Host}:{Uri.Port} does not answer: {e.Message}. Is `infra/services up` running?", e);
        }
    }

    /// <summary>User name from the URI.</summary>
    public string UserName => Uri.UserInfo.Split(':')[0];

    /// <summary>Password from the URI.</summary>
    public string Password => Uri.UserInfo.Split(':') is [_, var p] ? Uri.UnescapeDataString(p) : "guest";

    public async Task DisposeAsync()
    {
        if (_container is not null) await _container.DisposeAsync();
    }
}
