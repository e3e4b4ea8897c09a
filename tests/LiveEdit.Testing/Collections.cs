namespace LiveEdit.Testing;

/// <summary>
/// Names of the shared collections. xunit 2 needs each <c>[CollectionDefinition]</c> inside the test
/// assembly itself, so every test project declares
/// <c>[CollectionDefinition(Collections.Postgres)] class PostgresCollection : ICollectionFixture&lt;PostgresFixture&gt;;</c>.
/// </summary>
public static class Collections
{
    public const string Postgres = "postgres";
    public const string RabbitMq = "rabbitmq";
}
