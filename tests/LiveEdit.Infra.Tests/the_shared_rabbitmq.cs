using LiveEdit.Testing;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Shouldly;
using Xunit;

namespace LiveEdit.Infra.Tests;

public sealed record ProbeSent(Guid Id, string Text);

public sealed class ProbeConsumer(TaskCompletionSource<ProbeSent> received) : IConsumer<ProbeSent>
{
    public Task Consume(ConsumeContext<ProbeSent> context)
    {
        received.TrySetResult(context.Message);
        return Task.CompletedTask;
    }
}

[Collection(Collections.RabbitMq)]
public sealed class the_shared_rabbitmq(RabbitMqFixture rabbit)
{
    [Fact]
    public async Task carries_a_masstransit_message_from_publisher_to_consumer()
    {
        var received = new TaskCompletionSource<ProbeSent>(TaskCreationOptions.RunContinuationsAsynchronously);
        var services = new ServiceCollection();
        services.AddSingleton(received);
        services.AddMassTransit(bus =>
        {
            bus.AddConsumer<ProbeConsumer>();
            bus.UsingRabbitMq((context, cfg) =>
            {
                cfg.Host(rabbit.Uri.Host, (ushort)rabbit.Uri.Port, "/", h =>
                {
                    h.Username(rabbit.UserName);
                    h.Password(rabbit.Password);
                });
                // A queue of this run's own, removed when the bus stops.
                cfg.ReceiveEndpoint($"infra-probe-{Guid.NewGuid():N}", e =>
                {
                    e.AutoDelete = true;
                    e.ConfigureConsumer<ProbeConsumer>(context);
                });
            });
        });
        await using var provider = services.BuildServiceProvider();
        var bus = provider.GetRequiredService<IBusControl>();
        await bus.StartAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
        try
        {
            var sent = new ProbeSent(Guid.NewGuid(), "over a real broker");
            await bus.Publish(sent);
            var got = await received.Task.WaitAsync(TimeSpan.FromSeconds(30));
            got.ShouldBe(sent);
        }
        finally
        {
            await bus.StopAsync();
        }
    }
}
