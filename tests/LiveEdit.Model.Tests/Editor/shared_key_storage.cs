using LiveEdit.Model.Editor;
using LiveEdit.Model.Vlm;
using Shouldly;
using Xunit;
using static TorchSharp.torch;

namespace LiveEdit.Model.Tests.Editor;

/// <summary>
/// The key store that edited models share: adding and removing experts updates a model's view in place, the hard
/// filter over it keeps exactly what scoring every active expert keeps, and models over one store route as models
/// built apart.
/// </summary>
[Collection(EditorCollection.Name)]
public sealed class shared_key_storage
{
    private const int K = 4, Dm = 24, Dim = K * Dm, Rank = 2, Hidden = 8;
    private static readonly string Sha = new('0', 64);

    private static double Gaussian(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());

    // Keys with low-rank structure plus noise (as learned keys look), so that the bound has something to skip.
    private static List<Expert> Experts(Random random, int count, int structure = 10)
    {
        var directions = Enumerable.Range(0, structure * Dim).Select(_ => (float)Gaussian(random)).ToArray();
        float[] Noise(int n, double s) => Enumerable.Range(0, n).Select(_ => (float)(s * Gaussian(random))).ToArray();
        var experts = new List<Expert>();
        for (var e = 0; e < count; e++)
        {
            var weights = Enumerable.Range(0, structure).Select(_ => Gaussian(random)).ToArray();
            var key = new float[Dim];
            for (var i = 0; i < Dim; i++)
            {
                var x = 0.05 * Gaussian(random);
                for (var j = 0; j < structure; j++) x += directions[j * Dim + i] * weights[j];
                key[i] = (float)x;
            }
            experts.Add(new Expert(Hidden, Rank, K, Dm, Noise(Rank * Hidden, 1), Noise(Rank * Hidden, 1), key, Noise(Dim, 1), Sha, Sha));
        }
        return experts;
    }

    private static readonly double Scale = KeySimilarity.Scale(K, Dm);

    // The exhaustive scan: every active expert scored with the similarity equation, in fusion order.
    private static List<(ExpertSlot Slot, float Similarity)> Scan(Dictionary<string, (ExpertSlot Slot, Expert Expert)> active, ReadOnlySpan<float> query,
        float threshold, Func<Expert, float>? offset)
    {
        var result = new List<(ExpertSlot, float)>();
        foreach (var (slot, expert) in active.Values.OrderBy(a => a.Slot))
        {
            var s = KeySimilarity.Exact(query, expert.VisualKey, Scale);
            if (s > threshold + (offset?.Invoke(expert) ?? 0f)) result.Add((slot, s));
        }
        return result;
    }

    private static float[] Query(Random random, IReadOnlyList<Expert> experts) =>
        experts[random.Next(experts.Count)].VisualKey.ToArray().Select(x => x + (float)(0.5 * Gaussian(random))).ToArray();

