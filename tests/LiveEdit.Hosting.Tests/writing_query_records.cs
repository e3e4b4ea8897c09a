using System.Diagnostics;
using LiveEdit.Hosting.Audit;
using LiveEdit.Hosting.Serving;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Queries;
using LiveEdit.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Shouldly;
using Xunit;

namespace LiveEdit.Hosting.Tests;

/// <summary>The query path only queues a record: a slow or refusing database never holds up, or fails, an answer.</summary>
public sealed class writing_query_records
{
    private static NewQueryRecord Record(int n) =>
        new(DateTimeOffset.UtcNow, "carol", n, null, Sha256Hex.Of("prompt"u8), $"answer {n}", [new FiredExpert(Guid.NewGuid(), 0.5)]);

    [Fact]
    public async Task a_full_queue_drops_and_counts_records_and_never_waits()
    {
        var release = new TaskCompletionSource();
        var written = new List<NewQueryRecord>();
        using var writer = new QueryRecordWriter(async (batch, _) =>
            {
                await release.Task; // a database that does not answer
                lock (written) written.AddRange(batch);
            }, new QueryAuditSettings { QueryRecordQueue = 4, QueryRecordBatch = 1 }, NullLogger<QueryRecordWriter>.Instance, TimeProvider.System);
        await writer.StartAsync(CancellationToken.None);
        long metered = 0;
        using var listener = new System.Diagnostics.Metrics.MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (instrument.Meter.Name == QueryRecordWriter.MeterName && instrument.Name == "liveedit.query_records.dropped") l.EnableMeasurementEvents(instrument);
            },
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) => Interlocked.Add(ref metered, value));
        listener.Start();

        var clock = Stopwatch.StartNew();
        var acceptedVersions = Enumerable.Range(0, 100).Where(n => writer.TryRecord(Record(n))).Select(n => (long)n).ToList();
        clock.Stop();
        var accepted = acceptedVersions.Count;

        clock.Elapsed.ShouldBeLessThan(TimeSpan.FromSeconds(1));
        accepted.ShouldBeInRange(4, 5); // the queue's four, and the one the writer may have taken already
        writer.Dropped.ShouldBe(100 - accepted);
        Interlocked.Read(ref metered).ShouldBe(100 - accepted); // the metric operators watch

        release.SetResult();
        await writer.FlushAsync().WaitAsync(TimeSpan.FromSeconds(10));
        writer.Written.ShouldBe(accepted);
        // The first four fill the queue; a fifth gets in, whichever it is, only if the writer took one while they came.
        acceptedVersions.Take(4).ShouldBe([0L, 1L, 2L, 3L]);
        written.Select(r => r.Version).ShouldBe(acceptedVersions);
        await writer.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task a_batch_the_database_refuses_is_retried_then_counted_as_lost_and_writing_goes_on()
    {
        var calls = 0;
        using var writer = new QueryRecordWriter((batch, _) =>
            {
                // The first batch is refused every time; later ones succeed.
                if (batch.Any(r => r.Version == 0)) { Interlocked.Increment(ref calls); throw new InvalidOperationException("the database is away"); }
                return Task.CompletedTask;
            }, new QueryAuditSettings { QueryRecordBatch = 1, QueryRecordAttempts = 2 }, NullLogger<QueryRecordWriter>.Instance, TimeProvider.System);
        await writer.StartAsync(CancellationToken.None);

        writer.TryRecord(Record(0)).ShouldBeTrue();
        writer.TryRecord(Record(1)).ShouldBeTrue();
        await writer.FlushAsync().WaitAsync(TimeSpan.FromSeconds(10));

        calls.ShouldBe(2);
        writer.Failed.ShouldBe(1);
        writer.Written.ShouldBe(1);
        await writer.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task stopping_writes_what_is_still_queued()
    {
        var written = 0;
        using var writer = new QueryRecordWriter(async (batch, _) =>
            {
                await Task.Delay(20);
                Interlocked.Add(ref written, batch.Count);
            }, new QueryAuditSettings { QueryRecordBatch = 10 }, NullLogger<QueryRecordWriter>.Instance, TimeProvider.System);
        await writer.StartAsync(CancellationToken.None);
        for (var n = 0; n < 200; n++) writer.TryRecord(Record(n)).ShouldBeTrue();

        await writer.StopAsync(CancellationToken.None);

        written.ShouldBe(200);
        writer.TryRecord(Record(201)).ShouldBeFalse();
    }

    [Fact]
    public async Task a_query_is_recorded_with_the_hashes_of_its_image_and_prompt_its_answer_and_its_experts()
    {
        var written = new List<NewQueryRecord>();
        using var writer = new QueryRecordWriter((batch, _) => { lock (written) written.AddRange(batch); return Task.CompletedTask; },
            new QueryAuditSettings(), NullLogger<QueryRecordWriter>.Instance, TimeProvider.System);
        await writer.StartAsync(CancellationToken.None);
        var edit = Guid.NewGuid();
        var result = new QueryResult("babro", 12, [new ExpertInAnswer(edit, 0.75f, 0.9f, 0.5f, 1.2f)], []);

        writer.Record("carol", [1, 2, 3], "what is this creature called?", result).ShouldBeTrue();
        writer.Record("alice", null, "a text-only question", result).ShouldBeTrue();
        await writer.FlushAsync().WaitAsync(TimeSpan.FromSeconds(10));

        written.Count.ShouldBe(2);
        var record = written[0];
        record.User.ShouldBe("carol");
        record.Version.ShouldBe(12);
        record.ImageSha256.ShouldBe(Sha256Hex.Of([1, 2, 3]));
        record.PromptSha256.ShouldBe(Sha256Hex.Of("what is this creature called?"u8));
        record.Answer.ShouldBe("babro");
        record.Experts.ShouldBe([new FiredExpert(edit, 0.75)]);
        record.At.ShouldBe(DateTimeOffset.UtcNow, TimeSpan.FromMinutes(1));
        written[1].ImageSha256.ShouldBeNull();
        await writer.StopAsync(CancellationToken.None);
    }

    [Fact]
    public void settings_out_of_range_are_refused_naming_the_setting()
    {
        Should.Throw<InvalidOperationException>(() => new QueryAuditSettings { QueryRecordQueue = 0 }.Validate()).Message.ShouldContain("Audit:QueryRecordQueue");
        Should.Throw<InvalidOperationException>(() => new QueryAuditSettings { QueryRetentionDays = -1 }.Validate()).Message.ShouldContain("Audit:QueryRetentionDays");
    }
}

