using LiveEdit.Testing;
using Xunit;

namespace LiveEdit.System.Tests;

/// <summary>A test class with a ledger schema and a running host of its own (in-memory transport unless configured).</summary>
public abstract class HostPerClass(PostgresFixture postgres) : IAsyncLifetime
{
    /// <summary>The host, started before the first test of the class.</summary>
    protected RunningHost Host { get; private set; } = null!;

    /// <summary>The host's settings on the class's schema; override to change them.</summary>
    protected virtual Dictionary<string, string?> Configure(PostgresFixture postgres, string schema) => Settings.InMemory(postgres, schema);

    public async Task InitializeAsync()
    {
        var schema = await Settings.MigrateAsync(postgres, GetType());
        Host = await RunningHost.StartAsync(Configure(postgres, schema));
    }

    public async Task DisposeAsync() => await Host.DisposeAsync();
}
