using JasperFx;
using LiveEdit.Ledger.Errors;
using LiveEdit.Ledger.Queries;
using LiveEdit.Testing;
using Marten;
using Npgsql;
using Shouldly;
using Xunit;

namespace LiveEdit.Ledger.Tests;

/// <summary>
/// The per-query records as a deployment keeps them: migrated by the owner, appended and read by the application role,
/// never rewritten; only the retention function removes rows, and only rows older than its whole days.
/// </summary>
[Collection(Collections.Postgres)]
public sealed class recording_queries(PostgresFixture db) : IAsyncLifetime
{
    private const string InsufficientPrivilege = "42501", RaisedException = "P0001";
    private static readonly DateTimeOffset March3 = new(2026, 3, 3, 10, 0, 0, TimeSpan.Zero);
    private readonly Guid _edit = Guid.NewGuid(), _other = Guid.NewGuid();
    private readonly string _image = Sha256Hex.Of("the picture"u8), _otherImage = Sha256Hex.Of("another picture"u8);
    private string _schema = "";
    private DocumentStore _ownerStore = null!, _appStore = null!;
    private QueryRecordStore _records = null!;

    public async Task InitializeAsync()
    {
        _schema = await db.CreateOwnedSchemaAsync(GetType());
        _ownerStore = LedgerStore.Create(db.OwnerConnectionString, _schema);
        await new EditLedger(_ownerStore).MigrateAsync(db.AppRole);
        _appStore = LedgerStore.Create(db.AppConnectionString, _schema, o => o.AutoCreateSchemaObjects = AutoCreate.None);
        _records = new QueryRecordStore(_appStore);
        await _records.AppendAsync([
            Record(March3.AddDays(-1), "carol", 4, _image, "babro", (_edit, 0.5)),
            Record(March3, "carol", 7, _image, "zorvan", (_edit, 0.9), (_other, 0.1)),
            Record(March3.AddHours(2), "alice", 7, _otherImage, "zorvan", (_other, 0.7)),
            Record(March3.AddHours(3), "alice", 7, null, "a text-only answer"),
            Record(March3.AddDays(1), "bob", 9, _image, "babro"),
        ]);
    }

    public async Task DisposeAsync()
    {
        await _appStore.DisposeAsync();
        await _ownerStore.DisposeAsync();
    }

    private static NewQueryRecord Record(DateTimeOffset at, string user, long version, string? image, string answer, params (Guid Edit, double Weight)[] experts) =>
        new(at, user, version, image, Sha256Hex.Of("what is this creature called?"u8), answer, experts.Select(e => new FiredExpert(e.Edit, e.Weight)).ToArray());

