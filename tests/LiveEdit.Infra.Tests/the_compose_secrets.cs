using System.Diagnostics;
using LiveEdit.Testing;
using Shouldly;
using Xunit;

namespace LiveEdit.Infra.Tests;

/// <summary>
/// docker-compose.yml carries no secret of its own: `docker-compose config` (which needs no Docker engine)
/// refuses it while any secret is missing from the environment, naming the variable, and accepts it when all are
/// set. The apps connect as the application role; only the migrate service holds the owner's password.
/// </summary>
public sealed class the_compose_secrets
{
    private static readonly Dictionary<string, string> Secrets = new()
    {
        ["LIVEEDIT_PG_SUPERUSER_PASSWORD"] = "5up3r0000",
        ["LIVEEDIT_PG_OWNER_PASSWORD"] = "0wn3r1111",
        ["LIVEEDIT_PG_APP_PASSWORD"] = "4pp2222",
        ["LIVEEDIT_RABBITMQ_PASSWORD"] = "r4bb1t3333",
        ["LIVEEDIT_CHAIN_KEY_FILE"] = "/srv/liveedit/ledger-chain.key",
        ["LIVEEDIT_API_KEYS_FILE"] = "/srv/liveedit/keys.json",
    };

    private static (int ExitCode, string Output) Config(IReadOnlyDictionary<string, string> environment)
    {
        // An empty env file of its own, so an .env next to the compose file cannot supply what the test leaves out.
        var envFile = Path.GetTempFileName();
        var start = new ProcessStartInfo("docker-compose", ["--env-file", envFile, "-f", "docker-compose.yml", "config"])
        {
            WorkingDirectory = RepositoryRoot.Path,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var key in Secrets.Keys) start.Environment.Remove(key);
        foreach (var (key, value) in environment) start.Environment[key] = value;
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("docker-compose is not installed (Debian package docker-compose; `infra/services up --for-tests` installs it)", e);
        }
        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            process.WaitForExit(60_000).ShouldBeTrue("docker-compose config did not finish within 60 s");
            File.Delete(envFile);
            return (process.ExitCode, stdout.Result + stderr.Result);
        }
    }

    [Fact]
    public void is_accepted_when_every_secret_is_set_and_the_apps_get_the_application_role()
    {
        var (exitCode, output) = Config(Secrets);

        exitCode.ShouldBe(0, output);
        output.ShouldContain("Username=liveedit_app;Password=4pp2222;");
        output.ShouldContain("Username=liveedit_owner;Password=0wn3r1111;");
        output.ShouldContain("amqp://liveedit:r4bb1t3333@rabbitmq:5672/");
        output.ShouldContain("/srv/liveedit/ledger-chain.key:/run/secrets/ledger-chain.key:ro");
        output.ShouldContain("/srv/liveedit/keys.json:/run/secrets/liveedit-keys.json:ro");
        output.ShouldNotContain("Password=liveedit;");
    }

    [Theory]
    [InlineData("LIVEEDIT_PG_SUPERUSER_PASSWORD")]
    [InlineData("LIVEEDIT_PG_OWNER_PASSWORD")]
    [InlineData("LIVEEDIT_PG_APP_PASSWORD")]
    [InlineData("LIVEEDIT_RABBITMQ_PASSWORD")]
    [InlineData("LIVEEDIT_CHAIN_KEY_FILE")]
    [InlineData("LIVEEDIT_API_KEYS_FILE")]
    public void is_refused_naming_the_missing_secret(string missing)
    {
        var (exitCode, output) = Config(Secrets.Where(kv => kv.Key != missing).ToDictionary());

        exitCode.ShouldNotBe(0, output);
        output.ShouldContain($"set {missing}");
    }
}
