using LiveEdit.Ledger.Edits;
using LiveEdit.Ledger.Errors;
using LiveEdit.Testing;
using Shouldly;
using Xunit;

namespace LiveEdit.Ledger.Tests;

/// <summary>
/// Commands decide from the state a ledger remembers of each edit (folded from authenticated rows, or from its own committed
/// appends) instead of reading the stream every time. Another process may have moved the edit on since: the append then
/// names a version the stream no longer has, and the command is decided again from the chained rows.
/// </summary>
[Collection(Collections.Postgres)]
public sealed class deciding_from_remembered_edits(PostgresFixture db) : IAsyncLifetime
{
    private TestLedger _t = null!;
    public async Task InitializeAsync() => _t = await TestLedger.CreateAsync(db, GetType());
    public async Task DisposeAsync() => await _t.DisposeAsync();

    [Fact]
    public async Task an_edit_another_process_approved_is_decided_from_its_chained_rows()
    {
        var id = await _t.ProposeAsync();
        _t.Ledger.KnownEdits.ShouldBeGreaterThan(0, "the proposer remembers the edit it proposed");
        await _t.OtherProcess().ApproveAsync(new ApproveEdit(id, "bob"));

        // This ledger still remembers the edit as proposed; deciding from that alone would record the expert without activating it.
        var result = await _t.Ledger.RecordExpertAsync(await _t.ExpertCommandAsync(id));

        result.Events.Select(e => e.GetType()).ShouldBe([typeof(ExpertGenerated), typeof(EditActivated)]);
        (await _t.Ledger.GetActiveExpertsAsync()).EditIds.ShouldContain(id);
        (await _t.Ledger.LoadAsync(id)).Edit.Status.ShouldBe(EditStatus.Active);
        var verification = await _t.Ledger.VerifyAsync();
        verification.IsIntact.ShouldBeTrue(string.Join("; ", verification.Breaks));
    }

    [Fact]
    public async Task a_retraction_decided_on_a_stale_state_answers_as_the_loser_of_a_race_and_writes_nothing()
    {
        var id = await _t.ActiveEditAsync();
        await _t.OtherProcess().RetractAsync(new RetractEdit(id, "carol", "wrong"));
        var before = await _t.SnapshotAsync();

        // Remembered as active, so the retraction is decided and refused at the append; the chained rows say retracted, which
        // is final: the caller lost a race to the other process and is told so.
        var conflict = await Should.ThrowAsync<ConcurrencyConflictException>(() => _t.Ledger.RetractAsync(new RetractEdit(id, "carol", "again")));
        conflict.EditId.ShouldBe(id);

        (await _t.SnapshotAsync()).ShouldBe(before);
    }

    [Fact]
    public async Task a_caller_who_names_a_version_still_gets_a_conflict_when_the_stream_moved_on()
    {
        var id = await _t.ProposeAsync();
        await _t.OtherProcess().ApproveAsync(new ApproveEdit(id, "bob"));

        // The caller saw version 1 (the proposal); the stream is at 2.
        var conflict = await Should.ThrowAsync<ConcurrencyConflictException>(() => _t.Ledger.RejectAsync(new RejectEdit(id, "bob", "no"), expectedVersion: 1));

        conflict.EditId.ShouldBe(id);
        (await _t.Ledger.LoadAsync(id)).Edit.Status.ShouldBe(EditStatus.Approved);
    }

    [Fact]
    public async Task the_four_eyes_rule_holds_for_a_remembered_edit()
    {
        var id = await _t.ProposeAsync("alice");

        await Should.ThrowAsync<FourEyesViolationException>(() => _t.Ledger.ApproveAsync(new ApproveEdit(id, "alice")));
        await _t.Ledger.ApproveAsync(new ApproveEdit(id, "bob"));
    }

    [Fact]
    public async Task an_expert_blob_that_was_never_stored_is_refused_though_others_are_remembered()
    {
        var id = await _t.ProposeAsync();
        await _t.Ledger.ApproveAsync(new ApproveEdit(id, "bob"));
        var command = await _t.ExpertCommandAsync(id);
        var missing = command with { ExpertSha256 = Sha256Hex.Of("never stored"u8) };

        await Should.ThrowAsync<BlobNotFoundException>(() => _t.Ledger.RecordExpertAsync(missing));
        await _t.Ledger.RecordExpertAsync(command);
    }
}
