using System.Runtime.CompilerServices;
using LiveEdit.Model.Editor;
using Shouldly;
using Xunit;

namespace LiveEdit.Model.Tests.Editor;

/// <summary>
/// A key store under a head model that keeps activating new experts and retracting old ones: rows no view holds let
/// their experts go and are used again, so the store stays the size of what is held, and the filter over reused rows
/// keeps exactly what scoring every active expert keeps.
/// </summary>
[Collection(EditorCollection.Name)]
public sealed class reusing_key_store_rows
{
    private const int K = 4, Dm = 24, Dim = K * Dm, Rank = 2, Hidden = 8;
    private static readonly string Sha = new('0', 64);

    private static Expert NewExpert(Random random)
    {
        float[] Noise(int n) => Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();
        return new Expert(Hidden, Rank, K, Dm, Noise(Rank * Hidden), Noise(Rank * Hidden), Noise(Dim), Noise(Dim), Sha, Sha);
    }

    [Fact]
    public void a_store_under_churn_stays_the_size_of_what_its_views_hold_and_lets_removed_experts_go()
    {
        var random = new Random(5);
        var store = new ExpertKeyStore(K, Dm);
        var head = new ExpertSet(store);
        var gone = new List<WeakReference>();
        for (var i = 0; i < 1_200; i++) head.Add(new ExpertSlot(i, $"e{i}"), NewExpert(random));
        for (var round = 0; round < 600; round++)
        {
            var order = 1_200 + round;
            head.Add(new ExpertSlot(order, $"e{order}"), NewExpert(random));
            gone.Add(RemoveKeepingAWeakReference(head, store, $"e{round}"));
        }

        head.Count.ShouldBe(1_200);
        store.Count.ShouldBeLessThanOrEqualTo(1_201, "rows are used again once no view holds them");
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        gone.Count(w => w.IsAlive).ShouldBe(0, "the store lets a removed expert go");
    }

    [Fact]
    public void a_row_held_by_another_view_is_not_used_again_until_that_view_lets_it_go()
    {
        var random = new Random(6);
        var store = new ExpertKeyStore(K, Dm);
        var head = new ExpertSet(store);
        var past = new ExpertSet(store);
        var kept = NewExpert(random);
        head.Add(new ExpertSlot(1, "a"), kept);
        past.Add(new ExpertSlot(1, "a"), kept);
        head.Remove("a");

        var other = NewExpert(random);
        head.Add(new ExpertSlot(2, "b"), other);
        store.RowOf(other).ShouldNotBe(store.RowOf(kept), "the past view still holds the first row");
        store.ExpertAt(store.RowOf(kept)).ShouldBeSameAs(kept);

        past.Clear();
        store.FreeRows.ShouldBe(1);
        var third = NewExpert(random);
        head.Add(new ExpertSlot(3, "c"), third);
        store.FreeRows.ShouldBe(0);
        store.Count.ShouldBe(2);
    }

    [Theory]
    [InlineData(11)]
    [InlineData(12)]
    public void the_filter_over_reused_rows_keeps_exactly_the_survivors_of_scoring_every_active_expert(int seed)
    {
        var random = new Random(seed);
        var store = new ExpertKeyStore(K, Dm);
        var set = new ExpertSet(store);
        var active = new Dictionary<string, (ExpertSlot Slot, Expert Expert)>();
        var scale = KeySimilarity.Scale(K, Dm);
        var next = 0;
        for (; next < 1_500; next++) Add(next);
        for (var round = 0; round < 40; round++)
        {
            // Retract a random tenth, bring as many new experts: the new ones take the freed rows.
            foreach (var id in active.Keys.OrderBy(_ => random.Next()).Take(150).ToList())
            {
                set.Remove(id);
                active.Remove(id);
            }
            for (var i = 0; i < 150; i++, next++) Add(next);

            var query = active.Values.ElementAt(random.Next(active.Count)).Expert.VisualKey.ToArray().Select(x => x + (float)(0.3 * (random.NextDouble() - 0.5))).ToArray();
            var threshold = (float)(random.NextDouble() * 0.5);
            var expected = active.Values.OrderBy(a => a.Slot)
                .Select(a => (a.Slot, Similarity: KeySimilarity.Exact(query, a.Expert.VisualKey, scale)))
                .Where(a => a.Similarity > threshold).ToList();
            var got = set.Passing(query, threshold, useBound: true).Select(p => (p.Slot, p.Similarity)).ToList();
            got.ShouldBe(expected, $"round {round}");
        }
        store.Count.ShouldBeLessThanOrEqualTo(1_650);

        void Add(int i)
        {
            var slot = new ExpertSlot(i, $"e{i}");
            var expert = NewExpert(random);
            set.Add(slot, expert);
            active[slot.Id] = (slot, expert);
        }
    }

    // Not inlined, so that no reference to the expert outlives the call in a local of the test.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference RemoveKeepingAWeakReference(ExpertSet set, ExpertKeyStore store, string id)
    {
        var reference = new WeakReference(store.ExpertAt(set.RowOf(id)));
        set.Remove(id);
        return reference;
    }
}
