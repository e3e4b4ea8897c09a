using System.Text.Json;
using LiveEdit.Ledger.Edits;
using LiveEdit.Ledger.Projections;
using LiveEdit.Testing;
using Marten;
using Shouldly;
using Xunit;

namespace LiveEdit.Ledger.Tests;

[Collection(Collections.Postgres)]
public sealed class projecting_the_visual_key_index(PostgresFixture db) : IAsyncLifetime
{
    private TestLedger _t = null!;
    private EditLedger Ledger => _t.Ledger;
    public async Task InitializeAsync() => _t = await TestLedger.CreateAsync(db, GetType());
    public async Task DisposeAsync() => await _t.DisposeAsync();

    private async Task<List<Guid>> BuildHistoryAsync()
    {
        var a = await _t.ActiveEditAsync();
        var b = await _t.ActiveEditAsync();
        var pending = await _t.ProposeAsync();
        await _t.RecordExpertAsync(pending);
        var c = await _t.ActiveEditAsync();
        await Ledger.RetractAsync(new RetractEdit(b, "carol", "wrong"));
        var d = await _t.ActiveEditAsync(supersedes: a);
        return [c, d, pending];
    }

    [Fact]
    public async Task the_daemon_builds_keys_of_active_edits_in_activation_order()
    {
        var ids = await BuildHistoryAsync();
        using var daemon = await _t.Store.BuildProjectionDaemonAsync();
        await daemon.StartAllAsync();
        await daemon.WaitForNonStaleData(TimeSpan.FromSeconds(30));

        var index = (await Ledger.GetVisualKeyIndexAsync()).ShouldNotBeNull();
        var active = await Ledger.GetActiveExpertsAsync();
        index.Active.Select(e => e.EditId).ShouldBe(active.EditIds);
        index.Active.Select(e => e.EditId).ShouldBe([ids[0], ids[1]]);
        index.Active.Select(e => e.ExpertSha256).ShouldBe(active.Experts.Select(e => e.ExpertSha256));
        index.Active.Select(e => e.ActivatedAtVersion!.Value).ShouldBe(active.Experts.Select(e => e.ActivatedAtVersion));
        var expected = (await _t.ExpertCommandAsync(ids[0])).VisualKey;
        index.Active[0].VisualKey.ShouldBe(expected);
        (index.Active[0].KeyRows * index.Active[0].KeyDim).ShouldBe(expected.Length);
        index.Pending.Keys.ShouldBe([ids[2]]);
        index.LastVersion.ShouldBe(await Ledger.GetHeadAsync());
        await daemon.StopAllAsync();
    }

    [Fact]
    public async Task a_rebuild_from_the_raw_events_gives_the_same_document()
    {
        await BuildHistoryAsync();
        using var daemon = await _t.Store.BuildProjectionDaemonAsync();
        await daemon.StartAllAsync();
        await daemon.WaitForNonStaleData(TimeSpan.FromSeconds(30));
        var before = JsonSerializer.Serialize(await Ledger.GetVisualKeyIndexAsync());
        await daemon.StopAllAsync();

        await _t.ExecuteAsync("delete from {schema}.mt_doc_visualkeyindex");
        (await Ledger.GetVisualKeyIndexAsync()).ShouldBeNull();
        await daemon.RebuildProjectionAsync<VisualKeyIndexProjection>(CancellationToken.None);

        JsonSerializer.Serialize(await Ledger.GetVisualKeyIndexAsync()).ShouldBe(before);
    }

    [Fact]
    public async Task the_inline_summary_is_current_in_the_same_transaction()
    {
        var id = await _t.ProposeAsync();
        (await Ledger.GetEditAsync(id)).Status.ShouldBe(EditStatus.Proposed);
        await Ledger.ApproveAsync(new ApproveEdit(id, "bob"));
        await _t.RecordExpertAsync(id);

        var summary = await Ledger.GetEditAsync(id);
        summary.Status.ShouldBe(EditStatus.Active);
        summary.ApprovedBy.ShouldBe("bob");
        summary.WorkerId.ShouldBe("worker-1");
        summary.Version.ShouldBe(4);
        summary.ActivatedAtVersion.ShouldBe(await Ledger.GetHeadAsync());
        (await Ledger.ListEditsAsync(EditStatus.Active)).Select(s => s.Id).ShouldContain(id);
    }
}
