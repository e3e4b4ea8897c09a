using LiveEdit.Hosting.Experts;
using Shouldly;
using Xunit;

namespace LiveEdit.Bench.Tests;

/// <summary>The worker's notice that ends a replay's wait for an edit (<see cref="PregeneratedExperts.WhenRecorded"/>).</summary>
public sealed class waiting_for_the_worker
{
    [Fact]
    public async Task a_wait_ends_when_the_worker_records_that_edit_and_not_another()
    {
        var notices = new PregeneratedExperts();
        var (mine, other) = (Guid.NewGuid(), Guid.NewGuid());
        var waiting = notices.WhenRecorded(mine);

        notices.Recorded(other);
        await Task.Delay(20);
        waiting.IsCompleted.ShouldBeFalse("another edit's notice is not this one's");

        notices.Recorded(mine);
        await waiting.WaitAsync(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task a_notice_brings_the_version_that_activated_the_edit_and_none_when_the_record_did_not_activate_it()
    {
        var notices = new PregeneratedExperts();
        var (activated, approvedLater) = (Guid.NewGuid(), Guid.NewGuid());
        notices.Recorded(activated, 42);
        notices.Recorded(approvedLater);

        (await notices.WhenRecorded(activated)).ShouldBe(42);
        (await notices.WhenRecorded(approvedLater)).ShouldBeNull();
    }

    [Fact]
    public void a_notice_given_before_the_wait_began_ends_it_at_once_and_forgetting_it_starts_afresh()
    {
        var notices = new PregeneratedExperts();
        var id = Guid.NewGuid();
        notices.Recorded(id);
        notices.Recorded(id);
        notices.WhenRecorded(id).IsCompletedSuccessfully.ShouldBeTrue();

        notices.Forget(id);
        notices.WhenRecorded(id).IsCompleted.ShouldBeFalse();
    }
}
