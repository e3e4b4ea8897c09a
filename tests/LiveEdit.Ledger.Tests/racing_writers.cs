using LiveEdit.Ledger.Edits;
using LiveEdit.Ledger.Errors;
using LiveEdit.Testing;
using Npgsql;
using Shouldly;
using Xunit;

namespace LiveEdit.Ledger.Tests;

[Collection(Collections.Postgres)]
public sealed class racing_writers(PostgresFixture db) : IAsyncLifetime
{
    private TestLedger _t = null!;
    public async Task InitializeAsync() => _t = await TestLedger.CreateAsync(db, GetType());
    public async Task DisposeAsync() => await _t.DisposeAsync();

    [Fact]
    public async Task two_workers_recording_an_expert_for_one_edit_never_both_succeed()
    {
        var id = await _t.ProposeAsync();
        await _t.Ledger.ApproveAsync(new ApproveEdit(id, "bob"));
        var first = await _t.ExpertCommandAsync(id);
        var second = first with { WorkerId = "worker-2" };

        // Hold the append lock so both writers read the same state and queue at the lock; then let go.
        await using var blocker = new NpgsqlConnection(_t.ConnectionString);
        await blocker.OpenAsync();
        await Exec(blocker, $"select pg_advisory_lock({_t.Ledger.AppendLockKey})");
        // Two processes: within one, appends queue in memory behind a single writer and never reach the lock together.
        var ledgers = new[] { _t.Ledger, _t.OtherProcess() };
        var writers = new[] { first, second }.Select((c, i) => Task.Run(() => ledgers[i].RecordExpertAsync(c))).ToArray();
        await WaitForWaitersAsync(2);
        await Exec(blocker, $"select pg_advisory_unlock({_t.Ledger.AppendLockKey})");
        await Task.WhenAll(writers.Select(w => w.ContinueWith(_ => { })));

        writers.Count(w => w.IsCompletedSuccessfully).ShouldBe(1);
        var loser = writers.Single(w => w.IsFaulted).Exception!.InnerException.ShouldBeOfType<ConcurrencyConflictException>();
        loser.EditId.ShouldBe(id);
        loser.Code.ShouldBe("concurrency_conflict");
        (await _t.ScalarAsync<long>($"select count(*) from {{schema}}.mt_events where stream_id = '{id}' and type = 'expert_generated'")).ShouldBe(1);
        (await _t.ScalarAsync<long>($"select count(*) from {{schema}}.mt_events where stream_id = '{id}' and type = 'edit_activated'")).ShouldBe(1);
        var verification = await _t.Ledger.VerifyAsync(); verification.IsIntact.ShouldBeTrue(verification.FirstBreak?.ToString());
    }

    [Fact]
    public async Task many_unsynchronised_races_leave_one_winner_each_and_an_intact_chain()
    {
        var ids = new List<Guid>();
        for (var i = 0; i < 8; i++) ids.Add(await _t.ProposeAsync());

        var outcomes = await Task.WhenAll(ids.SelectMany(id => new[] { "bob", "dave" }.Select(approver => Task.Run(async () =>
        {
            try { await _t.Ledger.ApproveAsync(new ApproveEdit(id, approver)); return "ok"; }
            catch (ConcurrencyConflictException) { return "conflict"; }
            catch (InvalidEditTransitionException) { return "already"; }
        }))));

        outcomes.Count(o => o == "ok").ShouldBe(ids.Count);
        (await _t.ScalarAsync<long>("select count(*) from {schema}.mt_events where type = 'edit_approved'")).ShouldBe(ids.Count);
        var verification = await _t.Ledger.VerifyAsync(); verification.IsIntact.ShouldBeTrue(verification.FirstBreak?.ToString());
    }

    private async Task WaitForWaitersAsync(int count)
    {
        await using var connection = new NpgsqlConnection(_t.ConnectionString);
        await connection.OpenAsync();
        for (var i = 0; i < 200; i++)
        {
            await using var command = new NpgsqlCommand("select count(*) from pg_locks where locktype = 'advisory' and not granted", connection);
            if ((long)(await command.ExecuteScalarAsync())! >= count) return;
            await Task.Delay(25);
        }
        throw new TimeoutException("writers never reached the append lock");
    }

    private static async Task Exec(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