    [Theory]
    [InlineData(1, false)]
    [InlineData(2, true)]
    [InlineData(3, false)]
    public void the_filter_keeps_exactly_the_survivors_and_scores_of_scoring_every_active_expert(int seed, bool withOffsets)
    {
        var random = new Random(seed);
        var experts = Experts(random, 3000);
        var store = new ExpertKeyStore(K, Dm);
        var set = new ExpertSet(store);
        // With offsets, the experts that can only come late (see below) have the lowest: the bound must follow them down.
        var late = experts.Skip(2500).ToHashSet();
        Func<Expert, float>? offset = withOffsets ? e => late.Contains(e) ? -1.5f : (float)(0.3 * Math.Sin(e.VisualKey[0] * 7)) : null;
        set.SetOffsets(offset);
        var active = new Dictionary<string, (ExpertSlot Slot, Expert Expert)>();
        var next = 0;
        var bounded = 0;
        var skipped = false;
        var kept = 0;
        var adds = 0;
        for (var step = 0; step < 60; step++)
        {
            // Additions and removals interleaved: a burst of adds (some re-adding a removed expert under a new order),
            // then removals at random places.
            for (var a = random.Next(10, 200); a > 0; a--)
            {
                var id = $"x{random.Next(Math.Min(experts.Count, 1500 + 50 * step))}";
                if (active.ContainsKey(id)) continue;
                var slot = new ExpertSlot(next++, id);
                var expert = experts[int.Parse(id[1..])];
                set.Add(slot, expert);
                active[id] = (slot, expert);
                adds++;
            }
            for (var r = random.Next(0, 60); r > 0 && active.Count > 0; r--)
            {
                var id = active.Keys.ElementAt(random.Next(active.Count));
                set.Remove(id).ShouldBeTrue();
                active.Remove(id);
            }
            set.Count.ShouldBe(active.Count);
            for (var q = 0; q < 4; q++)
            {
                var query = Query(random, experts);
                var scores = active.Values.Select(a => KeySimilarity.Exact(query, a.Expert.VisualKey, Scale)).Order().ToArray();
                // Thresholds from below every score to above every score.
                var threshold = scores.Length == 0 ? 0f : scores[random.Next(scores.Length)] + (float)(0.2 * Gaussian(random));
                var expected = Scan(active, query, threshold, offset);
                var got = set.Passing(query, threshold, useBound: true);
                got.Select(g => (g.Slot, g.Similarity)).ShouldBe(expected, $"step {step}, query {q}");
                if (set.LastBounded) bounded++;
                skipped |= set.LastBounded && set.LastScored < active.Count;
                kept += got.Count;
                set.Passing(query, threshold, useBound: false).Select(g => (g.Slot, g.Similarity)).ShouldBe(expected);
            }
        }
        bounded.ShouldBeGreaterThan(0, "the store grew past the size where the bound is used");
        skipped.ShouldBeTrue("the bound skips experts");
        kept.ShouldBeGreaterThan(0);
        // A removed expert's row is freed and a re-added one may take another: terms are computed at most once per add,
        // never for the whole store on a change.
        store.TermsComputed.ShouldBeLessThanOrEqualTo(adds, "each added expert's terms are computed once");
    }

    [Fact]
    public void the_bound_charges_the_rounding_of_its_8_bit_coefficients()
    {
        // Keys almost inside a low-rank span (the bound is tight) and a slack far below that rounding: an expert just
        // above the threshold is kept only if the bound charges every term.
        var random = new Random(17);
        var experts = Experts(random, 2000, structure: 6);
        var set = new ExpertSet(new ExpertKeyStore(K, Dm) { Tolerance = 1e-5 });
        var active = new Dictionary<string, (ExpertSlot Slot, Expert Expert)>();
        for (var e = 0; e < experts.Count; e++)
        {
            set.Add(new ExpertSlot(e, $"x{e}"), experts[e]);
            active[$"x{e}"] = (new ExpertSlot(e, $"x{e}"), experts[e]);
        }
        var skipped = false;
        for (var q = 0; q < 40; q++)
        {
            var query = Query(random, experts);
            var scores = experts.Select(x => KeySimilarity.Exact(query, x.VisualKey, Scale)).Order().ToArray();
            var threshold = scores[random.Next(scores.Length)] - 1e-4f;
            set.Passing(query, threshold, useBound: true).Select(g => (g.Slot, g.Similarity)).ShouldBe(Scan(active, query, threshold, null), $"query {q}");
            set.LastBounded.ShouldBeTrue();
            skipped |= set.LastScored < experts.Count;
        }
        skipped.ShouldBeTrue();
    }

