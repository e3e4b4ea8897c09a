using LiveEdit.Ledger.Edits;
using LiveEdit.Ledger.Projections;
using LiveEdit.Testing;
using Shouldly;
using Xunit;

namespace LiveEdit.Ledger.Tests;

[Collection(Collections.Postgres)]
public sealed class projecting_the_edit_summary(PostgresFixture db) : IAsyncLifetime
{
    private TestLedger _t = null!;
    private EditLedger Ledger => _t.Ledger;
    public async Task InitializeAsync() => _t = await TestLedger.CreateAsync(db, GetType());
    public async Task DisposeAsync() => await _t.DisposeAsync();

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
