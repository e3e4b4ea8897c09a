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

    [Fact]
    public async Task puts_that_arrive_together_are_written_by_one_statement_and_each_caller_gets_its_own_hash()
    {
        var blobs = _t.Ledger.Blobs;
        var texts = new[] { "grouped one", "grouped two", "grouped three", "grouped two" };
        var queued = await QueuedBehindABlockedPutAsync(texts);

        queued.Statements.ShouldBe(2, "the opener's statement, then one for the four queued behind it");
        foreach (var (text, task) in texts.Zip(queued.Puts))
        {
            (await task).ShouldBe(Sha256Hex.Of(Encoding.UTF8.GetBytes(text)));
            (await blobs.GetAsync(await task)).ShouldBe(Encoding.UTF8.GetBytes(text));
        }
        (await _t.ScalarAsync<long>("select count(*) from {schema}.ledger_blobs where convert_from(content, 'UTF8') like 'grouped %'")).ShouldBe(3);
    }

    [Fact]
    public async Task a_put_that_fails_inside_a_grouped_statement_fails_alone_and_the_others_are_stored()
    {
        // A rule of the database's that only one of the queued blobs breaks: 13 bytes.
        await _t.ExecuteAsync("alter table {schema}.ledger_blobs add constraint no_thirteen_bytes check (length <> 13)");
        var texts = new[] { "a fine blob one", "twelve bytes", "fine blob number two", "thirteen byte" };
        texts[3].Length.ShouldBe(13);
        var queued = await QueuedBehindABlockedPutAsync(texts);

        queued.Statements.ShouldBe(6, "the opener's statement, the group's that failed, then each of the four alone");
        (await Should.ThrowAsync<PostgresException>(queued.Puts[3])).ConstraintName.ShouldBe("no_thirteen_bytes");
        foreach (var (text, task) in texts.Zip(queued.Puts).Take(3))
            (await _t.Ledger.Blobs.GetAsync(await task)).ShouldBe(Encoding.UTF8.GetBytes(text));
        (await _t.ScalarAsync<long>($"select count(*) from {{schema}}.ledger_blobs where sha256 = '{Sha256Hex.Of("thirteen byte"u8)}'")).ShouldBe(0);
        await Should.ThrowAsync<BlobNotFoundException>(() => _t.Ledger.Blobs.GetAsync(Sha256Hex.Of("thirteen byte"u8)));
    }

    /// <summary>
    /// Blocks the store's writer inside its first insert (another transaction holds the same hash uncommitted), queues a put for
    /// each of <paramref name="texts"/> behind it, then lets go. Returns the queued puts and the insert statements the store ran.
    /// </summary>
    private async Task<(List<Task<string>> Puts, long Statements)> QueuedBehindABlockedPutAsync(IReadOnlyList<string> texts)
    {
        var blobs = _t.Ledger.Blobs;
        var opener = Encoding.UTF8.GetBytes($"opener {Guid.NewGuid()}");
        await using var blocker = new NpgsqlConnection(_t.ConnectionString);
        await blocker.OpenAsync();
        await using var tx = await blocker.BeginTransactionAsync();
        await using (var insert = new NpgsqlCommand($"insert into {_t.Schema}.ledger_blobs (sha256, length, content) values (@s, @l, @c)", blocker, tx))
        {
            insert.Parameters.AddWithValue("s", Sha256Hex.Of(opener));
            insert.Parameters.AddWithValue("l", (long)opener.Length);
            insert.Parameters.AddWithValue("c", opener);
            await insert.ExecuteNonQueryAsync();
        }
        var statements = blobs.PutStatements;
        var first = Task.Run(() => blobs.PutAsync(opener));
        await WaitAsync(async () => await _t.ScalarAsync<long>(
            "select count(*) from pg_stat_activity where wait_event_type = 'Lock' and query like 'insert into {schema}.ledger_blobs %'") >= 1);
        var puts = texts.Select(text => Task.Run(() => blobs.PutAsync(Encoding.UTF8.GetBytes(text)))).ToList();
        await WaitAsync(() => Task.FromResult(blobs.PendingPuts == texts.Count));
        await tx.RollbackAsync();
        await Task.WhenAll(puts.Append(first).Select(p => p.ContinueWith(_ => { })));
        (await first).ShouldBe(Sha256Hex.Of(opener));
        return (puts, blobs.PutStatements - statements);
    }

    private static async Task WaitAsync(Func<Task<bool>> condition)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(20)) throw new TimeoutException("the condition did not come true in 20 s");
            await Task.Delay(10);
        }
    }
}
