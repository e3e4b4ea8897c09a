using LiveEdit.Testing;
using Xunit;

namespace LiveEdit.System.Tests;

/// <summary>A test class with a ledger schema and broker queue names of its own.</summary>
public abstract class SchemaPerClass(PostgresFixture postgres) : IAsyncLifetime
{
    protected PostgresFixture Postgres { get; } = postgres;

    protected string Schema { get; private set; } = "";

    /// <summary>Queue-name prefix, so workers of other classes never take this class's messages.</summary>
    protected string Prefix { get; } = $"t{Guid.NewGuid():N}"[..12] + "-";

    public async Task InitializeAsync() => Schema = await Settings.MigrateAsync(Postgres, GetType());

    public Task DisposeAsync() => Task.CompletedTask;
}