    [Fact]
    public void a_basis_states_how_far_its_float_rows_are_from_orthonormal()
    {
        // The bound charges ε = ‖PPᵀ − I‖ for float32 rows: it must be at least the distance measured here, and grow
        // when the rows are stretched.
        var random = new Random(18);
        var experts = Experts(random, 1500);
        var keys = experts.SelectMany(e => e.VisualKey.ToArray()).ToArray();
        var basis = VisualKeyBasis.Fit(keys, experts.Count, Dim, rank: 12);
        static double Distance(VisualKeyBasis b)
        {
            double squares = 0;
            for (var i = 0; i < b.Rank; i++)
                for (var j = 0; j < b.Rank; j++)
                {
                    double dot = 0;
                    for (var x = 0; x < b.Dim; x++) dot += (double)b.Rows[i * b.Dim + x] * b.Rows[j * b.Dim + x];
                    var d = dot - (i == j ? 1 : 0);
                    squares += d * d;
                }
            return Math.Sqrt(squares);
        }
        basis.Defect().ShouldBeGreaterThanOrEqualTo(Distance(basis));
        basis.Defect().ShouldBeLessThan(1e-5);
        var stretched = basis with { Rows = basis.Rows.Select(x => x * 1.001f).ToArray() };
        var expected = Distance(stretched);
        expected.ShouldBeGreaterThan(1e-3);
        stretched.Defect().ShouldBeGreaterThanOrEqualTo(expected);
        stretched.Defect().ShouldBeLessThan(expected * 1.01);
    }

    [Theory]
    [InlineData(21, 1, 256)]
    [InlineData(22, 7, 256)]
    [InlineData(23, 40, 256)]
    [InlineData(24, 1, 1)]
    [InlineData(25, 1, 3)]
    [InlineData(26, 7, 50)]
    public void a_scan_split_over_two_threads_keeps_the_rows_and_scores_of_one_scan_in_row_order(int seed, int parallelBlocks, int chunkBlocks)
    {
        // A store that splits its scan from a few blocks on, against the scan of every member; members at random, so
        // that the halves' edges fall inside and between blocks with and without members.
        var random = new Random(seed);
        var experts = Experts(random, 3000);
        var store = new ExpertKeyStore(K, Dm) { ParallelBlocks = parallelBlocks, ParallelChunkBlocks = chunkBlocks };
        foreach (var e in experts) store.RowOf(e);
        var members = new byte[(experts.Count + 7) / 8];
        random.NextBytes(members);
        var inView = Enumerable.Range(0, experts.Count).Count(r => (members[r / 8] >> (r % 8) & 1) == 1);
        var (kept, skipped) = (0, false);
        for (var q = 0; q < 30; q++)
        {
            var query = Query(random, experts);
            var scores = experts.Select(x => KeySimilarity.Exact(query, x.VisualKey, Scale)).Order().ToArray();
            var threshold = scores[random.Next(scores.Length)];
            var expected = Enumerable.Range(0, experts.Count).Where(r => (members[r / 8] >> (r % 8) & 1) == 1)
                .Select(r => (r, KeySimilarity.Exact(query, experts[r].VisualKey, Scale))).Where(p => p.Item2 > threshold).ToList();
            var got = new List<(int Row, float Similarity)>();
            var scored = store.Passing(query, threshold, members, null, 0f, useBound: true, got);
            got.ShouldBe(expected, $"query {q}");
            skipped |= scored < inView;
            kept += got.Count;
        }
        kept.ShouldBeGreaterThan(0);
        skipped.ShouldBeTrue("the bound skips experts");
    }

