using System.Text;
using LiveEdit.Ledger.Errors;
using LiveEdit.Testing;
using Npgsql;
using Shouldly;
using Xunit;

namespace LiveEdit.Ledger.Tests;

[Collection(Collections.Postgres)]
public sealed class storing_blobs(PostgresFixture db) : IAsyncLifetime
{
    private TestLedger _t = null!;
    public async Task InitializeAsync() => _t = await TestLedger.CreateAsync(db, GetType());
    public async Task DisposeAsync() => await _t.DisposeAsync();

    [Fact]
    public async Task put_returns_the_sha256_and_get_returns_the_bytes()
    {
        var bytes = Encoding.UTF8.GetBytes("expert tensor bytes");
        var sha = await _t.Ledger.Blobs.PutAsync(bytes);
        sha.ShouldBe(Sha256Hex.Of(bytes));
        (await _t.Ledger.Blobs.GetAsync(sha)).ShouldBe(bytes);
        (await _t.Ledger.Blobs.ExistsAsync(sha)).ShouldBeTrue();
    }

    [Fact]
    public async Task the_same_bytes_stored_twice_are_stored_once()
    {
        var before = await _t.ScalarAsync<long>("select count(*) from {schema}.ledger_blobs");
        var a = await _t.Ledger.Blobs.PutAsync(Encoding.UTF8.GetBytes("twice"));
        var b = await _t.Ledger.Blobs.PutAsync(Encoding.UTF8.GetBytes("twice"));
        a.ShouldBe(b);
        (await _t.ScalarAsync<long>("select count(*) from {schema}.ledger_blobs")).ShouldBe(before + 1);
    }

    [Fact]
    public async Task a_row_corrupted_through_sql_fails_loudly_on_read()
    {
        var sha = await _t.Ledger.Blobs.PutAsync(Encoding.UTF8.GetBytes("precious bytes"));
        // A DBA bypassing the insert-only trigger.
        await _t.ExecuteAsync($"""
            alter table {"{schema}"}.ledger_blobs disable trigger ledger_blobs_insert_only;
            update {"{schema}"}.ledger_blobs set content = convert_to('precious bytez', 'UTF8') where sha256 = '{sha}';
            alter table {"{schema}"}.ledger_blobs enable trigger ledger_blobs_insert_only;
            """);

        var e = await Should.ThrowAsync<BlobCorruptedException>(() => _t.Ledger.Blobs.GetAsync(sha));
        e.Sha256.ShouldBe(sha);
        e.ActualSha256.ShouldBe(Sha256Hex.Of("precious bytez"u8));
        e.Kind.ShouldBe(LedgerErrorKind.Integrity);
    }

    [Fact]
    public async Task a_batched_read_verifies_every_blob_and_names_the_corrupt_and_the_missing_one()
    {
        var intact = new List<(string Sha, byte[] Bytes)>();
        // More than one batch, so the second query is exercised too.
        for (var i = 0; i < LiveEdit.Ledger.Blobs.BlobStore.BatchSize + 3; i++)
        {
            var bytes = Encoding.UTF8.GetBytes($"batched expert {i}");
            intact.Add((await _t.Ledger.Blobs.PutAsync(bytes), bytes));
        }
        var corrupt = await _t.Ledger.Blobs.PutAsync(Encoding.UTF8.GetBytes("to be damaged"));
        var missing = Sha256Hex.Of("never stored"u8);
        await _t.ExecuteAsync($"""
            alter table {"{schema}"}.ledger_blobs disable trigger ledger_blobs_insert_only;
            update {"{schema}"}.ledger_blobs set content = convert_to('to be damagex', 'UTF8') where sha256 = '{corrupt}';
            alter table {"{schema}"}.ledger_blobs enable trigger ledger_blobs_insert_only;
            """);

        var asked = intact.Select(b => b.Sha).Append(corrupt).Append(missing).Append(intact[0].Sha).ToArray();
        var read = await _t.Ledger.Blobs.GetManyAsync(asked);

        read.Count.ShouldBe(intact.Count + 2);
        foreach (var (sha, bytes) in intact) read[sha].Value.ShouldBe(bytes);
        var damaged = read[corrupt].Problem.ShouldBeOfType<BlobCorruptedException>();
        damaged.ActualSha256.ShouldBe(Sha256Hex.Of("to be damagex"u8));
        Should.Throw<BlobCorruptedException>(() => read[corrupt].Value);
        read[missing].Problem.ShouldBeOfType<BlobNotFoundException>().Sha256.ShouldBe(missing);
        read[missing].Bytes.ShouldBeNull();
        await Should.ThrowAsync<InvalidEditInputException>(() => _t.Ledger.Blobs.GetManyAsync([intact[0].Sha, "not-a-hash"]));
    }

    [Fact]
    public async Task the_table_refuses_updates_and_deletes()
    {
        var sha = await _t.Ledger.Blobs.PutAsync(Encoding.UTF8.GetBytes("keep me"));
        (await Should.ThrowAsync<PostgresException>(() => _t.ExecuteAsync($"update {{schema}}.ledger_blobs set length = 0 where sha256 = '{sha}'")))
            .MessageText.ShouldContain("insert-only");
        await Should.ThrowAsync<PostgresException>(() => _t.ExecuteAsync($"delete from {{schema}}.ledger_blobs where sha256 = '{sha}'"));
        (await _t.Ledger.Blobs.GetAsync(sha)).ShouldBe(Encoding.UTF8.GetBytes("keep me"));
    }

    [Fact]
    public async Task an_empty_or_oversized_blob_is_refused_and_nothing_is_stored()
    {
        var small = new EditLedger(_t.Store, new LedgerOptions { MaxBlobBytes = 16 });
        var before = await _t.ScalarAsync<long>("select count(*) from {schema}.ledger_blobs");

        (await Should.ThrowAsync<InvalidEditInputException>(() => small.Blobs.PutAsync(new byte[17]))).Message.ShouldContain("at most 16 bytes");
        await Should.ThrowAsync<InvalidEditInputException>(() => small.Blobs.PutAsync(Array.Empty<byte>()));
        (await small.Blobs.PutAsync(new byte[16])).ShouldBe(Sha256Hex.Of(new byte[16]));

        (await _t.ScalarAsync<long>("select count(*) from {schema}.ledger_blobs")).ShouldBe(before + 1);
    }
}