    private async Task<PostgresException> RefusedAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql.Replace("{schema}", _schema), connection);
        return await Should.ThrowAsync<PostgresException>(() => command.ExecuteNonQueryAsync());
    }

    private async Task<long> CountAsync()
    {
        await using var connection = new NpgsqlConnection(db.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"select count(*) from {_schema}.ledger_queries", connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task which_edit_made_it_say_that_on_the_day_is_answered_from_the_records()
    {
        var found = await _records.FindAsync(new QueryRecordFilter(From: new DateTimeOffset(2026, 3, 3, 0, 0, 0, TimeSpan.Zero),
            To: new DateTimeOffset(2026, 3, 4, 0, 0, 0, TimeSpan.Zero), ImageSha256: _image));

        var record = found.ShouldHaveSingleItem();
        record.At.ShouldBe(March3);
        record.User.ShouldBe("carol");
        record.Version.ShouldBe(7);
        record.Answer.ShouldBe("zorvan");
        record.PromptSha256.ShouldBe(Sha256Hex.Of("what is this creature called?"u8));
        record.Experts.ShouldBe([new FiredExpert(_edit, 0.9), new FiredExpert(_other, 0.1)]);
    }

    [Fact]
    public async Task records_come_newest_first_and_filter_by_edit_user_and_take()
    {
        (await _records.FindAsync(new QueryRecordFilter())).Select(r => r.At)
            .ShouldBe([March3.AddDays(1), March3.AddHours(3), March3.AddHours(2), March3, March3.AddDays(-1)]);
        (await _records.FindAsync(new QueryRecordFilter(EditId: _other))).Select(r => r.Answer).ShouldBe(["zorvan", "zorvan"]);
        (await _records.FindAsync(new QueryRecordFilter(User: "alice"))).Select(r => r.ImageSha256).ShouldBe([null, _otherImage]);
        (await _records.FindAsync(new QueryRecordFilter(Take: 2))).Select(r => r.User).ShouldBe(["bob", "alice"]);
        (await _records.FindAsync(new QueryRecordFilter(EditId: Guid.NewGuid()))).ShouldBeEmpty();
    }

    [Fact]
    public async Task an_experts_firing_counts_its_queries_and_weights()
    {
        var firing = await _records.FiringAsync(_edit);
        firing.Queries.ShouldBe(2);
        firing.MeanWeight.ShouldBe(0.7, 1e-9);
        firing.MaxWeight.ShouldBe(0.9, 1e-9);
        firing.First.ShouldBe(March3.AddDays(-1));
        firing.Last.ShouldBe(March3);

        var never = await _records.FiringAsync(Guid.NewGuid());
        never.Queries.ShouldBe(0);
        never.First.ShouldBeNull();
    }

    [Theory]
    [InlineData("take", 0, null, null)]
    [InlineData("take", 1001, null, null)]
    [InlineData("imageSha256", 10, "ABC", null)]
    [InlineData("user", 10, null, " ")]
    public async Task a_filter_out_of_range_is_refused_naming_its_field(string field, int take, string? image, string? user)
    {
        var refused = await Should.ThrowAsync<InvalidEditInputException>(() => _records.FindAsync(new QueryRecordFilter(ImageSha256: image, User: user, Take: take)));
        refused.Parameter.ShouldBe(field);
    }

    [Fact]
    public async Task a_window_that_ends_before_it_starts_is_refused_naming_to()
    {
        var refused = await Should.ThrowAsync<InvalidEditInputException>(() => _records.FindAsync(new QueryRecordFilter(From: March3, To: March3)));
        refused.Parameter.ShouldBe("to");
    }

    [Theory]
    [InlineData("update {schema}.ledger_queries set answer = 'something else'")]
    [InlineData("delete from {schema}.ledger_queries")]
    [InlineData("truncate {schema}.ledger_queries")]
    [InlineData("alter table {schema}.ledger_queries disable trigger ledger_queries_append_only")]
    [InlineData("drop trigger ledger_queries_append_only on {schema}.ledger_queries")]
    [InlineData("create or replace function {schema}.ledger_queries_guard() returns trigger language plpgsql as $$ begin return old; end $$")]
    [InlineData("select set_config('liveedit.query_retention', 'on', false); delete from {schema}.ledger_queries")]
    public async Task the_application_role_may_not_rewrite_or_remove_records(string sql)
    {
        var refused = await RefusedAsync(db.AppConnectionString, sql);
        refused.SqlState.ShouldBe(InsufficientPrivilege, refused.MessageText);
        (await CountAsync()).ShouldBe(5);
    }

    [Theory]
    [InlineData("update {schema}.ledger_queries set answer = 'something else'")]
    [InlineData("delete from {schema}.ledger_queries")]
    [InlineData("truncate {schema}.ledger_queries")]
    public async Task the_owner_meets_the_append_only_trigger(string sql)
    {
        var refused = await RefusedAsync(db.OwnerConnectionString, sql);
        refused.SqlState.ShouldBe(RaisedException, refused.MessageText);
        refused.MessageText.ShouldContain("append-only");
        (await CountAsync()).ShouldBe(5);
    }

    [Fact]
    public async Task retention_removes_in_one_statement_only_what_is_older_than_its_days()
    {
        await _records.AppendAsync([
            Record(DateTimeOffset.UtcNow.AddDays(-40), "carol", 1, _image, "old"),
            Record(DateTimeOffset.UtcNow.AddDays(-29), "carol", 1, _image, "recent"),
        ]);

        var removed = await _records.ExpireAsync(30);

        removed.ShouldBe(6); // the old one and the five from March (more than 30 days ago when this runs)
        (await _records.FindAsync(new QueryRecordFilter(Take: 1000))).Select(r => r.Answer).ShouldBe(["recent"]);
    }

    [Fact]
    public async Task retention_of_less_than_a_day_is_refused_by_the_store_and_by_the_database()
    {
        (await Should.ThrowAsync<InvalidEditInputException>(() => _records.ExpireAsync(0))).Parameter.ShouldBe("keepDays");
        var refused = await RefusedAsync(db.AppConnectionString, "select {schema}.ledger_queries_expire(0)");
        refused.SqlState.ShouldBe(RaisedException);
        (await CountAsync()).ShouldBe(5);
    }
}
