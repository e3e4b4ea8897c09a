using System.Text;
using JasperFx;
using LiveEdit.Ledger.Edits;
using LiveEdit.Ledger.Projections;
using LiveEdit.Testing;
using Marten;
using Npgsql;
using Shouldly;
using Xunit;

namespace LiveEdit.Ledger.Tests;

/// <summary>
/// A ledger schema that holds the objects of a visual-key index document (table <c>mt_doc_visualkeyindex</c>, a
/// daemon progress row) and an index on the summaries' activation version, neither of which the ledger configures:
/// the owner's migration leaves the orphan table where it is, and the application role appends, time-travels and
/// verifies as on a new schema.
/// </summary>
[Collection(Collections.Postgres)]
public sealed class migrating_a_ledger_with_a_retired_projection(PostgresFixture db) : IAsyncLifetime
{
    private string _schema = "";
    private Guid _before;

    /// <summary>Stands for the retired document: same table name, same string id.</summary>
    public sealed class VisualKeyIndex
    {
        public string Id { get; set; } = "visual-key-index";
        public long LastVersion { get; set; }
    }

    public async Task InitializeAsync()
    {
        _schema = await db.CreateOwnedSchemaAsync(GetType());
        await using (var old = LedgerStore.Create(db.OwnerConnectionString, _schema, o =>
                     {
                         o.Schema.For<VisualKeyIndex>().DocumentAlias("visualkeyindex");
                         o.Schema.For<EditSummary>().Index(x => x.ActivatedAtVersion);
                     }))
        {
            await new EditLedger(old).MigrateAsync(db.AppRole);
            await using var session = old.LightweightSession();
            session.Store(new VisualKeyIndex { LastVersion = 7 });
            await session.SaveChangesAsync();
        }
        await ExecuteAsync(db.OwnerConnectionString, "insert into {schema}.mt_event_progression (name, last_seq_id) values ('VisualKeyIndex:All', 7)");
        await using var app = AppStore();
        _before = await ActiveEditAsync(new EditLedger(app, new LedgerOptions { Policy = ApprovalPolicy.AutoApprove, ChainKey = TestLedger.ChainKey }));
    }

    public Task DisposeAsync() => Task.CompletedTask;

    private DocumentStore AppStore() => LedgerStore.Create(db.AppConnectionString, _schema, o => o.AutoCreateSchemaObjects = AutoCreate.None);

    private static async Task<Guid> ActiveEditAsync(EditLedger ledger)
    {
        var id = Guid.NewGuid();
        var image = await ledger.Blobs.PutAsync(Encoding.UTF8.GetBytes($"image {id}"));
        await ledger.ProposeAsync(new ProposeEdit(id, image, "What is shown in this picture?", "zorvan", "seen wrong", "alice", ["test"], null));
        var expert = await ledger.Blobs.PutAsync(Encoding.UTF8.GetBytes($"expert {id}"));
        await ledger.RecordExpertAsync(new RecordExpert(id, expert, Sha256Hex.Of("generator"u8), Sha256Hex.Of("base"u8), 4, 64, "worker-1", 12, 2, 3, [1, 2, 3, 4, 5, 6]));
        return id;
    }

    private async Task ExecuteAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql.Replace("{schema}", _schema), connection);
        await command.ExecuteNonQueryAsync();
    }

    private async Task<long> CountAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(db.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql.Replace("{schema}", _schema), connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task the_owner_migrates_it_and_the_application_serves_it_with_the_orphan_table_left_alone()
    {
        const string RetiredIndex = "select count(*) from pg_indexes where schemaname = '{schema}' and indexname = 'mt_doc_editsummary_idx_activated_at_version'";
        (await CountAsync(RetiredIndex)).ShouldBe(1);
        await using (var owner = LedgerStore.Create(db.OwnerConnectionString, _schema))
            await new EditLedger(owner).MigrateAsync(db.AppRole);

        await using var app = AppStore();
        var ledger = new EditLedger(app, new LedgerOptions { Policy = ApprovalPolicy.AutoApprove, ChainKey = TestLedger.ChainKey });
        var before = await ledger.GetHeadAsync();
        var after = await ActiveEditAsync(ledger);

        (await ledger.GetActiveExpertsAsync()).EditIds.ShouldBe([_before, after]);
        (await ledger.GetActiveExpertsAsync(before)).EditIds.ShouldBe([_before]);
        (await ledger.VerifyAsync()).IsIntact.ShouldBeTrue();
        (await CountAsync("select count(*) from {schema}.mt_doc_visualkeyindex")).ShouldBe(1, "the orphan table is left, with its row");
        (await CountAsync(RetiredIndex)).ShouldBe(0, "Marten drops an index of its own that the configuration no longer names");
    }
}