    [Fact]
    public void incremental_updates_equal_a_set_built_from_scratch()
    {
        var random = new Random(11);
        var experts = Experts(random, 2500);
        var store = new ExpertKeyStore(K, Dm);
        var set = new ExpertSet(store);
        var active = new Dictionary<string, (ExpertSlot Slot, Expert Expert)>();
        for (var step = 0; step < 4000; step++)
        {
            var i = random.Next(experts.Count);
            var id = $"x{i}";
            if (active.ContainsKey(id) && random.NextDouble() < 0.6)
            {
                set.Remove(id);
                active.Remove(id);
            }
            else if (!active.ContainsKey(id))
            {
                var slot = new ExpertSlot(random.Next(1000), id);
                set.Add(slot, experts[i]);
                active[id] = (slot, experts[i]);
            }
            // A query now and then, so that the bound's terms are computed between changes, as a server does.
            if (step % 500 == 499) set.Passing(Query(random, experts), 0f, useBound: true);
        }
        var fresh = new ExpertSet(new ExpertKeyStore(K, Dm));
        foreach (var (slot, expert) in active.Values.OrderBy(_ => random.Next())) fresh.Add(slot, expert);

        set.Slots.ShouldBe(fresh.Slots);
        set.Slots.ShouldBe(active.Values.Select(a => a.Slot).Order().ToList());
        for (var q = 0; q < 30; q++)
        {
            var query = Query(random, experts);
            var threshold = (float)(0.3 * Gaussian(random));
            var a = set.Passing(query, threshold, useBound: true);
            var b = fresh.Passing(query, threshold, useBound: true);
            a.Select(x => (x.Slot, x.Similarity)).ShouldBe(b.Select(x => (x.Slot, x.Similarity)));
            if (a.Count == 0) continue;
            // The same experts behind the survivors (their U, V and ψ̂ are what fusion and soft routing read).
            a.Select(x => set.Store.ExpertAt(x.Row)).ShouldBe(b.Select(x => fresh.Store.ExpertAt(x.Row)));
        }
    }

