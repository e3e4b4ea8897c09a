using LiveEdit.Ledger.Edits;
using LiveEdit.Ledger.Errors;
using LiveEdit.Testing;
using Npgsql;
using Shouldly;
using Xunit;

namespace LiveEdit.Ledger.Tests;

/// <summary>
/// Concurrent appends go through one chain writer per ledger that commits them in groups; several ledgers on one schema
/// (several processes) take turns at the advisory lock. Every caller gets its own version or its own exception.
/// </summary>
[Collection(Collections.Postgres)]
public sealed class appending_in_groups(PostgresFixture db) : IAsyncLifetime
{
    private TestLedger _t = null!;
    public async Task InitializeAsync() => _t = await TestLedger.CreateAsync(db, GetType());
    public async Task DisposeAsync() => await _t.DisposeAsync();

    [Fact]
    public async Task many_tasks_on_two_ledgers_each_get_the_version_of_their_own_events_and_the_chain_stays_whole()
    {
        var ledgers = new[] { _t.Ledger, _t.OtherProcess() };
        var images = new List<string>();
        for (var i = 0; i < 8; i++) images.Add(await _t.PutBytesAsync($"image {i}"));

        var results = await Task.WhenAll(Enumerable.Range(0, 32).Select(task => Task.Run(async () =>
        {
            var mine = new List<(Guid Id, long Version)>();
            for (var i = 0; i < 5; i++)
            {
                var id = Guid.NewGuid();
                var result = await ledgers[task % 2].ProposeAsync(new ProposeEdit(id, images[(task + i) % images.Count], $"prompt {task}/{i}", "target", "", "alice"));
                mine.Add((id, result.LedgerVersion));
            }
            return mine;
        })));

        var all = results.SelectMany(r => r).ToList();
        all.Select(r => r.Version).Distinct().Count().ShouldBe(160);
        foreach (var (id, version) in all)
            (await _t.ScalarAsync<long>($"select seq_id from {{schema}}.mt_events where stream_id = '{id}'")).ShouldBe(version, $"edit {id}");
        (await _t.ScalarAsync<long>("select count(*) from {schema}.ledger_chain")).ShouldBe(160);
        (await _t.ScalarAsync<long>("select count(*) from {schema}.ledger_chain c where c.prev_seq <> coalesce((select max(p.seq_id) from {schema}.ledger_chain p where p.seq_id < c.seq_id), 0)"))
            .ShouldBe(0, "every entry names the entry before it: one order, no holes");
        (await _t.ScalarAsync<long>("select count(*) from {schema}.mt_events e where not exists (select 1 from {schema}.ledger_chain c where c.seq_id = e.seq_id)"))
            .ShouldBe(0, "no event was left unchained");
        var verification = await _t.Ledger.VerifyAsync();
        verification.IsIntact.ShouldBeTrue(verification.FirstBreak?.ToString());
    }

