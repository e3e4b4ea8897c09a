using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using LiveEdit.Ledger.Audit;
using LiveEdit.Ledger.Edits;
using LiveEdit.Ledger.Errors;
using LiveEdit.Testing;
using Npgsql;
using Shouldly;
using Xunit;

namespace LiveEdit.Ledger.Tests;

/// <summary>
/// Insider attacks, run as SQL through the fixture's connection (the database superuser): the ledger must never
/// absorb a row it did not write, must refuse to append over one, and verify must list every break.
/// </summary>
[Collection(Collections.Postgres)]
public sealed class tampering_with_the_ledger(PostgresFixture db) : IAsyncLifetime
{
    private TestLedger _t = null!;
    private Guid _active, _retracted;

    public async Task InitializeAsync()
    {
        _t = await TestLedger.CreateAsync(db, GetType());
        _active = await _t.ActiveEditAsync();
        _retracted = await _t.ActiveEditAsync();
        await _t.Ledger.RetractAsync(new RetractEdit(_retracted, "carol", "wrong"));
        await _t.ActiveEditAsync();
    }

    public async Task DisposeAsync() => await _t.DisposeAsync();

    private Task<long> SequenceOf(Guid edit, string type) =>
        _t.ScalarAsync<long>($"select seq_id from {{schema}}.mt_events where stream_id = '{edit}' and type = '{type}'");

    /// <summary>A retraction of <paramref name="edit"/> attributed to its proposer, inserted as the next event by SQL (the stream's version row too).</summary>
    private async Task<long> ForgeRetractionAsync(Guid edit)
    {
        var template = await SequenceOf(_retracted, EventTypeNames.Retracted);
        await _t.ExecuteAsync($$"""
            insert into {schema}.mt_events (seq_id, id, stream_id, version, data, type, timestamp, tenant_id, mt_dotnet_type, is_archived)
            select nextval('{schema}.mt_events_sequence'), gen_random_uuid(), '{{edit}}',
                   (select max(version) + 1 from {schema}.mt_events where stream_id = '{{edit}}'),
                   jsonb_set(jsonb_set(data, '{editId}', '"{{edit}}"'), '{retractedBy}', '"alice"'), type, now(), tenant_id, mt_dotnet_type, false
            from {schema}.mt_events where seq_id = {{template}};
            update {schema}.mt_streams set version = version + 1 where id = '{{edit}}';
            """);
        return await _t.ScalarAsync<long>($"select max(seq_id) from {{schema}}.mt_events where stream_id = '{edit}'");
    }

    /// <summary>A proposal whose image is already stored, so that a refused append leaves the snapshot unchanged.</summary>
    private async Task<Func<Task>> PreparedProposalAsync()
    {
        var image = await _t.PutBytesAsync($"image {Guid.NewGuid()}");
        return () => _t.Ledger.ProposeAsync(new ProposeEdit(Guid.NewGuid(), image, "What is shown?", "a forgery", "", "alice"));
    }

