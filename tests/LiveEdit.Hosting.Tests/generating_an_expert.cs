using LiveEdit.Contracts;
using LiveEdit.Hosting.Experts;
using LiveEdit.Hosting.Messaging;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Edits;
using LiveEdit.Testing;
using Marten;
using MassTransit;
using MassTransit.Testing;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Shouldly;
using Xunit;

namespace LiveEdit.Hosting.Tests;

/// <summary>
/// <see cref="GenerateExpertConsumer"/> with its endpoint definition (retry policy, one message at a time) on MassTransit's
/// in-memory test harness, against a real ledger in PostgreSQL and the committed model. The worker reaches the database
/// through a relay the tests can take down.
/// </summary>
[Collection(HostingCollection.Name)]
public sealed class generating_an_expert(PostgresFixture postgres, ModelFixture model) : IAsyncLifetime
{
    private const string Worker = "worker-under-test";
    private const string Prompt = "What colour is this?";
    private static readonly byte[] Image = HostileImages.ZeroPng(32, 32);

    private DocumentStore _store = null!, _workerStore = null!;
    private EditLedger _ledger = null!, _workerLedger = null!;
    private TcpRelay _relay = null!;

    public async Task InitializeAsync()
    {
        var schema = await postgres.CreateSchemaAsync(GetType());
        var options = new LedgerOptions { Policy = ApprovalPolicy.FourEyes, ChainKey = Convert.FromBase64String(TestChainKey.Base64) };
        _store = LedgerStore.Create(postgres.ConnectionString, schema);
        _ledger = new EditLedger(_store, options);
        await _ledger.EnsureSchemaAsync();

        var direct = new NpgsqlConnectionStringBuilder(postgres.ConnectionString);
        _relay = new TcpRelay(direct.Host!, direct.Port);
        var relayed = new NpgsqlConnectionStringBuilder(postgres.ConnectionString) { Host = "127.0.0.1", Port = _relay.Port, Timeout = 3 };
        _workerStore = LedgerStore.Create(relayed.ConnectionString, schema);
        _workerLedger = new EditLedger(_workerStore, options);
    }

    public async Task DisposeAsync()
    {
        await _relay.DisposeAsync();
        await _workerStore.DisposeAsync();
        await _store.DisposeAsync();
    }

