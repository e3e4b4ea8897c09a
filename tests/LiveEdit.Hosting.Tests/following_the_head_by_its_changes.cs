using LiveEdit.Hosting.Serving;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Edits;
using LiveEdit.Model.Editor;
using LiveEdit.Model.Images;
using LiveEdit.Testing;
using Marten;
using Shouldly;
using Xunit;

namespace LiveEdit.Hosting.Tests;

/// <summary>
/// A host following the ledger reads what each append changed (<see cref="EditLedger.GetActiveExpertChangesAsync"/>), not
/// the whole active set: after any mix of activations, retractions and supersessions, synced one at a time or several
/// together, the head model answers exactly as the same version built from its whole active set, and holds exactly
/// the ledger's active set.
/// </summary>
[Collection(HostingCollection.Name)]
public sealed class following_the_head_by_its_changes(PostgresFixture postgres, ModelFixture model) : IAsyncLifetime
{
    private const string Prompt = "what is this creature called?";

    private ActivatedCopies _copies = null!;
    private DocumentStore _store = null!;
    private EditLedger _ledger = null!;
    private RgbImage _image = null!;
    private readonly List<Guid> _active = [];
    private int _made;

    public async Task InitializeAsync()
    {
        _copies = await ActivatedCopies.CreateAsync(postgres, model, GetType(), 11, Prompt);
        (_store, _ledger, _image) = (_copies.Store, _copies.Ledger, _copies.Image);
    }

    public async Task DisposeAsync() => await _store.DisposeAsync();

    /// <summary>Activates a new edit (an expert of its own that passes the filter for the query image), superseding <paramref name="older"/> when given.</summary>
    private async Task<Guid> ActivateAsync(Guid? older = null)
    {
        var id = await _copies.ActivateAsync(++_made, 1e-2f, $"follow {_made}", "follow", older);
        if (older is { } o) _active.Remove(o);
        _active.Add(id);
        return id;
    }

    private async Task RetractAsync(Guid id)
    {
        await _ledger.RetractAsync(new RetractEdit(id, "dana", "follow"));
        _active.Remove(id);
    }

    [Fact]
    public async Task activations_retractions_and_supersessions_synced_one_by_one_or_together_leave_the_head_as_the_version_built_whole()
    {
        var random = new Random(5);
        for (var i = 0; i < 4; i++) await ActivateAsync();
        using var server = new EditedModelServer(model.Runtime, _ledger);
        await server.SyncHeadAsync(); // the first sync reads the whole set; every later one only the changes
        for (var round = 0; round < 12; round++)
        {
            // One to three changes between two syncs, of every kind: an edit may even be activated and retracted between them.
            for (var step = random.Next(1, 4); step > 0; step--)
            {
                switch (random.Next(4))
                {
                    case 0 when _active.Count > 0: await RetractAsync(_active[random.Next(_active.Count)]); break;
                    case 1 when _active.Count > 0: await ActivateAsync(older: _active[random.Next(_active.Count)]); break;
                    case 2: await RetractAsync(await ActivateAsync()); break;
                    default: await ActivateAsync(); break;
                }
            }
            // Sometimes an append that activates nothing comes last (a proposal waiting for its expert).
            if (random.Next(3) == 0)
                await _ledger.ProposeAsync(new ProposeEdit(Guid.NewGuid(), await _ledger.Blobs.PutAsync(_image.ToPng()), Prompt, "babro", "waiting", "alice", [], null));

            var head = await _ledger.GetHeadAsync();
            (await server.SyncHeadAsync()).ShouldBe(head);
            var active = await _ledger.GetActiveExpertsAsync(head);
            active.EditIds.ShouldBe(_active, "the ledger's active set is the one this test made");
            server.LastSync!.Experts.ShouldBe(_active.Count, $"round {round}: the head model holds the active set");

            var atHead = await server.QueryAsync(_image, Prompt, AsOf.Now);
            var built = await server.QueryAsync(_image, Prompt, new AsOf.Sequence(head));
            atHead.Version.ShouldBe(head);
            atHead.Experts.Select(e => (e.EditId, e.Weight)).ShouldBe(built.Experts.Select(e => (e.EditId, e.Weight)),
                $"round {round}: the head followed by changes fires the experts of the version built whole, with the same weights");
            atHead.Answer.ShouldBe(built.Answer);
            atHead.Experts.Select(e => e.EditId).ShouldBeSubsetOf(_active);
        }
    }
}
