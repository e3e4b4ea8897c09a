using System.Diagnostics;
using LiveEdit.Hosting;
using LiveEdit.Hosting.Audit;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Audit;
using LiveEdit.Ledger.Edits;
using LiveEdit.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Shouldly;
using Xunit;

namespace LiveEdit.System.Tests;

/// <summary>Signed checkpoints as an operator makes them: the command line, and the host's periodic writer.</summary>
[Collection(SystemCollection.Name)]
public sealed class checkpointing_the_ledger(PostgresFixture postgres) : SchemaPerClass(postgres), IDisposable
{
    private readonly DirectoryInfo _folder = Directory.CreateTempSubdirectory("liveedit-checkpoint-cli-");

    public void Dispose() => _folder.Delete(recursive: true);

    private string PathOf(string name) => Path.Combine(_folder.FullName, name);

    private async Task<EditLedger> LedgerWithEditsAsync(Marten.DocumentStore store, int edits)
    {
        var ledger = new EditLedger(store, new LedgerOptions { ChainKey = Convert.FromBase64String(LiveEdit.Testing.TestChainKey.Base64) });
        await ledger.EnsureSchemaAsync();
        await ProposeAsync(ledger, edits);
        return ledger;
    }

    private static async Task ProposeAsync(EditLedger ledger, int edits)
    {
        for (var i = 0; i < edits; i++)
        {
            var image = await ledger.Blobs.PutAsync(global::System.Text.Encoding.UTF8.GetBytes($"image {Guid.NewGuid()}"));
            await ledger.ProposeAsync(new ProposeEdit(Guid.NewGuid(), image, "what is this?", $"thing {i}", "", "alice"));
        }
    }

