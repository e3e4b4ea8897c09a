using Npgsql;
using Testcontainers.PostgreSql;
using Xunit;

namespace LiveEdit.Testing;

/// <summary>
/// One PostgreSQL for the whole test run. Uses the strings infra/services prints when set (CI and <c>./test</c>
/// start a real server through infra/services): <c>ConnectionStrings__LedgerSuperuser</c> (or, from an older
/// install, <c>ConnectionStrings__Ledger</c>) for <see cref="ConnectionString"/>, <c>ConnectionStrings__LedgerOwner</c>
/// and <c>ConnectionStrings__Ledger</c> for the owner and application roles. Otherwise starts a Testcontainers
/// PostgreSQL, where the superuser stands in for the owner and an application role is made for the run.
/// Each test class takes a schema of its own through <see cref="CreateSchemaAsync"/>.
/// </summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    public const string EnvironmentVariable = "ConnectionStrings__Ledger";
    public const string SuperuserVariable = "ConnectionStrings__LedgerSuperuser";
    public const string OwnerVariable = "ConnectionStrings__LedgerOwner";
    private PostgreSqlContainer? _container;

    /// <summary>Connection string of the shared database, as a superuser (the tests' attacks run through it).</summary>
    public string ConnectionString { get; private set; } = "";

    /// <summary>As the role that owns ledger schemas and runs migrations (the superuser when no owner role is configured).</summary>
    public string OwnerConnectionString { get; private set; } = "";

    /// <summary>As the application role the hosts connect as: no superuser, owns nothing.</summary>
    public string AppConnectionString { get; private set; } = "";

    /// <summary>The application role's name.</summary>
    public string AppRole => new NpgsqlConnectionStringBuilder(AppConnectionString).Username!;

    /// <summary>The owner role's name.</summary>
    public string OwnerRole => new NpgsqlConnectionStringBuilder(OwnerConnectionString).Username!;

    public async Task InitializeAsync()
    {
        var superuser = Environment.GetEnvironmentVariable(SuperuserVariable);
        var fromEnvironment = string.IsNullOrWhiteSpace(superuser) ? Environment.GetEnvironmentVariable(EnvironmentVariable) : superuser;
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

        var owner = Environment.GetEnvironmentVariable(OwnerVariable);
        var app = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (!string.IsNullOrWhiteSpace(superuser) && !string.IsNullOrWhiteSpace(owner) && !string.IsNullOrWhiteSpace(app))
        {
            OwnerConnectionString = owner;
            AppConnectionString = app;
        }
        else
        {
            OwnerConnectionString = ConnectionString;
            AppConnectionString = await CreateAppRoleAsync(connection);
        }
    }

    /// <summary>An application role of this run's own (a database without infra/services' roles), with a random password.</summary>
    private async Task<string> CreateAppRoleAsync(NpgsqlConnection connection)
    {
        var role = $"liveedit_test_app_{Guid.NewGuid():N}"[..30];
        var password = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(24));
        var database = connection.Database;
        await using var command = new NpgsqlCommand(
            $"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOINHERIT PASSWORD '{password}'; GRANT CONNECT ON DATABASE \"{database}\" TO {role};",
            connection);
        await command.ExecuteNonQueryAsync();
        return new NpgsqlConnectionStringBuilder(ConnectionString) { Username = role, Password = password }.ToString();
    }

    /// <summary>
    /// Drops and re-creates a schema named after the test class (plus <paramref name="suffix"/>), owned by the owner
    /// role, so a migration connected as the owner can fill it; returns its name.
    /// </summary>
    public async Task<string> CreateOwnedSchemaAsync(Type testClass, string suffix = "")
    {
        var name = SchemaNameFor(testClass) + suffix;
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name} AUTHORIZATION {OwnerRole};", connection);
        await command.ExecuteNonQueryAsync();
        return name;
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
