using System.Collections.Concurrent;
using System.Net;
using LiveEdit.Inference;
using LiveEdit.Inference.Auth;
using LiveEdit.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Shouldly;
using Xunit;

namespace LiveEdit.System.Tests;

/// <summary>Which keys a host accepts: configured hashes only, the development keys only in a Development run, guessing throttled.</summary>
[Collection(SystemCollection.Name)]
public sealed class authenticating_callers(PostgresFixture postgres) : SchemaPerClass(postgres), IDisposable
{
    private const string OperatorKey = "a-long-operator-secret-0f3e9";
    private readonly DirectoryInfo _folder = Directory.CreateTempSubdirectory("liveedit-keys-");

    private Dictionary<string, string?> NoKeys()
    {
        var settings = Settings.InMemory(Postgres, Schema);
        foreach (var key in settings.Keys.Where(k => k.StartsWith("Auth:", StringComparison.Ordinal)).ToList()) settings.Remove(key);
        return settings;
    }

    private Dictionary<string, string?> OneOperatorKey()
    {
        var settings = NoKeys();
        settings["Auth:Keys:0:User"] = "olga";
        settings["Auth:Keys:0:Roles:0"] = "admin";
        settings["Auth:Keys:0:Sha256"] = ApiKeyOptions.Hash(OperatorKey);
        return settings;
    }

    private static async Task<HttpStatusCode> HeadAsync(RunningHost host, string key)
    {
        using var client = host.Client(key);
        using var response = await client.GetAsync("/ledger/head");
        return response.StatusCode;
    }

    [Fact]
    public void a_host_outside_development_without_keys_refuses_to_start_and_says_how_to_configure_them()
    {
        var settings = NoKeys();
        var error = Should.Throw<InvalidOperationException>(() => InferenceApp.Build(["--urls", "http://127.0.0.1:0", "--environment", "Production"],
            b => { foreach (var (k, v) in settings) b.Configuration[k] = v; }));
        error.Message.ShouldContain("No API keys are configured");
        error.Message.ShouldContain("Auth:KeysFile");
        error.Message.ShouldContain("liveedit auth hash-key");
    }

    [Fact]
    public void a_raw_key_in_the_configuration_is_refused()
    {
        var settings = NoKeys();
        settings["Auth:Keys:0:User"] = "olga";
        settings["Auth:Keys:0:Roles:0"] = "admin";
        settings["Auth:Keys:0:Key"] = OperatorKey;
        Should.Throw<InvalidOperationException>(() => InferenceApp.Build(["--urls", "http://127.0.0.1:0"], b => { foreach (var (k, v) in settings) b.Configuration[k] = v; }))
            .Message.ShouldContain("raw Key");
    }

    [Fact]
    public void the_hash_of_the_empty_string_is_refused_as_a_configured_key()
    {
        var settings = NoKeys();
        settings["Auth:Keys:0:User"] = "olga";
        settings["Auth:Keys:0:Roles:0"] = "admin";
        settings["Auth:Keys:0:Sha256"] = ApiKeyOptions.Hash(""); // printf %s "$UNSET" | sha256sum
        Should.Throw<InvalidOperationException>(() => InferenceApp.Build(["--urls", "http://127.0.0.1:0", "--environment", "Production"],
                b => { foreach (var (k, v) in settings) b.Configuration[k] = v; }))
            .Message.ShouldContain("SHA-256 of the empty string");
    }

