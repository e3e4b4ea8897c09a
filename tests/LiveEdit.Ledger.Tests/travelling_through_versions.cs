using LiveEdit.Ledger.Edits;
using LiveEdit.Ledger.Versions;
using LiveEdit.Testing;
using Shouldly;
using Xunit;

namespace LiveEdit.Ledger.Tests;

[Collection(Collections.Postgres)]
public sealed class travelling_through_versions(PostgresFixture db) : IAsyncLifetime
{
    private TestLedger _t = null!;
    private EditLedger Ledger => _t.Ledger;
    public async Task InitializeAsync() => _t = await TestLedger.CreateAsync(db, GetType());
    public async Task DisposeAsync() => await _t.DisposeAsync();

    [Fact]
    public async Task the_active_set_follows_activation_order_and_retraction()
    {
        var a = await _t.ActiveEditAsync();
        var afterA = await Ledger.GetHeadAsync();
        var b = await _t.ActiveEditAsync();
        var afterB = await Ledger.GetHeadAsync();
        // c gets its expert first, its approval last: it activates after d.
        var c = await _t.ProposeAsync();
        await _t.RecordExpertAsync(c);
        var d = await _t.ActiveEditAsync();
        await Ledger.ApproveAsync(new ApproveEdit(c, "bob"));
        await Ledger.RetractAsync(new RetractEdit(b, "carol", "wrong"));
        var head = await Ledger.GetHeadAsync();

        (await Ledger.GetActiveExpertsAsync(0)).Experts.ShouldBeEmpty();
        (await Ledger.GetActiveExpertsAsync(afterA)).EditIds.ShouldBe([a]);
        (await Ledger.GetActiveExpertsAsync(afterB)).EditIds.ShouldBe([a, b]);
        (await Ledger.GetActiveExpertsAsync(head)).EditIds.ShouldBe([a, d, c]);
        (await Ledger.GetActiveExpertsAsync()).ShouldBeEquivalentTo(await Ledger.GetActiveExpertsAsync(head));
        (await Ledger.GetActiveExpertsAsync(afterB)).Experts.ShouldBe([await ActivatedAsync(a), await ActivatedAsync(b)]);
        (await Ledger.GetActiveExpertsAsync(head)).Experts.ShouldBe([await ActivatedAsync(a), await ActivatedAsync(d), await ActivatedAsync(c)]);

        var active = await Ledger.GetActiveExpertsAsync(head);
        active.Experts.Select(e => e.ExpertSha256).ShouldAllBe(h => Sha256Hex.IsValid(h));
        active.Experts.Select(e => e.ActivatedAtVersion).ShouldBeInOrder();
    }

    /// <summary>The expert an edit's own history says it activated with: its recorded expert, at its activation's version and time.</summary>
    private async Task<ActiveExpert> ActivatedAsync(Guid editId)
    {
        var history = await Ledger.GetHistoryAsync(editId);
        var expert = history.Select(h => h.Event).OfType<ExpertGenerated>().Single();
        var activation = history.Single(h => h.Event is EditActivated);
        return new ActiveExpert(editId, expert.ExpertSha256, activation.Version, activation.Timestamp);
    }

    [Fact]
    public async Task a_past_version_is_the_same_however_many_events_follow()
    {
        await _t.ActiveEditAsync();
        var retractLater = await _t.ActiveEditAsync();
        var version = await Ledger.GetHeadAsync();
        var before = await Ledger.GetActiveExpertsAsync(version);
        var beforeVersions = await Ledger.ListVersionsAsync(0, 10_000);

        for (var i = 0; i < 5; i++) await _t.ActiveEditAsync();
        await Ledger.RetractAsync(new RetractEdit(retractLater, "carol", "wrong"));

        (await Ledger.GetActiveExpertsAsync(version)).ShouldBeEquivalentTo(before);
        (await Ledger.ListVersionsAsync(0, 10_000)).Take(beforeVersions.Count).ShouldBe(beforeVersions);
    }

    [Fact]
    public async Task a_timestamp_maps_to_the_last_event_at_or_before_it()
    {
        var a = await _t.ActiveEditAsync();
        var versions = await Ledger.ListVersionsAsync();
        var activation = versions.Single(v => v.Change == LedgerChange.Activated);
        await Task.Delay(20);
        var between = DateTimeOffset.UtcNow;
        await Task.Delay(20);
        await Ledger.RetractAsync(new RetractEdit(a, "carol", "wrong"));

        (await Ledger.GetVersionAtAsync(activation.Timestamp)).ShouldBe(activation.Version);
        (await Ledger.GetActiveExpertsAsync(between)).EditIds.ShouldBe([a]);
        (await Ledger.GetActiveExpertsAsync(DateTimeOffset.UtcNow.AddMinutes(1))).Experts.ShouldBeEmpty();
    }

    [Fact]
    public async Task the_versions_list_says_what_changed_and_whether_the_model_changed()
    {
        var a = await _t.ActiveEditAsync();
        var r = await _t.ProposeAsync();
        await Ledger.RetractAsync(new RetractEdit(r, "alice", "withdrawn before approval"));
        await Ledger.RetractAsync(new RetractEdit(a, "carol", "wrong"));

        var versions = await Ledger.ListVersionsAsync();
        versions.Select(v => (v.Change, v.ChangesModel)).ShouldBe([
            (LedgerChange.Proposed, false), (LedgerChange.Approved, false), (LedgerChange.ExpertGenerated, false), (LedgerChange.Activated, true),
            (LedgerChange.Proposed, false), (LedgerChange.Retracted, false), (LedgerChange.Retracted, true)]);
        versions.Select(v => v.Version).ShouldBeInOrder();
        versions.Select(v => v.Timestamp).ShouldBeInOrder();
        (await Ledger.ListVersionsAsync(modelChangesOnly: true)).Select(v => v.EditId).ShouldBe([a, a]);
        (await Ledger.ListVersionsAsync(after: versions[3].Version, limit: 2)).Select(v => v.Version).ShouldBe([versions[4].Version, versions[5].Version]);
    }

    [Fact]
    public async Task a_diff_names_the_edits_that_became_active_and_those_that_left()
    {
        var a = await _t.ActiveEditAsync();
        var b = await _t.ActiveEditAsync();
        var from = await Ledger.GetHeadAsync();
        var c = await _t.ActiveEditAsync();
        await Ledger.RetractAsync(new RetractEdit(a, "carol", "wrong"));
        var d = await _t.ActiveEditAsync(supersedes: b);
        var to = await Ledger.GetHeadAsync();

        var diff = await Ledger.DiffAsync(from, to);

        diff.Activated.Select(e => e.EditId).ShouldBe([c, d]);
        diff.Removed.Select(e => e.EditId).ShouldBe([a, b]);
        var back = await Ledger.DiffAsync(to, from);
        back.Activated.Select(e => e.EditId).ShouldBe([a, b]);
        back.Removed.Select(e => e.EditId).ShouldBe([c, d]);
        (await Ledger.DiffAsync(to, to)).Activated.ShouldBeEmpty();
    }
}
