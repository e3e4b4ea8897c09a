using LiveEdit.Hosting.Serving;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Edits;
using LiveEdit.Model.Editor;
using LiveEdit.Model.Images;
using LiveEdit.Testing;
using Marten;
using Shouldly;
using Xunit;
using TorchTensor = TorchSharp.torch.Tensor;

namespace LiveEdit.Hosting.Tests;

/// <summary>
/// An <see cref="EditedModelServer"/> on a real ledger under a steady churn of edits: every round one expert is
/// activated, the oldest active one retracted, the head queried and a recent past version queried (more distinct
/// versions than the past-version cache holds, so versions are built and evicted all the time). The active set keeps
/// its size, so what the server holds in memory must keep its size too.
/// </summary>
[Collection(HostingCollection.Name)]
public sealed class keeping_host_memory_flat(PostgresFixture postgres, ModelFixture model) : IAsyncLifetime
{
    private const string Prompt = "what is this creature called?";
    private const int Active = 12;
    private const int PastCached = 4;

    private ActivatedCopies _copies = null!;
    private DocumentStore _store = null!;
    private EditLedger _ledger = null!;
    private RgbImage _image = null!;
    private readonly Queue<Guid> _active = new();
    private readonly List<long> _versions = [];
    private int _made;

    public async Task InitializeAsync()
    {
        _copies = await ActivatedCopies.CreateAsync(postgres, model, GetType(), 7, Prompt);
        (_store, _ledger, _image) = (_copies.Store, _copies.Ledger, _copies.Image);
    }

    public async Task DisposeAsync() => await _store.DisposeAsync();

    private async Task ActivateOneAsync()
    {
        var id = await _copies.ActivateAsync(++_made, 1e-3f, "churn", "memory");
        _active.Enqueue(id);
        _versions.Add(await _ledger.GetHeadAsync());
    }

    private async Task RoundAsync(EditedModelServer server)
    {
        await ActivateOneAsync();
        await _ledger.RetractAsync(new RetractEdit(_active.Dequeue(), "dana", "churn"));
        // What the ledger's push makes a host do (no listener runs here): bring the head model to the ledger's head.
        await server.SyncHeadAsync();
        var head = await server.QueryAsync(_image, Prompt, AsOf.Now);
        head.Experts.Count.ShouldBeGreaterThan(0, "the experts fire, so fusion runs");
        // The version this round's activation made (a build that evicts the oldest cached one), and a cached one.
        foreach (var past in new[] { _versions[^1], _versions[^PastCached] })
            (await server.QueryAsync(_image, Prompt, new AsOf.Sequence(past))).Version.ShouldBe(past);
    }

    [Fact]
    public async Task retracted_experts_and_rebuilt_stacks_leave_nothing_behind()
    {
        for (var i = 0; i < Active; i++) await ActivateOneAsync();
        using var server = new EditedModelServer(model.Runtime, _ledger, pastVersionsCached: PastCached);
        for (var r = 0; r < 2 * PastCached + 2; r++) await RoundAsync(server);
        server.CachedPastVersions.ShouldBe(PastCached);
        // What the model's loading and the template's generation left for the finalizers goes first: from here on a
        // tensor that is not disposed stays counted (unless a collection happens to run its finalizer).
        Collect();
        var (tensors, experts) = (TorchTensor.TotalCount, server.CachedExperts);

        for (var r = 0; r < 24; r++) await RoundAsync(server);

        server.CachedPastVersions.ShouldBe(PastCached);
        // Held: the head's experts and those of the cached past versions, all among the last few made.
        server.CachedExperts.ShouldBe(experts, "a retracted expert no model holds is let go");
        server.CachedExperts.ShouldBeLessThanOrEqualTo(Active + 2 * PastCached);
        TorchTensor.TotalCount.ShouldBe(tensors, "every tensor a round makes is disposed by the round or by the rebuild that replaces it");
        Collect();
        TorchTensor.TotalCount.ShouldBe(tensors, "no tensor is left alive by a reference");
    }

    private static void Collect()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
    }
}