    [Fact]
    public async Task a_forged_retraction_is_refused_ignored_and_stays_visible_once_acknowledged()
    {
        var forged = await ForgeRetractionAsync(_active);
        var propose = await PreparedProposalAsync();
        var before = await _t.SnapshotAsync();

        // Reads that decide the model ignore it, even before anyone notices.
        (await _t.Ledger.GetActiveExpertsAsync()).EditIds.ShouldContain(_active);
        (await _t.Ledger.LoadAsync(_active)).Edit.Status.ShouldBe(EditStatus.Active);
        (await _t.Ledger.GetHistoryAsync(_active)).ShouldNotContain(h => h.Version == forged);
        (await _t.Ledger.ListVersionsAsync()).ShouldNotContain(v => v.Version == forged);
        (await _t.Ledger.GetHeadAsync()).ShouldBeLessThan(forged);

        // The next ordinary proposal is refused, naming the sequence; nothing is written.
        var refused = await Should.ThrowAsync<ChainRefusedException>(propose);
        refused.Sequence.ShouldBe(forged);
        refused.Reason.ShouldBe(ChainRefusal.ForeignRow);
        refused.Message.ShouldContain(forged.ToString(CultureInfo.InvariantCulture));
        refused.HttpStatus.ShouldBe(503);
        (await _t.SnapshotAsync()).ShouldBe(before);
        _t.Ledger.Integrity.LastRefusal!.Sequence.ShouldBe(forged);
        (await _t.Ledger.CheckChainAsync())!.Sequence.ShouldBe(forged);
        await Should.ThrowAsync<ChainRefusedException>(() => _t.ProposeAsync());

        var verification = await _t.Ledger.VerifyAsync();
        verification.Breaks.ShouldContain(b => b.Version == forged && b.Kind == ChainBreakKind.RecordUnchained && b.EditId == _active);

        // The database owner acknowledges it: a chained event; appends resume; the row stays, marked.
        var ack = await _t.Ledger.AcknowledgeIncidentAsync(forged, "inserted by hand during an incident drill", "dba");
        ack.Version.ShouldBeGreaterThan(forged);
        ack.Event.Kind.ShouldBe(IncidentKinds.Foreign);
        (await _t.Ledger.CheckChainAsync()).ShouldBeNull();
        _t.Ledger.Integrity.LastRefusal.ShouldBeNull();
        await _t.ProposeAsync();
        await _t.ProposeAsync();

        verification = await _t.Ledger.VerifyAsync();
        verification.IsIntact.ShouldBeTrue(string.Join("; ", verification.Breaks));
        var marked = verification.Acknowledged.ShouldHaveSingleItem();
        marked.Sequence.ShouldBe(forged);
        marked.Kind.ShouldBe(IncidentKinds.Foreign);
        marked.AcknowledgedAtVersion.ShouldBe(ack.Version);
        marked.Message.ShouldContain($"acknowledged at version {ack.Version}");
        (await _t.ScalarAsync<long>($"select count(*) from {{schema}}.mt_events where seq_id = {forged}")).ShouldBe(1);

        // Still ignored by the model; the edit still works, and its real retraction is what removes it.
        (await _t.Ledger.GetActiveExpertsAsync()).EditIds.ShouldContain(_active);
        (await _t.Ledger.ListVersionsAsync()).ShouldNotContain(v => v.Version == ack.Version);
        await Should.ThrowAsync<EditNotFoundException>(() => _t.Ledger.LoadAsync(EditLedger.IncidentStreamId));
        await _t.Ledger.RetractAsync(new RetractEdit(_active, "carol", "really wrong"));
        (await _t.Ledger.GetActiveExpertsAsync()).EditIds.ShouldNotContain(_active);
        (await _t.Ledger.VerifyAsync()).IsIntact.ShouldBeTrue();
    }

    [Fact]
    public async Task rewriting_an_event_and_deleting_the_chain_from_it_on_is_refused()
    {
        var seq = await SequenceOf(_retracted, EventTypeNames.Retracted);
        await _t.ExecuteAsync($$"""
            set session_replication_role = replica;
            update {schema}.mt_events set data = jsonb_set(data, '{retractedBy}', '"mallory"') where seq_id = {{seq}};
            delete from {schema}.ledger_chain where seq_id >= {{seq}};
            set session_replication_role = origin;
            """);
        var propose = await PreparedProposalAsync();
        var before = await _t.SnapshotAsync();

        var refused = await Should.ThrowAsync<ChainRefusedException>(propose);

        refused.Sequence.ShouldBe(seq);
        refused.Reason.ShouldBe(ChainRefusal.ForeignRow);
        (await _t.SnapshotAsync()).ShouldBe(before);
        (await _t.Ledger.GetActiveExpertsAsync()).EditIds.ShouldContain(_active);
        var verification = await _t.Ledger.VerifyAsync();
        verification.Breaks.ShouldContain(b => b.Version == seq && b.Kind == ChainBreakKind.RecordUnchained);
    }

    [Fact]
    public async Task a_changed_head_event_is_refused_until_acknowledged()
    {
        var head = await _t.Ledger.GetHeadAsync();
        await _t.ExecuteAsync($"update {{schema}}.mt_events set timestamp = timestamp - interval '1 hour' where seq_id = {head}");

        var refused = await Should.ThrowAsync<ChainRefusedException>(() => _t.ProposeAsync());
        refused.Sequence.ShouldBe(head);
        refused.Reason.ShouldBe(ChainRefusal.ChangedRow);

        var ack = await _t.Ledger.AcknowledgeIncidentAsync(head, "clock repair", "dba");
        ack.Event.Kind.ShouldBe(IncidentKinds.Changed);
        await _t.ProposeAsync();
        var verification = await _t.Ledger.VerifyAsync();
        verification.IsIntact.ShouldBeTrue(string.Join("; ", verification.Breaks));
        verification.Acknowledged.ShouldHaveSingleItem().Kind.ShouldBe(IncidentKinds.Changed);

        // Changed again after the acknowledgement: a break again.
        await _t.ExecuteAsync($"update {{schema}}.mt_events set timestamp = timestamp - interval '1 hour' where seq_id = {head}");
        (await _t.Ledger.VerifyAsync()).Breaks.ShouldContain(b => b.Version == head && b.Kind == ChainBreakKind.RecordAltered);
    }

