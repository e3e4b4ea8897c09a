using LiveEdit.Testing;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;
using Shouldly;
using Xunit;

namespace LiveEdit.Infra.Tests;

/// <summary>
/// The broker infra/services starts knows one user, with the installation's own password: the well-known
/// guest/guest and a fixed liveedit/liveedit are refused, even from loopback.
/// </summary>
[Collection(Collections.RabbitMq)]
public sealed class the_shared_rabbitmq_users(RabbitMqFixture rabbit)
{
    private async Task ConnectAsync(string user, string password)
    {
        var factory = new ConnectionFactory
        {
            HostName = rabbit.Uri.Host, Port = rabbit.Uri.Port, UserName = user, Password = password,
            VirtualHost = "/", AutomaticRecoveryEnabled = false, RequestedConnectionTimeout = TimeSpan.FromSeconds(10),
        };
        await using var connection = await factory.CreateConnectionAsync();
        connection.IsOpen.ShouldBeTrue();
    }

    [Fact]
    public async Task the_application_user_connects_with_the_installations_password() =>
        await ConnectAsync(rabbit.UserName, rabbit.Password);

    [Theory]
    [InlineData("guest", "guest")]
    [InlineData("liveedit", "liveedit")]
    public async Task a_well_known_login_is_refused(string user, string password)
    {
        Environment.GetEnvironmentVariable(PostgresFixture.SuperuserVariable)
            .ShouldNotBeNullOrWhiteSpace("run after `infra/services up` and `eval \"$(infra/services env)\"` (./test does)");
        var refused = await Should.ThrowAsync<BrokerUnreachableException>(() => ConnectAsync(user, password));
        refused.InnerException.ShouldBeOfType<AuthenticationFailureException>();
    }
}
