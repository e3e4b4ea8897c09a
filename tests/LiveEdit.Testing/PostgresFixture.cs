using Npgsql;
using Testcontainers.PostgreSql;
using Xunit;

namespace LiveEdit.Testing;

/// <summary>
/// One PostgreSQL for the whole test run. Uses <c>ConnectionStrings__Ledger</c> when set (CI and
/// <c>./test</c> start a real server through infra/services); otherwise starts a Testcontainers PostgreSQL.
/// Each test class takes a schema of its own through <see cref="CreateSchemaAsync"/>.
/// </summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    public const string EnvironmentVariable = "ConnectionStrings__Ledger";
    private PostgreSqlContainer? _container;

    /// <summary>Connection string of the shared database.</summary>
    public string ConnectionString { get; private set; } = "";

    public async Task InitializeAsync()
    {
        var fromEnvironment = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(fromEnvironment))
        {
            ConnectionString = fromEnvironment;
        }
        else
        {
            try
            {
                _container = new PostgreSqlBuilder("postgres:15").Build();
                await _container.StartAsync();
                ConnectionString = _container.GetConnectionString();
            }
            catch (Exception e)
            {
                throw new InvalidOperationException(
                    $"No PostgreSQL for the tests: {EnvironmentVariable} is not set and Testcontainers could not start one " +
                    $"({e.GetType().Name}: {e.Message}). Run the tests with ./test, or `infra/services up --for-tests` " +
                    "then `eval \"$(infra/services env)\"`.", e);
            }
        }

        await using var connection = new NpgsqlConnection(ConnectionString);
        try
        {
            await connection.OpenAsync();
        }
        catch (Exception e)
        {
            throw new InvalidOperationException(
                $"PostgreSQL at '{Redact(ConnectionString)}' does not answer: {e.Message}. Is `infra/services up` running?", e);
        }
    }

    /// <summary>Drops and re-creates a schema named after the test class; returns its name.</summary>
    public async Task<string> CreateSchemaAsync(Type testClass)
    {
        var name = SchemaNameFor(testClass);
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name};", connection);
        await command.ExecuteNonQueryAsync();
        return name;
    }

    /// <summary>A valid, lower-case PostgreSQL identifier derived from the class name.</summary>
    public static string SchemaNameFor(Type testClass)
    {
        var chars = testClass.Name.ToLowerInvariant().Select(c => char.IsAsciiLetterOrDigit(c) ? c : '_').ToArray();
        var name = "t_" + new string(chars);
        return name.Length > 60 ? name[..60] : name;
    }

    public async Task DisposeAsync()
    {
        if (_container is not null) await _container.DisposeAsync();
    }

    private static string Redact(string connectionString) =>
        string.Join(';', connectionString.Split(';').Where(p => !p.TrimStart().StartsWith("Password", StringComparison.OrdinalIgnoreCase)));
}
