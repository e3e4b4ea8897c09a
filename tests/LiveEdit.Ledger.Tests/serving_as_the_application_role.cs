using System.Text;
using JasperFx;
using LiveEdit.Ledger.Edits;
using LiveEdit.Testing;
using Marten;
using Npgsql;
using Shouldly;
using Xunit;

namespace LiveEdit.Ledger.Tests;

/// <summary>
/// The deployment path: the owner role migrates the schema, the hosts connect as the application role. The
/// application role appends and reads; it cannot rewrite, delete or truncate events, chain or blobs, switch a
/// trigger off, or change the schema. A superuser meets the insert-only triggers too, and when it switches them
/// off the hash chain names what it changed.
/// </summary>
[Collection(Collections.Postgres)]
public sealed class serving_as_the_application_role(PostgresFixture db) : IAsyncLifetime
{
    private const string InsufficientPrivilege = "42501", RaisedException = "P0001";
    private string _schema = "";
    private DocumentStore _ownerStore = null!, _appStore = null!;
    private EditLedger _app = null!;
    private Guid _active;

    public async Task InitializeAsync()
    {
        _schema = await db.CreateOwnedSchemaAsync(GetType());
        _ownerStore = LedgerStore.Create(db.OwnerConnectionString, _schema);
        await new EditLedger(_ownerStore).MigrateAsync(db.AppRole);
        _appStore = LedgerStore.Create(db.AppConnectionString, _schema, o => o.AutoCreateSchemaObjects = AutoCreate.None);
        _app = new EditLedger(_appStore, new LedgerOptions { Policy = ApprovalPolicy.FourEyes });
        _active = await ActiveEditAsync();
    }

    public async Task DisposeAsync()
    {
        await _appStore.DisposeAsync();
        await _ownerStore.DisposeAsync();
    }

    private async Task<Guid> ActiveEditAsync()
    {
        var id = Guid.NewGuid();
        var image = await _app.Blobs.PutAsync(Encoding.UTF8.GetBytes($"image {id}"));
        await _app.ProposeAsync(new ProposeEdit(id, image, "What is shown in this picture?", "zorvan", "seen wrong", "alice", ["test"], null));
        await _app.ApproveAsync(new ApproveEdit(id, "bob"));
        var expert = await _app.Blobs.PutAsync(Encoding.UTF8.GetBytes($"expert {id}"));
        await _app.RecordExpertAsync(new RecordExpert(id, expert, Sha256Hex.Of("generator"u8), Sha256Hex.Of("base"u8), 4, 64, "worker-1", 12, 2, 3, [1, 2, 3, 4, 5, 6]));
        return id;
    }

