using System.Collections.Concurrent;
using System.Net;
using LiveEdit.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;
using Shouldly;
using Xunit;

namespace LiveEdit.Web.Tests;

/// <summary>
/// Browsing the pages leaves the host's log quiet: no warning per page (antiforgery rewrites the cache headers of a page
/// that does not already forbid caching the way it wants, and says so on every response), and the pages are never cached.
/// </summary>
[Collection(WebCollection.Name)]
public sealed class browsing_without_log_noise(PostgresFixture postgres) : UiHostPerClass(postgres)
{
    private readonly WarningLog _log = new();

    protected override void Configure(WebApplicationBuilder builder) => builder.Logging.AddProvider(_log);

    [Fact]
    public async Task pages_with_forms_log_no_warning_and_forbid_caching()
    {
        var (client, _) = Host.Browserless();
        var page = await client.GetStringAsync("/ui/sign-in");
        using (var signIn = await client.PostAsync("/ui/sign-in?handler=Key", new FormUrlEncodedContent(
                   [new("apiKey", Ui.AdminKey), new("__RequestVerificationToken", Ui.FormToken(page))])))
            signIn.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        _log.Warnings.Clear(); // start-up's own lines are not what this is about

        foreach (var path in new[] { "/ui/sign-in", "/ui/home", "/ui/timeline", "/ui/queue", "/ui/ask", "/ui/diff", "/ui/edits" })
        {
            using var response = await client.GetAsync(path);
            response.StatusCode.ShouldBe(HttpStatusCode.OK, path);
            response.Headers.CacheControl!.NoStore.ShouldBeTrue(path);
            response.Headers.CacheControl.NoCache.ShouldBeTrue(path);
        }
        _log.Warnings.ShouldBeEmpty();
    }

    private sealed class WarningLog : ILoggerProvider
    {
        public ConcurrentQueue<string> Warnings { get; } = new();
        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);
        public void Dispose() { }

        private sealed class Logger(WarningLog log, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
            public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                if (IsEnabled(logLevel)) log.Warnings.Enqueue($"{logLevel} {category}: {formatter(state, exception)}");
            }
        }
    }
}
