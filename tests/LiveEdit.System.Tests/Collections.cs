using LiveEdit.Testing;
using Xunit;

namespace LiveEdit.System.Tests;

/// <summary>
/// The end-to-end tests share one PostgreSQL and one RabbitMQ and run one class at a time: each starts real hosts
/// (and worker processes) that load the model, and two at once on two cores only make both slow.
/// </summary>
[CollectionDefinition(Name)]
public sealed class SystemCollection : ICollectionFixture<PostgresFixture>, ICollectionFixture<RabbitMqFixture>
{
    public const string Name = "system";
}