    private async Task<PostgresException> RefusedAsync(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql.Replace("{schema}", _schema), connection);
        return await Should.ThrowAsync<PostgresException>(() => command.ExecuteNonQueryAsync());
    }

    private async Task<T> ScalarAsync<T>(string connectionString, string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql.Replace("{schema}", _schema).Replace("{role}", db.AppRole), connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task the_application_role_proposes_approves_generates_activates_and_retracts()
    {
        (await _app.GetEditAsync(_active)).Status.ShouldBe(EditStatus.Active);
        var second = await ActiveEditAsync();
        (await _app.GetActiveExpertsAsync()).EditIds.ShouldContain(second);

        await _app.RetractAsync(new RetractEdit(second, "dana", "wrong answer"));

        (await _app.GetActiveExpertsAsync()).EditIds.ShouldNotContain(second);
        (await _app.GetHistoryAsync(second)).Count.ShouldBe(5);
        (await _app.VerifyAsync()).IsIntact.ShouldBeTrue();
    }

    [Theory]
    [InlineData("update {schema}.mt_events set data = data")]
    [InlineData("delete from {schema}.mt_events")]
    [InlineData("truncate {schema}.mt_events cascade")]
    [InlineData("update {schema}.ledger_chain set record_hash = prev_hash")]
    [InlineData("delete from {schema}.ledger_chain")]
    [InlineData("truncate {schema}.ledger_chain")]
    [InlineData("update {schema}.ledger_blobs set content = '\\x00'")]
    [InlineData("delete from {schema}.ledger_blobs")]
    [InlineData("truncate {schema}.ledger_blobs")]
    public async Task the_application_role_may_not_rewrite_events_chain_or_blobs(string sql)
    {
        var refused = await RefusedAsync(db.AppConnectionString, sql);
        refused.SqlState.ShouldBe(InsufficientPrivilege, refused.MessageText);
        (await _app.VerifyAsync()).IsIntact.ShouldBeTrue();
    }

    [Theory]
    [InlineData("alter table {schema}.mt_events disable trigger all")]
    [InlineData("alter table {schema}.mt_events disable trigger mt_events_insert_only")]
    [InlineData("alter table {schema}.ledger_chain disable trigger user")]
    [InlineData("alter table {schema}.ledger_blobs disable trigger ledger_blobs_insert_only")]
    [InlineData("drop trigger mt_events_insert_only on {schema}.mt_events")]
    [InlineData("create or replace function {schema}.ledger_insert_only() returns trigger language plpgsql as $$ begin return new; end $$")]
    public async Task the_application_role_may_not_switch_the_guards_off(string sql)
    {
        var refused = await RefusedAsync(db.AppConnectionString, sql);
        refused.SqlState.ShouldBe(InsufficientPrivilege, refused.MessageText);
    }

    [Theory]
    [InlineData("create table {schema}.forged (id int)")]
    [InlineData("create table public.forged (id int)")]
    [InlineData("drop table {schema}.mt_events cascade")]
    [InlineData("drop table {schema}.mt_streams cascade")]
    [InlineData("alter table {schema}.mt_doc_editsummary add column forged int")]
    [InlineData("drop schema {schema} cascade")]
    [InlineData("create schema forged")]
    public async Task the_application_role_may_not_change_the_schema(string sql)
    {
        var refused = await RefusedAsync(db.AppConnectionString, sql);
        refused.SqlState.ShouldBe(InsufficientPrivilege, refused.MessageText);
    }

    [Fact]
    public async Task the_application_role_is_no_superuser_and_owns_nothing()
    {
        (await ScalarAsync<bool>(db.ConnectionString, "select rolsuper or rolcreaterole or rolcreatedb or rolbypassrls or rolreplication from pg_roles where rolname = '{role}'"))
            .ShouldBeFalse();
        (await ScalarAsync<long>(db.ConnectionString, """
            select (select count(*) from pg_class where relowner = '{role}'::regrole)
                 + (select count(*) from pg_namespace where nspowner = '{role}'::regrole)
                 + (select count(*) from pg_proc where proowner = '{role}'::regrole)
                 + (select count(*) from pg_type where typowner = '{role}'::regrole)
                 + (select count(*) from pg_database where datdba = '{role}'::regrole)
            """)).ShouldBe(0);
        (await ScalarAsync<long>(db.ConnectionString, "select count(*) from pg_auth_members where member = '{role}'::regrole")).ShouldBe(0, "a member of another role could act as it");
    }

    [Theory]
    [InlineData("update {schema}.mt_events set data = jsonb_set(data, '{approvedBy}', '\"mallory\"') where type = 'edit_approved'")]
    [InlineData("delete from {schema}.mt_events where type = 'edit_approved'")]
    [InlineData("truncate {schema}.mt_events cascade")]
    [InlineData("truncate {schema}.ledger_chain")]
    public async Task a_superuser_meets_the_insert_only_trigger(string sql)
    {
        var refused = await RefusedAsync(db.ConnectionString, sql);
        refused.SqlState.ShouldBe(RaisedException, refused.MessageText);
        refused.MessageText.ShouldContain("insert-only");
    }

    [Fact]
    public async Task a_superuser_who_switches_the_trigger_off_is_named_by_the_chain()
    {
        await using (var connection = new NpgsqlConnection(db.ConnectionString))
        {
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand("""
                alter table {schema}.mt_events disable trigger mt_events_insert_only;
                update {schema}.mt_events set data = jsonb_set(data, '{approvedBy}', '"mallory"') where type = 'edit_approved';
                alter table {schema}.mt_events enable trigger mt_events_insert_only;
                """.Replace("{schema}", _schema), connection);
            await command.ExecuteNonQueryAsync();
        }

        (await _app.VerifyAsync()).IsIntact.ShouldBeFalse();
    }
}