/// <summary>The writer and the retention job against the real table.</summary>
[Collection(AuditCollection.Name)]
public sealed class keeping_query_records(PostgresFixture db) : IAsyncLifetime
{
    private Marten.DocumentStore _store = null!;
    private QueryRecordStore _records = null!;

    public async Task InitializeAsync()
    {
        var schema = await db.CreateSchemaAsync(GetType());
        _store = LedgerStore.Create(db.ConnectionString, schema);
        await new EditLedger(_store).EnsureSchemaAsync();
        _records = new QueryRecordStore(_store);
    }

    public async Task DisposeAsync() => await _store.DisposeAsync();

    [Fact]
    public async Task the_writer_stores_every_queued_record_in_batches()
    {
        using var writer = new QueryRecordWriter(_records, new QueryAuditSettings { QueryRecordBatch = 500 }, NullLogger<QueryRecordWriter>.Instance, TimeProvider.System);
        await writer.StartAsync(CancellationToken.None);
        var edit = Guid.NewGuid();
        for (var n = 0; n < 1_200; n++)
            writer.TryRecord(new NewQueryRecord(DateTimeOffset.UtcNow, "carol", n, null, Sha256Hex.Of("prompt"u8), "babro", [new FiredExpert(edit, n % 2 == 0 ? 0.2 : 0.6)])).ShouldBeTrue();
        await writer.FlushAsync().WaitAsync(TimeSpan.FromSeconds(60));

        writer.Written.ShouldBe(1_200);
        (await _records.FindAsync(new QueryRecordFilter(EditId: edit, Take: 1_000))).Count.ShouldBe(1_000);
        var firing = await _records.FiringAsync(edit);
        firing.Queries.ShouldBe(1_200);
        firing.MeanWeight.ShouldBe(0.4, 1e-9);
        await writer.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task rehearsing_the_write_stores_nothing_and_takes_no_record_id()
    {
        NewQueryRecord Record(string answer) => new(DateTimeOffset.UtcNow, "carol", 1, null, Sha256Hex.Of("p"u8), answer, []);
        await _records.AppendAsync([Record("before")]);
        var first = await LastIdAsync();

        await _records.RehearseAppendAsync([Record("rehearsed")]);
        using var writer = new QueryRecordWriter(_records, new QueryAuditSettings(), NullLogger<QueryRecordWriter>.Instance, TimeProvider.System);
        await writer.RehearseAsync("carol", [1, 2, 3], "a prompt", new QueryResult("rehearsed too", 1, [], []));
        await _records.AppendAsync([Record("after")]);

        var kept = await _records.FindAsync(new QueryRecordFilter(Take: 10));
        kept.Select(r => r.Answer).Order().ShouldBe(["after", "before"]);
        writer.Written.ShouldBe(0);
        (await LastIdAsync()).ShouldBe(first + 1, "a rehearsal takes no record id: the records' ids have no gap for it");
    }

    private async Task<long> LastIdAsync()
    {
        await using var connection = new Npgsql.NpgsqlConnection(db.ConnectionString);
        await connection.OpenAsync();
        await using var last = new Npgsql.NpgsqlCommand($"select max(id) from {_store.Options.Events.DatabaseSchemaName}.{QueryRecordSchema.Table}", connection);
        return (long)(await last.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task the_retention_job_removes_records_past_their_days_and_keeps_all_when_unset()
    {
        await _records.AppendAsync([
            new(DateTimeOffset.UtcNow.AddDays(-8), "carol", 1, null, Sha256Hex.Of("p"u8), "old", []),
            new(DateTimeOffset.UtcNow.AddDays(-6), "carol", 1, null, Sha256Hex.Of("p"u8), "recent", []),
        ]);

        var forever = new QueryRecordRetention(_records, new QueryAuditSettings(), NullLogger<QueryRecordRetention>.Instance, TimeProvider.System);
        (await forever.RunOnceAsync()).ShouldBe(0);
        (await _records.FindAsync(new QueryRecordFilter())).Count.ShouldBe(2);

        var week = new QueryRecordRetention(_records, new QueryAuditSettings { QueryRetentionDays = 7 }, NullLogger<QueryRecordRetention>.Instance, TimeProvider.System);
        (await week.RunOnceAsync()).ShouldBe(1);
        (await _records.FindAsync(new QueryRecordFilter())).Select(r => r.Answer).ShouldBe(["recent"]);
    }
}

/// <summary>Tests of the query records and the audit export share one PostgreSQL.</summary>
[CollectionDefinition(Name)]
public sealed class AuditCollection : ICollectionFixture<PostgresFixture>
{
    public const string Name = "audit";
}