    [Fact]
    public async Task appends_refused_inside_a_batch_fail_only_their_own_callers_and_write_nothing()
    {
        var ready = await _t.ProposeAsync();
        await _t.Ledger.ApproveAsync(new ApproveEdit(ready, "bob"));
        var existing = await _t.ProposeAsync();
        var expert = await _t.ExpertCommandAsync(ready);
        var image = await _t.PutBytesAsync("an image");
        ProposeEdit Proposal(Guid id) => new(id, image, "What is it?", "a thing", "", "alice");
        var before = await _t.ScalarAsync<long>($"select count(*) from {{schema}}.mt_events where stream_id = '{existing}'");

        // Hold the lock so the first append's writer waits at it and everything after it queues into one batch.
        await using var blocker = new NpgsqlConnection(_t.ConnectionString);
        await blocker.OpenAsync();
        await Exec(blocker, $"select pg_advisory_lock({_t.Ledger.AppendLockKey})");
        var batchesBefore = _t.Ledger.BatchesCommitted;
        var opener = Task.Run(() => _t.Ledger.ProposeAsync(Proposal(Guid.NewGuid())));
        await WaitAsync(async () => await _t.ScalarAsync<long>("select count(*) from pg_locks where locktype = 'advisory' and not granted") >= 1);
        var (first, second) = (Guid.NewGuid(), Guid.NewGuid());
        var good1 = Task.Run(() => _t.Ledger.ProposeAsync(Proposal(first)));
        var duplicate = Task.Run(() => _t.Ledger.ProposeAsync(Proposal(existing)));
        var racers = new[] { expert, expert with { WorkerId = "worker-2" } }.Select(c => Task.Run(() => _t.Ledger.RecordExpertAsync(c))).ToArray();
        var good2 = Task.Run(() => _t.Ledger.ProposeAsync(Proposal(second)));
        await WaitAsync(() => Task.FromResult(_t.Ledger.PendingAppends == 5));
        await Exec(blocker, $"select pg_advisory_unlock({_t.Ledger.AppendLockKey})");
        await Task.WhenAll(new[] { opener, good1, duplicate, good2 }.Concat(racers).Select(w => w.ContinueWith(_ => { })));

        opener.IsCompletedSuccessfully.ShouldBeTrue();
        (await good1).LedgerVersion.ShouldBe(await _t.ScalarAsync<long>($"select seq_id from {{schema}}.mt_events where stream_id = '{first}'"));
        (await good2).LedgerVersion.ShouldBe(await _t.ScalarAsync<long>($"select seq_id from {{schema}}.mt_events where stream_id = '{second}'"));
        (await Should.ThrowAsync<EditAlreadyExistsException>(duplicate)).EditId.ShouldBe(existing);
        racers.Count(r => r.IsCompletedSuccessfully).ShouldBe(1);
        (await Should.ThrowAsync<ConcurrencyConflictException>(racers.Single(r => r.IsFaulted))).EditId.ShouldBe(ready);
        var winner = await racers.Single(r => r.IsCompletedSuccessfully);
        winner.LedgerVersion.ShouldBe(await _t.ScalarAsync<long>($"select max(seq_id) from {{schema}}.mt_events where stream_id = '{ready}'"));

        // Nothing of the refused appends stays; the others were written together.
        (await _t.ScalarAsync<long>($"select count(*) from {{schema}}.mt_events where stream_id = '{existing}'")).ShouldBe(before);
        (await _t.ScalarAsync<long>($"select count(*) from {{schema}}.mt_events where stream_id = '{ready}' and type in ('expert_generated', 'edit_activated')")).ShouldBe(2);
        (_t.Ledger.BatchesCommitted - batchesBefore).ShouldBe(2, "the opener's transaction, then one for the five queued behind it");
        var verification = await _t.Ledger.VerifyAsync();
        verification.IsIntact.ShouldBeTrue(verification.FirstBreak?.ToString());
        (await _t.Ledger.GetActiveExpertsAsync()).EditIds.ShouldBe([ready]);
    }

    [Fact]
    public async Task a_batch_of_appends_on_separate_edits_is_saved_together_and_one_refused_append_sends_it_append_by_append()
    {
        var existing = await _t.ProposeAsync();
        var image = await _t.PutBytesAsync("an image");
        ProposeEdit Proposal(Guid id) => new(id, image, "What is it?", "a thing", "", "alice");
        var before = await _t.ScalarAsync<long>($"select count(*) from {{schema}}.mt_events where stream_id = '{existing}'");

        // Four new edits queued behind a held lock: one batch, one unit of work.
        var together = await QueuedBehindTheLockAsync(Enumerable.Range(0, 4).Select(_ => Guid.NewGuid()).ToList(), Proposal);
        together.Refused.ShouldBeEmpty();
        together.SavedTogether.ShouldBe(1, "the queued batch was saved by one unit of work");

        // The same with an edit id that exists among them: the joint save fails, the batch is written append by append,
        // only that caller is refused, and the others still commit in one transaction.
        var ids = new List<Guid> { Guid.NewGuid(), existing, Guid.NewGuid(), Guid.NewGuid() };
        var mixed = await QueuedBehindTheLockAsync(ids, Proposal);
        mixed.SavedTogether.ShouldBe(0);
        mixed.Refused.ShouldBe([existing]);
        (await _t.ScalarAsync<long>($"select count(*) from {{schema}}.mt_events where stream_id = '{existing}'")).ShouldBe(before, "nothing of the refused append stays");

        foreach (var id in together.Written.Concat(mixed.Written))
            (await _t.ScalarAsync<long>($"select seq_id from {{schema}}.mt_events where stream_id = '{id.Id}'")).ShouldBe(id.Version, $"edit {id.Id}");
        (await _t.ScalarAsync<long>("select count(*) from {schema}.mt_events e where not exists (select 1 from {schema}.ledger_chain c where c.seq_id = e.seq_id) and e.type <> 'tombstone'"))
            .ShouldBe(0, "no event was left unchained");
        var verification = await _t.Ledger.VerifyAsync();
        verification.IsIntact.ShouldBeTrue(verification.FirstBreak?.ToString());
    }