    [Fact]
    public async Task nothing_to_acknowledge_is_refused_and_writes_nothing()
    {
        var before = await _t.SnapshotAsync();
        var sound = await SequenceOf(_active, EventTypeNames.Proposed);

        (await Should.ThrowAsync<InvalidEditInputException>(() => _t.Ledger.AcknowledgeIncidentAsync(sound, "why not", "dba"))).Parameter.ShouldBe("sequence");
        (await Should.ThrowAsync<InvalidEditInputException>(() => _t.Ledger.AcknowledgeIncidentAsync(999_999, "why not", "dba"))).Parameter.ShouldBe("sequence");
        (await Should.ThrowAsync<InvalidEditInputException>(() => _t.Ledger.AcknowledgeIncidentAsync(sound, " ", "dba"))).Parameter.ShouldBe("reason");
        (await _t.SnapshotAsync()).ShouldBe(before);
    }

    [Fact]
    public async Task changed_inserted_deleted_and_reordered_events_are_all_listed_at_once()
    {
        var changed = await SequenceOf(_active, EventTypeNames.Approved);
        var deleted = await SequenceOf(_retracted, EventTypeNames.Retracted);
        var swapA = await SequenceOf(_retracted, EventTypeNames.Approved);
        var swapB = await SequenceOf(_retracted, EventTypeNames.ExpertGenerated);
        var head = await _t.Ledger.GetHeadAsync();
        await _t.ExecuteAsync($$"""
            update {schema}.mt_events set data = jsonb_set(data, '{approvedBy}', '"mallory"') where seq_id = {{changed}};
            delete from {schema}.mt_events where seq_id = {{deleted}};
            update {schema}.mt_events set seq_id = -1 where seq_id = {{swapA}};
            update {schema}.mt_events set seq_id = {{swapA}} where seq_id = {{swapB}};
            update {schema}.mt_events set seq_id = {{swapB}} where seq_id = -1;
            insert into {schema}.mt_events (seq_id, id, stream_id, version, data, type, timestamp, tenant_id, mt_dotnet_type, is_archived)
            select {{head + 100}}, gen_random_uuid(), stream_id, version + 100, data, type, now(), tenant_id, mt_dotnet_type, false
            from {schema}.mt_events where seq_id = {{head}};
            """);

        var verification = await _t.Ledger.VerifyAsync();

        verification.IsIntact.ShouldBeFalse();
        verification.Breaks.ShouldContain(b => b.Version == changed && b.Kind == ChainBreakKind.RecordAltered && b.EditId == _active);
        verification.Breaks.ShouldContain(b => b.Version == deleted && b.Kind == ChainBreakKind.RecordMissing);
        verification.Breaks.ShouldContain(b => b.Version == swapA && b.Kind == ChainBreakKind.Reordered);
        verification.Breaks.ShouldContain(b => b.Version == swapB && b.Kind == ChainBreakKind.Reordered);
        verification.Breaks.ShouldContain(b => b.Version == head + 100 && b.Kind == ChainBreakKind.RecordUnchained);
        verification.Breaks.Select(b => b.Version).ShouldBeInOrder();
    }