    [Fact]
    public async Task the_cli_signs_the_head_and_verify_names_a_consistent_rewrite_of_the_chain()
    {
        await using var store = LedgerStore.Create(Postgres.ConnectionString, Schema);
        var ledger = await LedgerWithEditsAsync(store, 3);
        var head = await ledger.GetHeadAsync();

        var keygen = await Liveedit("ledger", "keygen", "--private", PathOf("key.pem"), "--public", PathOf("key.pub.pem"));
        keygen.ExitCode.ShouldBe(0, keygen.ToString());
        if (!OperatingSystem.IsWindows()) File.GetUnixFileMode(PathOf("key.pem")).ShouldBe(UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var again = await Liveedit("ledger", "keygen", "--private", PathOf("key.pem"), "--public", PathOf("other.pub.pem"));
        (again.ExitCode, again.Error.Trim()).ShouldBe((1, $"liveedit ledger keygen: '{PathOf("key.pem")}' already exists; refusing to overwrite a key"));

        var checkpoint = await Liveedit("ledger", "checkpoint", "--key", PathOf("key.pem"), "--out", PathOf("checkpoints"));
        checkpoint.ExitCode.ShouldBe(0, checkpoint.ToString());
        var file = $"checkpoint-{Schema}-{head}.json";
        checkpoint.Out.ShouldContain($"wrote {Path.Combine(PathOf("checkpoints"), file)}");
        checkpoint.Out.ShouldContain($"ledger checkpoint: schema {Schema}, sequence {head}, chain hash ");
        var verify = await Liveedit("verify", "--schema", Schema, "--checkpoints", PathOf("checkpoints"), "--public-key", PathOf("key.pub.pem"));
        verify.ExitCode.ShouldBe(0, verify.ToString());
        verify.Out.ShouldContain($"checkpoints: 1 verified (sequences {head}..{head})");

        await ChainRewriter.AsSuperuserAsync(Postgres.ConnectionString,
            $"update {Schema}.mt_events set data = jsonb_set(data, '{{target}}', '\"forged\"') where seq_id = {head - 1};" +
            // the insider keeps the projection in step, so only the checkpoints can tell
            $"update {Schema}.mt_doc_editsummary set data = jsonb_set(data, '{{target}}', '\"forged\"') where id = (select stream_id from {Schema}.mt_events where seq_id = {head - 1})");
        await ChainRewriter.RewriteFromAsync(Postgres.ConnectionString, Schema, head - 1, Convert.FromBase64String(LiveEdit.Testing.TestChainKey.Base64));
        var caught = await Liveedit("verify", "--schema", Schema, "--checkpoints", PathOf("checkpoints"), "--public-key", PathOf("key.pub.pem"));

        caught.ExitCode.ShouldBe(1, caught.ToString());
        caught.Out.ShouldContain("hash chain: intact");
        caught.Out.ShouldContain($"checkpoint {file} (sequence {head}): the chain entry at sequence {head} is ");
        caught.Out.ShouldContain($"the ledger was rewritten at or before sequence {head}");
        caught.Error.ShouldNotContain(" at ");
    }

    [Fact]
    public async Task expected_failures_are_one_line_and_a_non_zero_exit()
    {
        await using var store = LedgerStore.Create(Postgres.ConnectionString, Schema);
        await LedgerWithEditsAsync(store, 1);
        (await Liveedit("ledger", "keygen", "--private", PathOf("key.pem"), "--public", PathOf("key.pub.pem"))).ExitCode.ShouldBe(0);

        await Refused(1, $"liveedit ledger checkpoint: private key file '{PathOf("key.pub.pem")}' holds a 'PUBLIC KEY' block",
            "ledger", "checkpoint", "--key", PathOf("key.pub.pem"), "--out", PathOf("checkpoints"));
        await Refused(1, $"liveedit ledger checkpoint: environment variable {CheckpointSigner.EnvironmentVariable} is not set",
            "ledger", "checkpoint", "--out", PathOf("checkpoints"));
        await Refused(1, $"liveedit verify: checkpoint folder '{PathOf("nowhere")}' does not exist",
            "verify", "--schema", Schema, "--checkpoints", PathOf("nowhere"), "--public-key", PathOf("key.pub.pem"));
        await Refused(1, "liveedit verify: --checkpoints and --public-key go together", "verify", "--schema", Schema, "--checkpoints", PathOf("checkpoints"));
    }

    [Fact]
    public async Task a_host_configured_with_a_folder_and_a_key_writes_a_checkpoint_after_n_events()
    {
        var keyFile = PathOf("host-key.pem");
        CheckpointKeys.GenerateFiles(keyFile, PathOf("host-key.pub.pem"));
        using var host = BuildHost(new()
        {
            ["Checkpoints:Folder"] = PathOf("host-checkpoints"),
            ["Checkpoints:KeyFile"] = keyFile,
            ["Checkpoints:EveryEvents"] = "3",
            ["Checkpoints:PollSeconds"] = "0.2",
        });
        var ledger = host.Services.GetRequiredService<EditLedger>();
        await ledger.EnsureSchemaAsync();
        await host.StartAsync();
        try
        {
            await ProposeAsync(ledger, 2);
            await Task.Delay(1_000);
            Directory.Exists(PathOf("host-checkpoints")).ShouldBeFalse("two events are fewer than three");
            await ProposeAsync(ledger, 1);
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (!Directory.Exists(PathOf("host-checkpoints")) || Directory.GetFiles(PathOf("host-checkpoints"), "*.json").Length == 0)
            {
                if (DateTime.UtcNow > deadline) throw new TimeoutException("no checkpoint 20 s after the third event");
                await Task.Delay(100);
            }
        }
        finally
        {
            await host.StopAsync();
        }

        var head = await ledger.GetHeadAsync();
        Directory.GetFiles(PathOf("host-checkpoints")).Select(Path.GetFileName).ShouldBe([$"checkpoint-{Schema}-{head}.json"]);
        using var publicKey = CheckpointPublicKey.FromPemFile(PathOf("host-key.pub.pem"));
        (await new LedgerCheckpoints(ledger).VerifyCheckpointsAsync(PathOf("host-checkpoints"), publicKey)).IsIntact.ShouldBeTrue();
    }

    [Fact]
    public void unconfigured_the_writer_is_off_and_misconfigured_the_host_refuses_to_start()
    {
        using (var host = BuildHost([]))
            host.Services.GetServices<IHostedService>().OfType<CheckpointWriter>().ShouldBeEmpty();

        Should.Throw<InvalidOperationException>(() => BuildHost(new() { ["Checkpoints:Folder"] = PathOf("x"), ["Checkpoints:EveryEvents"] = "3" }))
            .Message.ShouldContain("neither Checkpoints:KeyFile nor Checkpoints:Key");
        Should.Throw<InvalidOperationException>(() => BuildHost(new() { ["Checkpoints:Folder"] = PathOf("x"), ["Checkpoints:KeyFile"] = PathOf("none.pem") }))
            .Message.ShouldContain("Checkpoints:EveryEvents or Checkpoints:EveryMinutes");
        Should.Throw<InvalidOperationException>(() => BuildHost(new()
            {
                ["Checkpoints:Folder"] = PathOf("x"), ["Checkpoints:KeyFile"] = PathOf("none.pem"), ["Checkpoints:EveryMinutes"] = "5",
            }))
            .Message.ShouldContain($"private key file '{PathOf("none.pem")}' does not exist");
    }

    private IHost BuildHost(Dictionary<string, string?> settings)
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ConnectionStrings:Ledger"] = Postgres.ConnectionString,
            ["Ledger:Schema"] = Schema,
        });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddLedgerFromConfiguration(builder.Configuration);
        builder.Services.AddCheckpointWriter(builder.Configuration);
        return builder.Build();
    }

    private async Task Refused(int exitCode, string message, params string[] args)
    {
        var result = await Liveedit(args);
        result.ExitCode.ShouldBe(exitCode, result.ToString());
        result.Error.ShouldStartWith(message, Case.Sensitive, result.ToString());
        result.Error.Trim().Split('\n').ShouldHaveSingleItem(result.ToString());
    }

    /// <summary>Runs <c>dotnet liveedit.dll args</c> against this class's schema.</summary>
    private Task<CliResult> Liveedit(params string[] args) => CliProcess.RunAsync(args, new Dictionary<string, string?>
    {
        ["ConnectionStrings__Ledger"] = Postgres.ConnectionString,
        ["Ledger__Schema"] = Schema,
        ["Ledger__ChainKey"] = LiveEdit.Testing.TestChainKey.Base64,
        ["Ledger__ChainKeyFile"] = null,
        [CheckpointSigner.EnvironmentVariable] = null,
    });
}
