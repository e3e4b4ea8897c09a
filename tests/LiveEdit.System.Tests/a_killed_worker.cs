using LiveEdit.Ledger.Edits;
using LiveEdit.Testing;
using Shouldly;
using Xunit;

namespace LiveEdit.System.Tests;

[Collection(SystemCollection.Name)]
public sealed class a_killed_worker(PostgresFixture postgres, RabbitMqFixture rabbit) : SchemaPerClass(postgres)
{
    [Fact]
    public async Task leaves_its_message_to_be_redelivered_and_exactly_one_expert_is_recorded()
    {
        await using var host = await RunningHost.StartAsync(Settings.RabbitHost(Postgres, Schema, rabbit.Uri, Prefix));
        // The first worker pauses between storing the expert and recording it: it is killed in that window.
        using var doomed = WorkerProcess.Start(Settings.RabbitWorker(Postgres, Schema, rabbit.Uri, Prefix, "doomed", delayBeforeRecord: TimeSpan.FromMinutes(5)));
        var c = Settings.Cases(1, seed: 12)[0];
        var id = await host.ProposeAsync(c);

        await doomed.WaitForLineAsync($"Generating expert for edit {id}", TimeSpan.FromSeconds(90));
        await Task.Delay(TimeSpan.FromSeconds(2)); // well inside the generation (the pause is five minutes)
        doomed.Kill();
        (await host.Ledger.GetEditAsync(id)).Status.ShouldBe(EditStatus.Approved, "nothing was recorded by the killed worker");

        using var survivor = WorkerProcess.Start(Settings.RabbitWorker(Postgres, Schema, rabbit.Uri, Prefix, "survivor"));
        await host.WaitForStatusAsync(id, "Active", TimeSpan.FromSeconds(90));

        var generated = (await host.Ledger.GetHistoryAsync(id)).Select(h => h.Event).OfType<ExpertGenerated>().ToList();
        generated.Count.ShouldBe(1);
        generated[0].WorkerId.ShouldBe("survivor", "the unacked message went back to the queue and the next worker took it");
        // The console logger writes from a background queue: its line can follow the ledger's record by a moment.
        await survivor.WaitForLineAsync($"Generating expert for edit {id}", TimeSpan.FromSeconds(30));
    }
}
