using LiveEdit.Testing;
using Xunit;

namespace LiveEdit.System.Tests;

/// <summary>A test class with a ledger schema and a running host of its own (in-memory transport unless configured).</summary>
public abstract class HostPerClass(PostgresFixture postgres) : IAsyncLifetime
{
    /// <summary>The host, started before the first test of the class.</summary>
    protected RunningHost Host { get; private set; } = null!;

    /// <summary>The database (its connection string is the superuser's).</summary>
    protected PostgresFixture Postgres { get; } = postgres;

    /// <summary>The class's ledger schema.</summary>
    protected string Schema { get; private set; } = "";

    /// <summary>The host's settings on the class's schema; override to change them.</summary>
    protected virtual Dictionary<string, string?> Configure(PostgresFixture postgres, string schema) => Settings.InMemory(postgres, schema);

    public async Task InitializeAsync()
    {
        Schema = await Settings.MigrateAsync(Postgres, GetType());
        Host = await RunningHost.StartAsync(Configure(Postgres, Schema));
    }

    public async Task DisposeAsync() => await Host.DisposeAsync();
}
