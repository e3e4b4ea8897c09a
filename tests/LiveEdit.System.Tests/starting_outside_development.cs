using LiveEdit.Inference;
using LiveEdit.Testing;
using Npgsql;
using Shouldly;
using Xunit;

namespace LiveEdit.System.Tests;

/// <summary>
/// Outside development a host or worker neither guesses where the ledger is nor creates its schema: without an
/// explicit connection string and schema it refuses to start, and over a schema the owner has not migrated it
/// names the migrate command and creates nothing.
/// </summary>
[Collection(SystemCollection.Name)]
public sealed class starting_outside_development(PostgresFixture postgres, RabbitMqFixture rabbit) : SchemaPerClass(postgres)
{
    private static readonly string[] LedgerVariables =
        ["ConnectionStrings__Ledger", "ConnectionStrings__LedgerOwner", "ConnectionStrings__LedgerSuperuser", "Ledger__Schema"];

    [Fact]
    public async Task a_stray_worker_with_no_ledger_settings_refuses_to_start()
    {
        using var worker = WorkerProcess.Start(new Dictionary<string, string>
        {
            ["ConnectionStrings__RabbitMq"] = rabbit.Uri.ToString(),
            ["Transport__QueuePrefix"] = Prefix,
        }, unset: LedgerVariables);

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!worker.HasExited && DateTime.UtcNow < deadline) await Task.Delay(100);

        worker.HasExited.ShouldBeTrue($"a worker with no ledger settings kept running:\n{string.Join('\n', worker.Output)}");
        worker.ExitCode.ShouldNotBe(0);
        var output = string.Join('\n', worker.Output);
        output.ShouldContain("ConnectionStrings:Ledger is not set");
        output.ShouldNotContain("   at ", Case.Sensitive, "one clear line, not a stack trace");
    }

    [Fact]
    public void a_host_without_a_schema_refuses_to_start()
    {
        var settings = Settings.InMemory(Postgres, Schema);
        settings["Ledger:Schema"] = "";

        var refused = Should.Throw<InvalidOperationException>(() => InferenceApp.Build(["--urls", "http://127.0.0.1:0"], b =>
        {
            foreach (var (key, value) in settings) b.Configuration[key] = value;
        }));

        refused.Message.ShouldContain("Ledger:Schema is not set");
    }

    [Fact]
    public async Task a_host_over_an_unmigrated_schema_names_the_migrate_command_and_creates_nothing()
    {
        var empty = await Postgres.CreateOwnedSchemaAsync(GetType(), "_empty");
        var app = InferenceApp.Build(["--urls", "http://127.0.0.1:0"], b =>
        {
            foreach (var (key, value) in Settings.InMemory(Postgres, empty)) b.Configuration[key] = value;
        });
        await using (app)
        {
            var refused = await Should.ThrowAsync<InvalidOperationException>(() => InferenceApp.PrepareAsync(app));
            refused.Message.ShouldContain("liveedit ledger migrate --schema " + empty);
        }

        await using var connection = new NpgsqlConnection(Postgres.ConnectionString);
        await connection.OpenAsync();
        await using var count = new NpgsqlCommand($"select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace where n.nspname = '{empty}'", connection);
        ((long)(await count.ExecuteScalarAsync())!).ShouldBe(0, "the host created schema objects");
    }
}