    // Experts whose visual keys are scaled query keys plus low-rank noise (as in visual_key_pruning), so the filter
    // both keeps and drops and the bound has something to skip.
    private static List<Expert> ExpertsFor(EditorFixture f, IReadOnlyList<VlmExample> queries, int count, int seed)
    {
        var cfg = f.Editor.Config;
        var dim = cfg.KeyRows * cfg.ModuleDim;
        float[] visual, thresholds;
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            var inputs = f.Model.Prepare(queries);
            var keys = f.Editor.InputSide(f.Model.HiddenAtEditLayer(inputs), inputs, Enumerable.Range(0, queries.Count).ToList());
            visual = keys.Visual.reshape(queries.Count, dim).contiguous().data<float>().ToArray();
            thresholds = Routing.PairSimilarity(keys.Visual, keys.Sentinel).data<float>().ToArray();
        }
        var random = new Random(seed);
        var scale = KeySimilarity.Scale(cfg.KeyRows, cfg.ModuleDim);
        var noise = Enumerable.Range(0, 8 * dim).Select(_ => (float)Gaussian(random)).ToArray();
        var experts = new List<Expert>();
        for (var e = 0; e < count; e++)
        {
            var q = e % queries.Count;
            var self = KeySimilarity.Dot(visual.AsSpan(q * dim, dim), visual.AsSpan(q * dim, dim)) * scale;
            var beta = thresholds[q] / self * (0.6 + 0.8 * random.NextDouble());
            var spread = Math.Sqrt(self / scale / dim);
            var weights = Enumerable.Range(0, 8).Select(_ => 0.1 * spread * Gaussian(random)).ToArray();
            var key = new float[dim];
            for (var i = 0; i < dim; i++)
            {
                var x = beta * visual[q * dim + i];
                for (var j = 0; j < 8; j++) x += weights[j] * noise[j * dim + i];
                key[i] = (float)x;
            }
            float[] Noise(int n, double s) => Enumerable.Range(0, n).Select(_ => (float)(s * Gaussian(random))).ToArray();
            experts.Add(new Expert(cfg.HiddenSize, cfg.Rank, cfg.KeyRows, cfg.ModuleDim, Noise(cfg.Rank * cfg.HiddenSize, 0.1),
                Noise(cfg.Rank * cfg.HiddenSize, 0.1), key, Noise(dim, 1), Sha, f.Editor.GeneratorSha256));
        }
        return experts;
    }

    private static (float[] Logits, string Routes) Run(EditedModel model, IReadOnlyList<VlmExample> queries)
    {
        using var scope = NewDisposeScope();
        var (logits, routes) = model.Logits(model.Model.Prepare(queries));
        return (logits.data<float>().ToArray(), string.Join("\n", routes.Select(r =>
            string.Join(",", r.Fired.Select(x => $"{x.Id}@{x.Order}:{x.Weight:R}:{x.VisualSimilarity:R}:{x.TextScore:R}")))));
    }

    [Fact]
    public void views_at_two_versions_over_one_store_route_as_models_built_apart()
    {
        var f = new EditorFixture(seed: 41, edits: 4);
        var queries = f.ImageQueries();
        var experts = ExpertsFor(f, queries, 1600, 41);
        // Version 1: the first 1,200 experts; version 2: 400 more, and 100 of the first retracted.
        var retracted = Enumerable.Range(0, 1200).Where(e => e % 12 == 5).ToHashSet();
        using var head = new EditedModel(f.Model, f.Editor);
        for (var e = 0; e < 1600; e++) head.Add($"x{e}", experts[e], e);
        foreach (var e in retracted) head.Remove($"x{e}");
        using var past = new EditedModel(f.Model, f.Editor, keys: head.Keys);
        for (var e = 0; e < 1200; e++) past.Add($"x{e}", experts[e], e);
        head.Keys.Count.ShouldBe(1600, "the past version adds no rows: its experts are already stored");

        using var headApart = new EditedModel(f.Model, f.Editor);
        for (var e = 0; e < 1600; e++) if (!retracted.Contains(e)) headApart.Add($"x{e}", experts[e], e);
        using var pastApart = new EditedModel(f.Model, f.Editor);
        for (var e = 0; e < 1200; e++) pastApart.Add($"x{e}", experts[e], e);

        var (a, routesA) = Run(head, queries);
        head.LastBounded.ShouldBeTrue();
        var (b, routesB) = Run(past, queries);
        past.LastBounded.ShouldBeTrue();
        var termsComputed = head.Keys.TermsComputed;
        Run(head, queries);
        head.Keys.TermsComputed.ShouldBe(termsComputed, "no query recomputes a stored expert's terms");
        routesA.ShouldNotBe(routesB, "the versions differ in what fires");
        var (c, routesC) = Run(headApart, queries);
        var (d, routesD) = Run(pastApart, queries);
        routesA.ShouldBe(routesC);
        a.ShouldBe(c);
        routesB.ShouldBe(routesD);
        b.ShouldBe(d);
        routesB.Split('\n').Sum(r => r.Length == 0 ? 0 : r.Split(',').Length).ShouldBeGreaterThan(0);
    }

    [Fact]
    public void removing_then_re_adding_an_expert_keeps_the_fusion_order()
    {
        var f = new EditorFixture(seed: 43, edits: 4);
        var queries = f.ImageQueries();
        var experts = ExpertsFor(f, queries, 1100, 43);
        // Added out of order (rows are not the fusion order), and a model that had them in order to compare with.
        using var model = new EditedModel(f.Model, f.Editor);
        foreach (var e in Enumerable.Range(0, experts.Count).OrderBy(e => (e * 7919) % experts.Count)) model.Add($"x{e}", experts[e], e);
        using var inOrder = new EditedModel(f.Model, f.Editor);
        for (var e = 0; e < experts.Count; e++) inOrder.Add($"x{e}", experts[e], e);
        var (before, routesBefore) = Run(model, queries);
        var (expected, expectedRoutes) = Run(inOrder, queries);
        routesBefore.ShouldBe(expectedRoutes);
        before.ShouldBe(expected);
        // Retract a third of them and bring them back at their own places, in reverse.
        var again = Enumerable.Range(0, experts.Count).Where(e => e % 3 == 1).ToList();
        foreach (var e in again) model.Remove($"x{e}").ShouldBeTrue();
        Run(model, queries).Routes.ShouldNotBe(routesBefore);
        foreach (var e in Enumerable.Reverse(again)) model.Add($"x{e}", experts[e], e);
        var (after, routesAfter) = Run(model, queries);
        routesAfter.ShouldBe(routesBefore);
        after.ShouldBe(before);
        model.Keys.Count.ShouldBe(experts.Count, "a re-added expert takes its old row");
        model.Slots.Select(s => s.Order).ShouldBe(Enumerable.Range(0, experts.Count).Select(e => (long)e));
    }
}
