using System.Text;
using LiveEdit.Ledger.Edits;
using LiveEdit.Testing;
using Marten;
using Npgsql;

namespace LiveEdit.Ledger.Tests;

/// <summary>A ledger in a fresh schema of its own, with helpers that build edits quickly.</summary>
public sealed class TestLedger : IAsyncDisposable
{
    private int _counter;

    private TestLedger(DocumentStore store, EditLedger ledger, string schema, string connectionString)
    {
        Store = store;
        Ledger = ledger;
        Schema = schema;
        ConnectionString = connectionString;
    }

    /// <summary>A random chain key per test run: no test depends on the public development key.</summary>
    public static byte[] ChainKey { get; } = LedgerChainKey.NewRandom();

    public DocumentStore Store { get; }
    public EditLedger Ledger { get; }
    public string Schema { get; }
    public string ConnectionString { get; }

    public static async Task<TestLedger> CreateAsync(PostgresFixture db, Type testClass, ApprovalPolicy policy = ApprovalPolicy.FourEyes, string suffix = "")
    {
        var schema = await db.CreateSchemaAsync(testClass);
        if (suffix != "") schema = await CreateSchemaAsync(db.ConnectionString, schema + suffix);
        var store = LedgerStore.Create(db.ConnectionString, schema);
        var ledger = new EditLedger(store, new LedgerOptions { Policy = policy, ChainKey = ChainKey });
        await ledger.EnsureSchemaAsync();
        return new TestLedger(store, ledger, schema, db.ConnectionString);
    }

    private static async Task<string> CreateSchemaAsync(string connectionString, string name)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name};", connection);
        await command.ExecuteNonQueryAsync();
        return name;
    }

    /// <summary>Another ledger on the same schema and key, as a second process would hold: its appends queue at the advisory lock.</summary>
    public EditLedger OtherProcess() => new(Store, new LedgerOptions { Policy = Ledger.Policy, ChainKey = ChainKey });

    public Task<string> PutBytesAsync(string text) => Ledger.Blobs.PutAsync(Encoding.UTF8.GetBytes(text));

    public async Task<Guid> ProposeAsync(string proposer = "alice", Guid? supersedes = null)
    {
        var n = Interlocked.Increment(ref _counter);
        var image = await PutBytesAsync($"image {n} {Guid.NewGuid()}");
        var id = Guid.NewGuid();
        await Ledger.ProposeAsync(new ProposeEdit(id, image, $"What is shown in picture {n}?", $"object {n}", "seen wrong", proposer, ["test"], supersedes));
        return id;
    }

    public async Task<RecordExpert> ExpertCommandAsync(Guid editId, int keyRows = 2, int keyDim = 3)
    {
        var expert = await PutBytesAsync($"expert for {editId}");
        var key = Enumerable.Range(0, keyRows * keyDim).Select(i => (float)(editId.GetHashCode() % 1000) / 1000f + i).ToArray();
        return new RecordExpert(editId, expert, Sha256Hex.Of("generator"u8), Sha256Hex.Of("base"u8), 4, 64, "worker-1", 12, keyRows, keyDim, key);
    }

    public async Task RecordExpertAsync(Guid editId) => await Ledger.RecordExpertAsync(await ExpertCommandAsync(editId));

    /// <summary>Proposes, approves (by bob) and generates: an active edit.</summary>
    public async Task<Guid> ActiveEditAsync(Guid? supersedes = null)
    {
        var id = await ProposeAsync(supersedes: supersedes);
        if (Ledger.Policy == ApprovalPolicy.FourEyes) await Ledger.ApproveAsync(new ApproveEdit(id, "bob"));
        await RecordExpertAsync(id);
        return id;
    }

    public async Task<T> ScalarAsync<T>(string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql.Replace("{schema}", Schema), connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    public async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql.Replace("{schema}", Schema), connection);
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>
    /// Everything the ledger stores, summarised: equal snapshots mean nothing was written. Marten's tombstone rows (written on their own stream,
    /// sometimes a moment later, when an append fails so the sequence has no gap) are bookkeeping, not ledger
    /// content, and are left out, as the ledger itself leaves them out of versions and the chain.
    /// </summary>
    public async Task<string> SnapshotAsync() => await ScalarAsync<string>("""
        select concat_ws('|',
          (select count(*) || ':' || coalesce(max(seq_id), 0) || ':' || coalesce(md5(string_agg(id::text || data::text, ',' order by seq_id)), '') from {schema}.mt_events where type <> 'tombstone'),
          (select count(*) || ':' || coalesce(md5(string_agg(id::text || version, ',' order by id)), '') from {schema}.mt_streams
             where id not in (select stream_id from {schema}.mt_events where type = 'tombstone')),
          (select count(*) || ':' || coalesce(md5(string_agg(data::text, ',' order by id)), '') from {schema}.mt_doc_editsummary),
          (select count(*) from {schema}.ledger_blobs),
          (select count(*) from {schema}.ledger_chain))
        """);

    public async ValueTask DisposeAsync() => await Store.DisposeAsync();
}