    /// <summary>Holds the append lock while an opener and then <paramref name="ids"/> queue, so the ids form one batch; then lets go.</summary>
    private async Task<(List<(Guid Id, long Version)> Written, List<Guid> Refused, long SavedTogether)> QueuedBehindTheLockAsync(
        IReadOnlyList<Guid> ids, Func<Guid, ProposeEdit> proposal)
    {
        await using var blocker = new NpgsqlConnection(_t.ConnectionString);
        await blocker.OpenAsync();
        await Exec(blocker, $"select pg_advisory_lock({_t.Ledger.AppendLockKey})");
        var (batches, together) = (_t.Ledger.BatchesCommitted, _t.Ledger.BatchesSavedTogether);
        var opener = Task.Run(() => _t.Ledger.ProposeAsync(proposal(Guid.NewGuid())));
        await WaitAsync(async () => await _t.ScalarAsync<long>("select count(*) from pg_locks where locktype = 'advisory' and not granted") >= 1);
        var queued = ids.Select(id => (Id: id, Task: Task.Run(() => _t.Ledger.ProposeAsync(proposal(id))))).ToList();
        await WaitAsync(() => Task.FromResult(_t.Ledger.PendingAppends == ids.Count));
        await Exec(blocker, $"select pg_advisory_unlock({_t.Ledger.AppendLockKey})");
        await Task.WhenAll(queued.Select(q => q.Task).Append(opener).Select(w => w.ContinueWith(_ => { })));

        opener.IsCompletedSuccessfully.ShouldBeTrue();
        (_t.Ledger.BatchesCommitted - batches).ShouldBe(2, "the opener's transaction, then one for those queued behind it");
        var written = new List<(Guid, long)>();
        var refused = new List<Guid>();
        foreach (var (id, task) in queued)
        {
            if (task.IsCompletedSuccessfully) written.Add((id, task.Result.LedgerVersion));
            else (await Should.ThrowAsync<EditAlreadyExistsException>(task)).EditId.ShouldBe(id);
            if (!task.IsCompletedSuccessfully) refused.Add(id);
        }
        return (written, refused, _t.Ledger.BatchesSavedTogether - together);
    }

    [Fact]
    public async Task edits_appended_in_bulk_are_active_in_order_and_verify()
    {
        var edits = new List<ActiveEditLifecycle>();
        for (var i = 0; i < EditLedger.ActiveEditsPerAppend + 20; i++)
        {
            var id = Guid.NewGuid();
            var image = await _t.PutBytesAsync($"bulk image {i}");
            edits.Add(new ActiveEditLifecycle(new ProposeEdit(id, image, $"What is in picture {i}?", $"thing {i}", "", "alice"), await _t.ExpertCommandAsync(id)));
        }

        var head = await _t.Ledger.AppendActiveEditsAsync(edits, "bob");

        head.ShouldBe(await _t.Ledger.GetHeadAsync());
        (await _t.Ledger.GetActiveExpertsAsync()).EditIds.ShouldBe(edits.Select(e => e.Proposal.EditId).ToList());
        (await _t.Ledger.LoadAsync(edits[^1].Proposal.EditId)).Edit.Status.ShouldBe(EditStatus.Active);
        var verification = await _t.Ledger.VerifyAsync();
        verification.IsIntact.ShouldBeTrue(verification.FirstBreak?.ToString());
    }

    [Fact]
    public async Task a_bulk_edit_the_rules_refuse_writes_nothing_of_its_transaction()
    {
        var (id, missing) = (Guid.NewGuid(), Guid.NewGuid());
        var image = await _t.PutBytesAsync("bulk image");
        var good = new ActiveEditLifecycle(new ProposeEdit(Guid.NewGuid(), image, "What is it?", "a thing", "", "alice"), await _t.ExpertCommandAsync(Guid.Empty));
        good = good with { Expert = good.Expert with { EditId = good.Proposal.EditId } };
        var selfApproved = new ActiveEditLifecycle(new ProposeEdit(id, image, "What is it?", "a thing", "", "alice"), await _t.ExpertCommandAsync(id));
        var noExpertBlob = new ActiveEditLifecycle(new ProposeEdit(missing, image, "What is it?", "a thing", "", "carol"),
            (await _t.ExpertCommandAsync(missing)) with { ExpertSha256 = new string('a', 64) });
        var snapshot = await _t.SnapshotAsync();

        await Should.ThrowAsync<FourEyesViolationException>(() => _t.Ledger.AppendActiveEditsAsync([good, selfApproved], "alice"));
        await Should.ThrowAsync<BlobNotFoundException>(() => _t.Ledger.AppendActiveEditsAsync([good, noExpertBlob], "bob"));

        (await _t.SnapshotAsync()).ShouldBe(snapshot);
    }

    private static async Task WaitAsync(Func<Task<bool>> condition)
    {
        for (var i = 0; i < 400; i++)
        {
            if (await condition()) return;
            await Task.Delay(25);
        }
        throw new TimeoutException("the appends never queued");
    }

    private static async Task Exec(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
