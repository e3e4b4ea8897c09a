using LiveEdit.Ledger.Edits;
using LiveEdit.Testing;
using Shouldly;
using Xunit;

namespace LiveEdit.Ledger.Tests;

[Collection(Collections.Postgres)]
public sealed class activating_an_edit(PostgresFixture db) : IAsyncLifetime
{
    private TestLedger _t = null!;
    private EditLedger Ledger => _t.Ledger;

    public async Task InitializeAsync() => _t = await TestLedger.CreateAsync(db, GetType());
    public async Task DisposeAsync() => await _t.DisposeAsync();

    [Fact]
    public async Task an_approved_edit_activates_in_the_same_transaction_as_its_expert()
    {
        var id = await _t.ProposeAsync();
        await Ledger.ApproveAsync(new ApproveEdit(id, "bob"));
        (await Ledger.GetActiveExpertsAsync()).Experts.ShouldBeEmpty();

        var result = await Ledger.RecordExpertAsync(await _t.ExpertCommandAsync(id));

        result.Events.Select(e => e.GetType()).ShouldBe([typeof(ExpertGenerated), typeof(EditActivated)]);
        var history = await Ledger.GetHistoryAsync(id);
        history.Select(h => h.Event.GetType().Name).ShouldBe(["EditProposed", "EditApproved", "ExpertGenerated", "EditActivated"]);
        history[3].Timestamp.ShouldBe(history[2].Timestamp); // one transaction
        (await Ledger.GetActiveExpertsAsync()).EditIds.ShouldBe([id]);
        (await Ledger.GetEditAsync(id)).Status.ShouldBe(EditStatus.Active);
    }

    [Fact]
    public async Task an_expert_generated_before_approval_takes_effect_at_the_approval()
    {
        var id = await _t.ProposeAsync();
        await _t.RecordExpertAsync(id);
        (await Ledger.GetActiveExpertsAsync()).EditIds.ShouldNotContain(id);

        var result = await Ledger.ApproveAsync(new ApproveEdit(id, "bob"));

        result.Events.Select(e => e.GetType()).ShouldBe([typeof(EditApproved), typeof(EditActivated)]);
        var active = await Ledger.GetActiveExpertsAsync();
        active.EditIds.ShouldContain(id);
        active.Version.ShouldBe(result.LedgerVersion);
    }

    [Fact]
    public async Task a_retracted_edit_leaves_the_model_but_stays_in_the_past()
    {
        var id = await _t.ActiveEditAsync();
        var whileActive = await Ledger.GetHeadAsync();

        await Ledger.RetractAsync(new RetractEdit(id, "carol", "wrong answer"));

        (await Ledger.GetActiveExpertsAsync()).EditIds.ShouldNotContain(id);
        (await Ledger.GetActiveExpertsAsync(whileActive)).EditIds.ShouldContain(id);
        (await Ledger.GetEditAsync(id)).Status.ShouldBe(EditStatus.Retracted);
    }

    [Fact]
    public async Task a_superseding_edit_replaces_the_older_one_when_it_activates()
    {
        var older = await _t.ActiveEditAsync();
        var newer = await _t.ProposeAsync(supersedes: older);
        await Ledger.ApproveAsync(new ApproveEdit(newer, "bob"));
        (await Ledger.GetActiveExpertsAsync()).EditIds.ShouldContain(older);

        var result = await Ledger.RecordExpertAsync(await _t.ExpertCommandAsync(newer));

        result.Events.Select(e => e.GetType()).ShouldBe([typeof(EditSuperseded), typeof(ExpertGenerated), typeof(EditActivated)]);
        var active = (await Ledger.GetActiveExpertsAsync()).EditIds;
        active.ShouldContain(newer);
        active.ShouldNotContain(older);
        (await Ledger.GetEditAsync(older)).SupersededBy.ShouldBe(newer);
        // Never both at once, not even at the sequence numbers inside that transaction.
        for (var v = result.LedgerVersion - 2; v <= result.LedgerVersion; v++)
            (await Ledger.GetActiveExpertsAsync(v)).EditIds.Intersect([older, newer]).Count().ShouldBeLessThanOrEqualTo(1);
    }

    [Fact]
    public async Task under_auto_approve_a_proposal_activates_when_its_expert_arrives()
    {
        await using var auto = await TestLedger.CreateAsync(db, GetType(), ApprovalPolicy.AutoApprove, suffix: "_auto");
        var id = await auto.ProposeAsync();
        (await auto.Ledger.GetEditAsync(id)).ApprovedBy.ShouldBe("auto-approve");

        var result = await auto.Ledger.RecordExpertAsync(await auto.ExpertCommandAsync(id));

        result.Events.OfType<EditActivated>().ShouldHaveSingleItem();
        (await auto.Ledger.GetActiveExpertsAsync()).EditIds.ShouldBe([id]);
    }

    [Fact]
    public async Task edits_awaiting_an_expert_are_listed_for_the_reconciler()
    {
        var waitingForApprovalAndExpert = await _t.ProposeAsync();
        var approved = await _t.ProposeAsync();
        await Ledger.ApproveAsync(new ApproveEdit(approved, "bob"));
        var active = await _t.ActiveEditAsync();
        var rejected = await _t.ProposeAsync();
        await Ledger.RejectAsync(new RejectEdit(rejected, "bob", "off topic"));

        var awaiting = (await Ledger.ListEditsAwaitingExpertAsync()).Select(e => e.Id).ToArray();

        awaiting.ShouldBe([waitingForApprovalAndExpert, approved]);
        awaiting.ShouldNotContain(active);
    }
}