    /// <summary>The consumer as a worker registers it, on the test harness's in-memory bus.</summary>
    private async Task<(ServiceProvider Provider, ITestHarness Harness)> StartWorkerAsync()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton(_workerLedger);
        services.AddSingleton(model.Runtime);
        services.AddSingleton(new WorkerIdentity(Worker));
        services.AddSingleton(new FaultInjection());
        services.AddSingleton(new QueueNames(""));
        services.AddMassTransitTestHarness(bus =>
        {
            bus.SetTestTimeouts(testTimeout: TimeSpan.FromMinutes(2), testInactivityTimeout: TimeSpan.FromSeconds(3));
            bus.AddConsumer<GenerateExpertConsumer, GenerateExpertConsumerDefinition>();
        });
        var provider = services.BuildServiceProvider(validateScopes: true);
        var harness = provider.GetRequiredService<ITestHarness>();
        await harness.Start();
        return (provider, harness);
    }

    /// <summary>Sends the command to the consumer's queue, as the hosts' dispatcher does.</summary>
    private static async Task SendAsync(ITestHarness harness, Guid editId)
    {
        var endpoint = await harness.Bus.GetSendEndpoint(new QueueNames("").GenerateExpertAddress);
        await endpoint.Send(new GenerateExpert(editId));
    }

    private async Task<Guid> ProposeAsync(string target, byte[]? image = null, bool approve = true)
    {
        var id = Guid.NewGuid();
        var imageSha = await _ledger.Blobs.PutAsync(image ?? Image);
        await _ledger.ProposeAsync(new ProposeEdit(id, imageSha, Prompt, target, "seen wrong", "alice", ["test"], null));
        if (approve) await _ledger.ApproveAsync(new ApproveEdit(id, "bob"));
        return id;
    }

    private async Task<List<object>> EventsAsync(Guid id) => (await _ledger.GetHistoryAsync(id)).Select(h => h.Event).ToList();

    private static async Task<bool> ConsumedAsync(ITestHarness harness, Guid id) =>
        await harness.GetConsumerHarness<GenerateExpertConsumer>().Consumed.Any<GenerateExpert>(m => m.Context.Message.EditId == id);

    [Fact]
    public async Task an_approved_edit_gets_its_expert_stored_and_recorded_and_becomes_active()
    {
        var id = await ProposeAsync("amber");
        var (provider, harness) = await StartWorkerAsync();
        await using (provider)
        {
            await SendAsync(harness, id);
            (await ConsumedAsync(harness, id)).ShouldBeTrue();
            (await harness.Published.Any<Fault<GenerateExpert>>()).ShouldBeFalse();
        }

        var (edit, _) = await _ledger.LoadAsync(id);
        edit.Status.ShouldBe(EditStatus.Active);
        var generated = (await EventsAsync(id)).OfType<ExpertGenerated>().ShouldHaveSingleItem();
        generated.WorkerId.ShouldBe(Worker);
        generated.GeneratorSha256.ShouldBe(model.Runtime.Editor.GeneratorSha256);
        var expert = await _ledger.Blobs.GetAsync(generated.ExpertSha256);
        Sha256Hex.Of(expert).ShouldBe(generated.ExpertSha256, "the recorded expert is the stored blob");
        (await EventsAsync(id)).OfType<EditActivated>().ShouldHaveSingleItem();
    }

    [Fact]
    public async Task a_target_the_model_cannot_express_is_recorded_as_a_failed_generation_and_not_retried()
    {
        var id = await ProposeAsync("zzyzx quuxle");
        var (provider, harness) = await StartWorkerAsync();
        await using (provider)
        {
            await SendAsync(harness, id);
            (await ConsumedAsync(harness, id)).ShouldBeTrue();
            // Recorded and acked: the consumer did not throw, so the message is neither retried nor faulted.
            (await harness.Published.Any<Fault<GenerateExpert>>()).ShouldBeFalse();
        }

        var failed = (await EventsAsync(id)).OfType<ExpertGenerationFailed>().ShouldHaveSingleItem();
        failed.Code.ShouldBe("target_unknown_words");
        failed.Reason.ShouldContain("zzyzx");
        failed.WorkerId.ShouldBe(Worker);
        (await _ledger.LoadAsync(id)).Edit.Status.ShouldBe(EditStatus.Failed);
        (await EventsAsync(id)).OfType<ExpertGenerated>().ShouldBeEmpty();
    }

    [Fact]
    public async Task an_image_that_is_not_a_picture_is_recorded_as_a_failed_generation()
    {
        var id = await ProposeAsync("amber", image: "these bytes are no picture"u8.ToArray());
        var (provider, harness) = await StartWorkerAsync();
        await using (provider)
        {
            await SendAsync(harness, id);
            (await ConsumedAsync(harness, id)).ShouldBeTrue();
            (await harness.Published.Any<Fault<GenerateExpert>>()).ShouldBeFalse();
        }

        (await EventsAsync(id)).OfType<ExpertGenerationFailed>().ShouldHaveSingleItem().Code.ShouldBe("unreadable_image");
        (await _ledger.LoadAsync(id)).Edit.Status.ShouldBe(EditStatus.Failed);
    }

    [Fact]
    public async Task a_duplicated_message_records_one_expert_and_a_late_duplicate_changes_nothing()
    {
        var id = await ProposeAsync("amber");
        var (provider, harness) = await StartWorkerAsync();
        await using (provider)
        {
            // Two deliveries of one command, the second while the first is being worked on (a redelivery, or the
            // reconciler's resend), then one more after the expert is recorded.
            await SendAsync(harness, id);
            await SendAsync(harness, id);
            var consumer = harness.GetConsumerHarness<GenerateExpertConsumer>();
            await WaitUntilAsync(() => consumer.Consumed.Select<GenerateExpert>(m => m.Context.Message.EditId == id).Count() == 2, TimeSpan.FromMinutes(1));
            var head = await _ledger.GetHeadAsync();

            await SendAsync(harness, id);
            await WaitUntilAsync(() => consumer.Consumed.Select<GenerateExpert>(m => m.Context.Message.EditId == id).Count() == 3, TimeSpan.FromMinutes(1));
            (await _ledger.GetHeadAsync()).ShouldBe(head, "the late duplicate appends nothing");
            (await harness.Published.Any<Fault<GenerateExpert>>()).ShouldBeFalse();
        }

        (await EventsAsync(id)).OfType<ExpertGenerated>().ShouldHaveSingleItem();
        (await _ledger.LoadAsync(id)).Edit.Status.ShouldBe(EditStatus.Active);
    }

    [Fact]
    public async Task a_command_for_an_edit_the_ledger_does_not_hold_is_acked_and_changes_nothing()
    {
        var head = await _ledger.GetHeadAsync();
        var (provider, harness) = await StartWorkerAsync();
        await using (provider)
        {
            var unknown = Guid.NewGuid();
            await SendAsync(harness, unknown);
            (await ConsumedAsync(harness, unknown)).ShouldBeTrue();
            (await harness.Published.Any<Fault<GenerateExpert>>()).ShouldBeFalse();
        }
        (await _ledger.GetHeadAsync()).ShouldBe(head);
    }

    [Fact]
    public async Task a_database_outage_during_generation_is_retried_until_the_expert_is_recorded()
    {
        var id = await ProposeAsync("amber");
        var (provider, harness) = await StartWorkerAsync();
        await using (provider)
        {
            _relay.Down();
            await SendAsync(harness, id);
            // The worker has tried and found the database gone, and the attempt failed out of the consumer.
            await WaitUntilAsync(() => _relay.Refused > 0, TimeSpan.FromSeconds(30));
            var consumer = harness.GetConsumerHarness<GenerateExpertConsumer>();
            (await consumer.Consumed.Any<GenerateExpert>(m => m.Context.Message.EditId == id && m.Exception is not null))
                .ShouldBeTrue("an attempt failed while the database was away");
            _relay.Up();

            await WaitUntilAsync(async () => (await _ledger.LoadAsync(id)).Edit.HasExpert, TimeSpan.FromMinutes(1));
            harness.Sent.Select<GenerateExpert>().Count().ShouldBe(1, "one command, so the expert came from a retry of it");
        }

        (await EventsAsync(id)).OfType<ExpertGenerated>().ShouldHaveSingleItem();
        (await _ledger.LoadAsync(id)).Edit.Status.ShouldBe(EditStatus.Active);
    }

    private static Task WaitUntilAsync(Func<bool> condition, TimeSpan patience) => WaitUntilAsync(() => Task.FromResult(condition()), patience);

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan patience)
    {
        var deadline = DateTime.UtcNow + patience;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"not reached within {patience.TotalSeconds:0} s");
            await Task.Delay(50);
        }
    }
}
