using LiveEdit.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Playwright;
using Xunit;

namespace LiveEdit.Web.Tests;

/// <summary>
/// One host of the web UI per test class: a migrated schema with the test people, a Data Protection key folder of its own
/// and, for the browser tests, headless chromium; all of it gone at the end.
/// </summary>
public abstract class UiHostPerClass(PostgresFixture postgres, bool browser = false) : IAsyncLifetime
{
    private IPlaywright? _playwright;

    protected PostgresFixture Postgres => postgres;

    /// <summary>The host's Data Protection key folder.</summary>
    protected string Keys { get; } = Directory.CreateTempSubdirectory("liveedit-ui-keys-").FullName;

    /// <summary>The class's ledger schema.</summary>
    protected string Schema { get; private set; } = "";

    /// <summary>The running host (a test may stop it and start another in its place).</summary>
    protected RunningHost Host { get; set; } = null!;

    /// <summary>The browser, when the class asked for one.</summary>
    protected IBrowser Browser { get; private set; } = null!;

    /// <summary>More for the host's builder than <see cref="Ui.Settings"/> says (e.g. a log provider).</summary>
    protected virtual void Configure(WebApplicationBuilder builder)
    {
    }

    public async Task InitializeAsync()
    {
        if (browser) (_playwright, Browser) = await Chromium.LaunchAsync();
        Schema = await Ui.MigrateAsync(postgres, GetType());
        Host = await Ui.StartAsync(Ui.Settings(postgres, Schema, Keys), Configure);
    }

    public async Task DisposeAsync()
    {
        await Host.DisposeAsync();
        if (Browser is not null) await Browser.DisposeAsync();
        _playwright?.Dispose();
        Directory.Delete(Keys, recursive: true);
    }
}