    [Fact]
    public async Task a_gap_left_by_a_lost_race_verifies_intact()
    {
        var id = await _t.ProposeAsync();
        await _t.Ledger.ApproveAsync(new ApproveEdit(id, "bob"));
        var first = await _t.ExpertCommandAsync(id);
        await using (var blocker = new NpgsqlConnection(_t.ConnectionString))
        {
            await blocker.OpenAsync();
            await using (var take = new NpgsqlCommand($"select pg_advisory_lock({_t.Ledger.AppendLockKey})", blocker)) await take.ExecuteNonQueryAsync();
            var ledgers = new[] { _t.Ledger, _t.OtherProcess() }; // two processes, so both reach the lock
            var writers = new[] { first, first with { WorkerId = "worker-2" } }.Select((c, i) => Task.Run(() => ledgers[i].RecordExpertAsync(c))).ToArray();
            for (var i = 0; i < 200 && await _t.ScalarAsync<long>(
                     $"select count(*) from pg_locks where locktype = 'advisory' and not granted and objid = ({_t.Ledger.AppendLockKey} & 4294967295)") < 2; i++)
                await Task.Delay(25);
            await using (var release = new NpgsqlCommand($"select pg_advisory_unlock({_t.Ledger.AppendLockKey})", blocker)) await release.ExecuteNonQueryAsync();
            await Task.WhenAll(writers.Select(w => w.ContinueWith(_ => { })));
            writers.Count(w => w.IsCompletedSuccessfully).ShouldBe(1);
        }
        await _t.ProposeAsync();

        (await _t.ScalarAsync<long>("select count(*) from {schema}.mt_events where type = 'tombstone'")).ShouldBeGreaterThan(0);
        (await _t.ScalarAsync<long>("select count(*) from {schema}.ledger_chain c where c.prev_seq <> (select max(p.seq_id) from {schema}.ledger_chain p where p.seq_id < c.seq_id)"))
            .ShouldBe(0, "every entry names the entry before it");
        (await _t.ScalarAsync<long>("select count(*) from {schema}.ledger_chain where prev_seq < seq_id - 1")).ShouldBeGreaterThan(0, "the gap is in the chain");
        var verification = await _t.Ledger.VerifyAsync();
        verification.IsIntact.ShouldBeTrue(string.Join("; ", verification.Breaks));
        verification.Acknowledged.ShouldBeEmpty();
    }

    [Fact]
    public async Task a_forged_event_with_a_correctly_computed_chain_entry_but_no_valid_mac_is_caught_and_changes_nothing()
    {
        var forged = await ForgeRetractionAsync(_active);
        await ForgeChainEntryAsync(forged, LedgerChainKey.NewRandom());

        // Reads that decide the model take only entries with this ledger's MAC: the forged retraction removes nothing.
        (await _t.Ledger.GetActiveExpertsAsync()).EditIds.ShouldContain(_active);
        (await _t.Ledger.GetActiveExpertsAsync(forged)).EditIds.ShouldContain(_active);
        var changes = await _t.Ledger.GetActiveExpertChangesAsync(forged - 1);
        changes.Version.ShouldBe(forged, "the forged entry is the chain's last");
        changes.Changes.ShouldBeEmpty("a host following the head by its changes takes no removal from it either");
        (await _t.Ledger.LoadAsync(_active)).Edit.Status.ShouldBe(EditStatus.Active);
        (await _t.Ledger.GetHistoryAsync(_active)).ShouldNotContain(h => h.Version == forged);

        var verification = await _t.Ledger.VerifyAsync();
        verification.Breaks.ShouldContain(b => b.Version == forged && b.Kind == ChainBreakKind.MacInvalid);
        verification.Breaks.ShouldNotContain(b => b.Kind == ChainBreakKind.LinkBroken || b.Kind == ChainBreakKind.RecordAltered,
            "the forger computed the hashes right; only the MAC gives it away");

        var refused = await Should.ThrowAsync<ChainRefusedException>(() => _t.ProposeAsync());
        refused.Sequence.ShouldBe(forged);
        refused.Reason.ShouldBe(ChainRefusal.ForgedEntry);
    }

    [Fact]
    public async Task a_foreign_row_dressed_as_a_tombstone_is_refused_and_can_be_acknowledged()
    {
        // Type and payload of Marten's filler, but not Marten's: the append check and acknowledge must agree on it.
        await _t.ExecuteAsync($$"""
            insert into {schema}.mt_events (seq_id, id, stream_id, version, data, type, timestamp, tenant_id, mt_dotnet_type, is_archived)
            values (nextval('{schema}.mt_events_sequence'), gen_random_uuid(), '{{_active}}',
                    (select max(version) + 1 from {schema}.mt_events where stream_id = '{{_active}}'),
                    '{}'::jsonb, 'tombstone', now(), '*DEFAULT*', 'Mallory.Filler, Mallory', false);
            """);
        var forged = await _t.ScalarAsync<long>("select max(seq_id) from {schema}.mt_events");
        var propose = await PreparedProposalAsync();

        (await Should.ThrowAsync<ChainRefusedException>(propose)).Sequence.ShouldBe(forged);
        await _t.Ledger.AcknowledgeIncidentAsync(forged, "an inserted row dressed as a tombstone", "olga");
        await propose();
    }

