using LiveEdit.Hosting.Serving;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Edits;
using LiveEdit.Model.Editor;
using LiveEdit.Model.Images;
using LiveEdit.Testing;
using Marten;
using Npgsql;
using Shouldly;
using Xunit;

namespace LiveEdit.Hosting.Tests;

/// <summary>
/// A host that starts on a ledger with more experts than one batch reads their blobs in several batches at once, each
/// blob re-hashed: every intact expert is in the head model, and a blob that is missing, or whose bytes an insider
/// replaced (even with a well-formed expert of their own), is left out and named, never fused.
/// </summary>
[Collection(HostingCollection.Name)]
public sealed class loading_experts_in_parallel_batches(PostgresFixture postgres, ModelFixture model) : IAsyncLifetime
{
    private const string Prompt = "what is this creature called?";
    // Three batches and a bit.
    private const int Experts = 1_600;

    private DocumentStore _store = null!;
    private EditLedger _ledger = null!;
    private string _schema = null!;
    private RgbImage _image = null!;
    private Expert _matching = null!;
    private readonly List<(Guid Id, string Sha)> _edits = [];

    public async Task InitializeAsync()
    {
        _schema = await postgres.CreateSchemaAsync(GetType());
        _store = LedgerStore.Create(postgres.ConnectionString, _schema);
        _ledger = new EditLedger(_store, new LedgerOptions { Policy = ApprovalPolicy.AutoApprove, ChainKey = Convert.FromBase64String(TestChainKey.Base64) });
        await _ledger.EnsureSchemaAsync();
        var pixels = new byte[32 * 32 * 3];
        new Random(11).NextBytes(pixels);
        _image = new RgbImage(32, 32, pixels);
        // The expert this image's edit makes: its key passes the hard filter for the image.
        _matching = await model.Runtime.GenerateAsync(_image, Prompt, "babro");
        var image = await _ledger.Blobs.PutAsync(_image.ToPng());
        var random = new Random(5);
        var lifecycles = new List<ActiveEditLifecycle>();
        for (var i = 0; i < Experts; i++)
        {
            // Honest experts whose keys point elsewhere: none passes the filter for the query image.
            var t = _matching;
            float[] Noise(int n) => Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
            var expert = new Expert(t.HiddenSize, t.Rank, t.KeyRows, t.ModuleDim, Noise(t.U.Length), Noise(t.V.Length),
                t.VisualKey.ToArray().Select(x => -x).ToArray(), Noise(t.TextKey.Length), t.BaseSha256, t.GeneratorSha256);
            var sha = await _ledger.Blobs.PutAsync(expert.ToBytes());
            var id = Guid.NewGuid();
            _edits.Add((id, sha));
            lifecycles.Add(new ActiveEditLifecycle(new ProposeEdit(id, image, Prompt, "babro", "bulk", "alice", ["test"]),
                new RecordExpert(id, sha, expert.GeneratorSha256, expert.BaseSha256, expert.Rank, expert.HiddenSize, "worker-1", 1, expert.KeyRows,
                    expert.ModuleDim, expert.VisualKey.ToArray())));
        }
        await _ledger.AppendActiveEditsAsync(lifecycles, "bob");
    }

    public async Task DisposeAsync() => await _store.DisposeAsync();

    private async Task AsInsiderAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(postgres.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"set session_replication_role = replica; {sql}; set session_replication_role = origin;", connection);
        await command.ExecuteNonQueryAsync();
    }

    [Fact]
    public async Task every_intact_expert_is_read_once_and_the_head_holds_them_all()
    {
        using var server = new EditedModelServer(model.Runtime, _ledger);
        await server.SyncHeadAsync();

        server.LastSync!.Experts.ShouldBe(Experts);
        server.LastSync.BlobsRead.ShouldBe(Experts);
        server.LastSync.Skipped.ShouldBe(0);
        server.CachedExperts.ShouldBe(Experts);
        var answer = await server.QueryAsync(_image, Prompt, AsOf.Now);
        answer.Skipped.ShouldBeEmpty();
    }

    [Fact]
    public async Task a_blob_an_insider_replaced_with_an_expert_of_their_own_is_left_out_and_named_never_fused()
    {
        // One blob in the second batch is replaced by the bytes of an expert whose key matches the query image; one in the
        // third is deleted.
        var (replaced, replacedSha) = _edits[700];
        var (deleted, deletedSha) = _edits[1_300];
        await AsInsiderAsync($"""
            update {_schema}.ledger_blobs set content = @forged where sha256 = '{replacedSha}';
            delete from {_schema}.ledger_blobs where sha256 = '{deletedSha}'
            """.Replace("@forged", "'\\x" + Convert.ToHexStringLower(_matching.ToBytes()) + "'::bytea"));

        using var server = new EditedModelServer(model.Runtime, _ledger);
        await server.SyncHeadAsync();
        var answer = await server.QueryAsync(_image, Prompt, AsOf.Now);

        answer.Experts.ShouldNotContain(e => e.EditId == replaced, "the insider's expert fires for this image when its bytes are taken without their hash");
        answer.Skipped.Select(s => (s.EditId, s.Problem)).OrderBy(s => s.Problem).ShouldBe([(replaced, "corrupt"), (deleted, "missing")]);
        server.LastSync!.Skipped.ShouldBe(2);
        server.LastSync.BlobsRead.ShouldBe(Experts - 2);
        answer.Warnings.ShouldContain(w => w.Contains(replaced.ToString()) && w.Contains("corrupt"));
        answer.Warnings.ShouldContain(w => w.Contains(deleted.ToString()) && w.Contains("missing"));
    }
}