    [Fact]
    public async Task an_empty_or_blank_key_is_no_key_it_gets_401_and_is_not_counted_as_a_guess()
    {
        var settings = OneOperatorKey();
        settings["Auth:FailureBurst"] = "3";
        settings["Auth:FailuresPerSecond"] = "1";
        await using var host = await RunningHost.StartAsync(settings, environment: "Production");
        using var client = new HttpClient { BaseAddress = host.Address };
        for (var i = 0; i < 10; i++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/ledger/head");
            request.Headers.TryAddWithoutValidation("X-Api-Key", i % 2 == 0 ? "" : "   ");
            using var response = await client.SendAsync(request);
            response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized, $"request {i}");
        }
        (await HeadAsync(host, OperatorKey)).ShouldBe(HttpStatusCode.OK, "blank keys are not guesses: the client is not throttled");
    }

    [Fact]
    public async Task outside_development_no_development_key_authenticates_and_a_configured_hash_does()
    {
        await using var host = await RunningHost.StartAsync(OneOperatorKey(), environment: "Production");
        foreach (var (secret, _, _) in DevelopmentKeys.All) (await HeadAsync(host, secret)).ShouldBe(HttpStatusCode.Unauthorized, secret);
        (await HeadAsync(host, OperatorKey)).ShouldBe(HttpStatusCode.OK);
        (await HeadAsync(host, ApiKeyOptions.Hash(OperatorKey))).ShouldBe(HttpStatusCode.Unauthorized, "the hash itself is not a key");
    }

    [Fact]
    public async Task a_development_run_without_keys_accepts_the_development_keys()
    {
        await using var host = await RunningHost.StartAsync(NoKeys(), environment: "Development");
        foreach (var (secret, _, _) in DevelopmentKeys.All) (await HeadAsync(host, secret)).ShouldBe(HttpStatusCode.OK, secret);
    }

    [Fact]
    public async Task a_keys_file_replaces_the_whole_set_even_in_a_development_run()
    {
        var file = Path.Combine(_folder.FullName, "keys.json");
        await File.WriteAllTextAsync(file, $$"""[{"user": "olga", "roles": ["admin"], "sha256": "{{ApiKeyOptions.Hash(OperatorKey)}}"}]""");
        var settings = OneOperatorKey();
        settings["Auth:Keys:0:Sha256"] = ApiKeyOptions.Hash("an-index-zero-override-key");
        settings["Auth:KeysFile"] = file;
        await using var host = await RunningHost.StartAsync(settings, environment: "Development");
        foreach (var (secret, _, _) in DevelopmentKeys.All) (await HeadAsync(host, secret)).ShouldBe(HttpStatusCode.Unauthorized, secret);
        (await HeadAsync(host, "an-index-zero-override-key")).ShouldBe(HttpStatusCode.Unauthorized, "Auth:Keys is ignored when a keys file is set");
        (await HeadAsync(host, OperatorKey)).ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task guessing_keys_is_answered_429_even_for_the_right_key_and_each_failure_is_logged_once()
    {
        var logs = new CapturedLogs();
        var settings = OneOperatorKey();
        settings["Auth:FailureBurst"] = "3";
        settings["Auth:FailuresPerSecond"] = "1";
        settings["Logging:LogLevel:Default"] = "Information";
        await using var host = await RunningHost.StartAsync(settings, configure: b => b.Logging.AddProvider(logs));

        logs.Lines.Clear(); // start-up lines are not the requests'
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 20; i++) statuses.Add(await HeadAsync(host, $"guess-number-{i:D4}"));
        statuses.Count(s => s == HttpStatusCode.Unauthorized).ShouldBeInRange(3, 5);
        statuses.Count(s => s == HttpStatusCode.TooManyRequests).ShouldBeGreaterThanOrEqualTo(15);
        using (var client = host.Client(OperatorKey))
        using (var throttled = await client.GetAsync("/ledger/head"))
        {
            throttled.StatusCode.ShouldBe(HttpStatusCode.TooManyRequests, "while throttled a right guess looks like a wrong one");
            throttled.Headers.RetryAfter.ShouldNotBeNull();
        }

        // Marten's own lines can name this class's schema (t_authenticating_callers): they are not about keys.
        var failures = logs.Lines.Where(l => !l.Category.StartsWith("Marten", StringComparison.Ordinal)
            && (l.Message.Contains("authenticat", StringComparison.OrdinalIgnoreCase) || l.Message.Contains("API key", StringComparison.OrdinalIgnoreCase))).ToList();
        failures.Count.ShouldBe(statuses.Count(s => s == HttpStatusCode.Unauthorized), string.Join("\n", failures.Select(f => $"{f.Category}: {f.Message}")));
        failures.ShouldAllBe(f => f.Exception == null && !f.Message.Contains("guess-number"));

        await Task.Delay(TimeSpan.FromSeconds(1.5));
        (await HeadAsync(host, OperatorKey)).ShouldBe(HttpStatusCode.OK);
    }

    public void Dispose() => _folder.Delete(recursive: true);

    private sealed class CapturedLogs : ILoggerProvider
    {
        public ConcurrentQueue<(string Category, string Message, Exception? Exception)> Lines { get; } = new();

        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

        public void Dispose()
        {
        }

        private sealed class Logger(CapturedLogs owner, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                owner.Lines.Enqueue((category, formatter(state, exception), exception));
        }
    }
}
