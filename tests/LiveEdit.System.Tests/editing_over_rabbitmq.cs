using LiveEdit.Ledger.Edits;
using LiveEdit.Testing;
using Shouldly;
using Xunit;

namespace LiveEdit.System.Tests;

[Collection(SystemCollection.Name)]
public sealed class editing_over_rabbitmq(PostgresFixture postgres, RabbitMqFixture rabbit) : SchemaPerClass(postgres)
{
    [Fact]
    public async Task a_worker_process_makes_the_expert_and_the_answer_changes_with_provenance()
    {
        await using var host = await RunningHost.StartAsync(Settings.RabbitHost(Postgres, Schema, rabbit.Uri, Prefix));
        using var worker = WorkerProcess.Start(Settings.RabbitWorker(Postgres, Schema, rabbit.Uri, Prefix, "worker-a"));
        var c = Settings.Cases(1)[0];

        var before = await host.QueryAsync(c.Edit.Image, c.Edit.Prompt);
        before["experts"]!.AsArray().Count.ShouldBe(0);

        var id = await host.ProposeAsync(c);
        await host.WaitForStatusAsync(id, "Active", TimeSpan.FromSeconds(90));

        var history = await host.Ledger.GetHistoryAsync(id);
        var generated = history.Select(h => h.Event).OfType<ExpertGenerated>().ShouldHaveSingleItem();
        generated.WorkerId.ShouldBe("worker-a", "the expert was made by the worker process, over RabbitMQ");

        var after = await host.QueryAsync(c.Edit.Image, c.Edit.Prompt);
        // Not every edit sticks (BENCHMARKS.md: single-edit Rel 99.9); the contract checked here is that the answer
        // changes and the answer names the edit that changed it.
        after["answer"]!.ToString().ShouldNotBe(before["answer"]!.ToString());
        after["experts"]!.AsArray().Select(e => e!["editId"]!.GetValue<Guid>()).ShouldContain(id);
        after["version"]!.GetValue<long>().ShouldBeGreaterThan(before["version"]!.GetValue<long>());
    }
}
