using System.Diagnostics;
using System.Text;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Edits;
using LiveEdit.Testing;
using Npgsql;
using Shouldly;
using Xunit;

namespace LiveEdit.System.Tests;

/// <summary>The database owner's side: <c>liveedit verify</c> and <c>liveedit ledger acknowledge</c> run as processes on a tampered ledger.</summary>
[Collection(SystemCollection.Name)]
public sealed class acknowledging_an_incident_from_the_cli(PostgresFixture postgres) : SchemaPerClass(postgres)
{
    [Fact]
    public async Task verify_names_a_foreign_row_and_acknowledge_marks_it_for_ever()
    {
        await using var store = LedgerStore.Create(Postgres.ConnectionString, Schema);
        var ledger = new EditLedger(store, new LedgerOptions { ChainKey = Convert.FromBase64String(TestChainKey.Base64) });
        await ledger.EnsureSchemaAsync();
        var image = await ledger.Blobs.PutAsync(Encoding.UTF8.GetBytes("cli image"));
        await ledger.ProposeAsync(new ProposeEdit(Guid.NewGuid(), image, "What is shown?", "a cat", "", "alice"));
        var forged = await ForgeRowAsync(await ledger.GetHeadAsync());

        var broken = await LiveeditAsync("verify", "--schema", Schema);
        broken.ExitCode.ShouldBe(1, broken.ToString());
        broken.Out.ShouldContain($"version {forged}");
        broken.Out.ShouldContain("RecordUnchained");

        var acknowledged = await LiveeditAsync("ledger", "acknowledge", forged.ToString(), "--reason", "drill", "--by", "dba", "--schema", Schema);
        acknowledged.ExitCode.ShouldBe(0, acknowledged.ToString());
        acknowledged.Out.ShouldContain($"foreign row at {forged}");

        var again = await LiveeditAsync("ledger", "acknowledge", forged.ToString(), "--reason", "drill", "--schema", Schema);
        again.ExitCode.ShouldBe(1, again.ToString());
        again.Error.Trim().Split('\n').ShouldHaveSingleItem().ShouldContain("already acknowledged");

        var intact = await LiveeditAsync("verify", "--schema", Schema);
        intact.ExitCode.ShouldBe(0, intact.ToString());
        intact.Out.ShouldContain("intact");
        intact.Out.ShouldContain($"version {forged} foreign row, acknowledged at version");

        var keyless = await LiveeditAsync(["verify", "--schema", Schema], withKey: false);
        keyless.ExitCode.ShouldBe(2, keyless.ToString());
        keyless.Error.ShouldContain("Ledger__ChainKeyFile");
        keyless.Error.ShouldNotContain("   at ");
    }

    [Fact]
    public async Task verify_without_schema_reads_the_schema_of_Ledger__Schema()
    {
        await using var store = LedgerStore.Create(Postgres.ConnectionString, Schema);
        var ledger = new EditLedger(store, new LedgerOptions { ChainKey = Convert.FromBase64String(TestChainKey.Base64) });
        await ledger.EnsureSchemaAsync();
        var image = await ledger.Blobs.PutAsync(Encoding.UTF8.GetBytes("schema image"));
        await ledger.ProposeAsync(new ProposeEdit(Guid.NewGuid(), image, "What is shown?", "a dog", "", "alice"));

        var named = await LiveeditAsync("verify", "--schema", Schema);
        named.Out.ShouldContain($"head {await ledger.GetHeadAsync()}", Case.Sensitive, named.ToString());
        var fromEnvironment = await CliProcess.RunAsync(["verify"], new Dictionary<string, string?>
        {
            ["ConnectionStrings__Ledger"] = Postgres.ConnectionString,
            ["DOTNET_ENVIRONMENT"] = "Production",
            ["COLUMNS"] = "400",
            ["Ledger__ChainKeyFile"] = null,
            ["Ledger__ChainKey"] = TestChainKey.Base64,
            ["Ledger__Schema"] = Schema,
        });
        fromEnvironment.ExitCode.ShouldBe(named.ExitCode, fromEnvironment.ToString());
        fromEnvironment.Out.ShouldBe(named.Out, "without --schema, verify reads the schema that Ledger__Schema names");
    }

    private async Task<long> ForgeRowAsync(long copyOf)
    {
        await using var connection = new NpgsqlConnection(Postgres.ConnectionString);
        await connection.OpenAsync();
        await using var insert = new NpgsqlCommand($"""
            insert into {Schema}.mt_events (seq_id, id, stream_id, version, data, type, timestamp, tenant_id, mt_dotnet_type, is_archived)
            select nextval('{Schema}.mt_events_sequence'), gen_random_uuid(), stream_id, version + 100, data, type, now(), tenant_id, mt_dotnet_type, false
            from {Schema}.mt_events where seq_id = {copyOf}
            returning seq_id
            """, connection);
        return (long)(await insert.ExecuteScalarAsync())!;
    }

    private Task<CliResult> LiveeditAsync(params string[] args) => LiveeditAsync(args, withKey: true);

    private Task<CliResult> LiveeditAsync(string[] args, bool withKey) => CliProcess.RunAsync(args, new Dictionary<string, string?>
    {
        ["ConnectionStrings__Ledger"] = Postgres.ConnectionString,
        ["DOTNET_ENVIRONMENT"] = "Production",
        ["COLUMNS"] = "400",
        ["Ledger__ChainKeyFile"] = null,
        ["Ledger__ChainKey"] = withKey ? TestChainKey.Base64 : null,
    });
}