    [Fact]
    public async Task a_changed_summary_row_is_named()
    {
        await _t.ExecuteAsync($$"""update {schema}.mt_doc_editsummary set data = jsonb_set(data, '{target}', '"mallory"') where id = '{{_active}}'""");

        var verification = await _t.Ledger.VerifyAsync();

        var only = verification.Breaks.ShouldHaveSingleItem();
        only.Kind.ShouldBe(ChainBreakKind.ProjectionMismatch);
        only.EditId.ShouldBe(_active);
        only.Message.ShouldContain("target");
    }

    [Fact]
    public async Task a_changed_stream_version_row_fails_the_next_append_to_that_edit_cleanly()
    {
        await _t.ExecuteAsync($"update {{schema}}.mt_streams set version = version + 5 where id = '{_active}'");
        var before = await _t.SnapshotAsync();

        await Should.ThrowAsync<ConcurrencyConflictException>(() => _t.Ledger.RetractAsync(new RetractEdit(_active, "carol", "wrong")));

        (await _t.SnapshotAsync()).ShouldBe(before);
        (await _t.Ledger.GetActiveExpertsAsync()).EditIds.ShouldContain(_active);
        await _t.ProposeAsync(); // other edits are unaffected
        var verification = await _t.Ledger.VerifyAsync();
        verification.IsIntact.ShouldBeTrue("mt_streams holds no ledger content: the chain and the read models still agree; " + string.Join("; ", verification.Breaks));
    }

    /// <summary>What a forger who knows the (public) chain algorithm but not the key writes into ledger_chain.</summary>
    private async Task ForgeChainEntryAsync(long seq, byte[] wrongKey)
    {
        await using var connection = new NpgsqlConnection(_t.ConnectionString);
        await connection.OpenAsync();
        long prevSeq;
        string prevHash;
        await using (var head = new NpgsqlCommand($"select seq_id, record_hash from {_t.Schema}.ledger_chain where seq_id < {seq} order by seq_id desc limit 1", connection))
        await using (var r = await head.ExecuteReaderAsync())
        {
            await r.ReadAsync();
            (prevSeq, prevHash) = (r.GetInt64(0), r.GetString(1));
        }
        string rowSha;
        Guid id;
        await using (var row = new NpgsqlCommand(
            $"select e.seq_id, e.id, e.stream_id, e.version, e.type, e.timestamp, e.data::text, e.is_archived from {_t.Schema}.mt_events e where seq_id = {seq}", connection))
        await using (var r = await row.ExecuteReaderAsync())
        {
            await r.ReadAsync();
            id = r.GetGuid(1);
            var canonical = string.Join('\n', "liveedit-event-v2", r.GetInt64(0).ToString(CultureInfo.InvariantCulture), r.GetGuid(1).ToString("N"),
                r.GetGuid(2).ToString("N"), r.GetInt64(3).ToString(CultureInfo.InvariantCulture), r.GetString(4),
                r.GetFieldValue<DateTime>(5).ToUniversalTime().Ticks.ToString(CultureInfo.InvariantCulture), r.GetString(6), r.GetBoolean(7) ? "archived" : "live");
            rowSha = Sha256Hex.Of(Encoding.UTF8.GetBytes(canonical));
        }
        var recordHash = Sha256Hex.Of(Encoding.UTF8.GetBytes($"liveedit-chain-v2\n{prevSeq}\n{prevHash}\n{rowSha}"));
        var mac = Convert.ToHexStringLower(HMACSHA256.HashData(wrongKey, Encoding.UTF8.GetBytes("liveedit-chain-mac-v2\n" + recordHash)));
        await using var insert = new NpgsqlCommand(
            $"insert into {_t.Schema}.ledger_chain (seq_id, prev_seq, prev_hash, event_id, record_hash, mac) values ({seq}, {prevSeq}, '{prevHash}', '{id}', '{recordHash}', '{mac}')", connection);
        await insert.ExecuteNonQueryAsync();
    }
}
