using LiveEdit.Ledger.Audit;
using LiveEdit.Ledger.Edits;
using LiveEdit.Testing;
using Shouldly;
using Xunit;

namespace LiveEdit.Ledger.Tests;

[Collection(Collections.Postgres)]
public sealed class verifying_the_audit_chain(PostgresFixture db) : IAsyncLifetime
{
    private TestLedger _t = null!;
    private Guid _first, _second;

    public async Task InitializeAsync()
    {
        _t = await TestLedger.CreateAsync(db, GetType());
        _first = await _t.ActiveEditAsync();
        _second = await _t.ActiveEditAsync();
        await _t.Ledger.RetractAsync(new RetractEdit(_first, "carol", "wrong"));
        await _t.ProposeAsync();
    }

    public async Task DisposeAsync() => await _t.DisposeAsync();

    private async Task<long> SequenceOf(Guid edit, string type) =>
        await _t.ScalarAsync<long>($"select seq_id from {{schema}}.mt_events where stream_id = '{edit}' and type = '{type}'");

    [Fact]
    public async Task an_untouched_ledger_verifies()
    {
        var result = await _t.Ledger.VerifyAsync();
        result.IsIntact.ShouldBeTrue(result.FirstBreak?.Message);
        result.EventsChecked.ShouldBe(await _t.ScalarAsync<long>("select count(*) from {schema}.mt_events"));
        (await _t.ScalarAsync<long>("select count(*) from {schema}.ledger_chain")).ShouldBe(result.EventsChecked);
    }

    [Fact]
    public async Task a_payload_changed_through_sql_is_named()
    {
        var seq = await SequenceOf(_second, EventTypeNames.Approved);
        await _t.ExecuteAsync($"update {{schema}}.mt_events set data = jsonb_set(data, '{{approvedBy}}', '\"mallory\"') where seq_id = {seq}");

        var result = await _t.Ledger.VerifyAsync();

        result.IsIntact.ShouldBeFalse();
        var only = result.Breaks.ShouldHaveSingleItem();
        only.Version.ShouldBe(seq);
        only.EditId.ShouldBe(_second);
        only.Kind.ShouldBe(ChainBreakKind.RecordAltered);
        only.Message.ShouldContain(seq.ToString());
        result.EventsChecked.ShouldBe(await _t.ScalarAsync<long>("select count(*) from {schema}.ledger_chain") - 1);
    }

    [Fact]
    public async Task a_deleted_retraction_is_named()
    {
        var seq = await SequenceOf(_first, EventTypeNames.Retracted);
        await _t.ExecuteAsync($"delete from {{schema}}.mt_events where seq_id = {seq}");

        var result = await _t.Ledger.VerifyAsync();

        result.Breaks.ShouldContain(b => b.Version == seq && b.Kind == ChainBreakKind.RecordMissing);
    }

    [Fact]
    public async Task a_backdated_timestamp_is_named()
    {
        var seq = await SequenceOf(_first, EventTypeNames.Activated);
        await _t.ExecuteAsync($"update {{schema}}.mt_events set timestamp = timestamp - interval '1 day' where seq_id = {seq}");

        var result = await _t.Ledger.VerifyAsync();

        var only = result.Breaks.ShouldHaveSingleItem();
        only.Version.ShouldBe(seq);
        only.Kind.ShouldBe(ChainBreakKind.RecordAltered);
    }

    [Fact]
    public async Task an_event_inserted_behind_the_ledgers_back_is_named()
    {
        var head = await _t.Ledger.GetHeadAsync();
        await _t.ExecuteAsync($$"""
            insert into {schema}.mt_events (seq_id, id, stream_id, version, data, type, timestamp, tenant_id, mt_dotnet_type, is_archived)
            select {{head + 100}}, gen_random_uuid(), stream_id, version + 100, data, type, now(), tenant_id, mt_dotnet_type, false
            from {schema}.mt_events where seq_id = {{head}}
            """);

        var result = await _t.Ledger.VerifyAsync();

        var only = result.Breaks.ShouldHaveSingleItem();
        only.Version.ShouldBe(head + 100);
        only.Kind.ShouldBe(ChainBreakKind.RecordUnchained);
    }
}
