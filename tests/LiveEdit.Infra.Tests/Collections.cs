using LiveEdit.Testing;
using Xunit;

namespace LiveEdit.Infra.Tests;

[CollectionDefinition(Collections.Postgres)]
public sealed class PostgresCollection : ICollectionFixture<PostgresFixture>;

[CollectionDefinition(Collections.RabbitMq)]
public sealed class RabbitMqCollection : ICollectionFixture<RabbitMqFixture>;
