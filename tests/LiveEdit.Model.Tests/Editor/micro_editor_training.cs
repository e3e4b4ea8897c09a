using LiveEdit.Model.Editor;
using LiveEdit.Model.Runtime;
using LiveEdit.Research.Editing;
using LiveEdit.Research.World;
using Shouldly;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LiveEdit.Model.Tests.Editor;

/// <summary>
/// A micro editor trained inside the test on a random frozen VLM: entities are random images (renderings add noise),
/// questions ask one of four attributes, targets are one random token. The edits must stick and unrelated images
/// (entities the editor never saw) must be left exactly as they were — which only the hard filter gives.
/// </summary>
[Collection(EditorCollection.Name)]
public sealed class a_micro_editor(ITestOutputHelper output)
{
    private static readonly string[] Attributes = ["colour", "owner", "home", "name"];

    private static IReadOnlyList<EditSample> Samples(int firstEntity, int count, int seed)
    {
        var rng = new Random(seed);
        var images = new Dictionary<int, float[]>();
        float[] Base(int entity)
        {
            if (!images.TryGetValue(entity, out var image))
            {
                var r = new Random(1000 + entity);
                images[entity] = image = Enumerable.Range(0, 3 * 8 * 8).Select(_ => (float)r.NextDouble()).ToArray();
            }
            return image;
        }
        Func<Tensor> Render(int entity, int variant)
        {
            var image = Base(entity);
            return () =>
            {
                var r = new Random(entity * 7919 + variant);
                return tensor(image.Select(x => Math.Clamp(x + (float)(r.NextDouble() - 0.5) * 0.2f, 0f, 1f)).ToArray()).reshape(3, 8, 8);
            };
        }
        var result = new List<EditSample>();
        for (var i = 0; i < count; i++)
        {
            var entity = firstEntity + i;
            var a = rng.Next(4);
            var target = $"t{10 + rng.Next(50)}";
            var other = firstEntity + 100 + i;   // an entity no edit is about
            result.Add(new EditSample(i, Attributes[a],
                new EditQuery(Render(entity, 0), $"what is the {Attributes[a]} of this thing ?", target, entity),
                new EditQuery(Render(entity, 0), $"tell me the {Attributes[a]} of it", target, entity),
                new EditQuery(Render(entity, 1), $"what is the {Attributes[a]} of this thing ?", target, entity),
                new EditQuery(Render(other, 2), $"what is the {Attributes[(a + 1) % 4]} of this thing ?", "t5 t6", other),
                new EditQuery(null, $"what is the {Attributes[a]} of land {i} ?", "t7", null)));
        }
        return result;
    }

    [Fact]
    public void makes_its_edits_stick_and_leaves_unrelated_images_alone_only_with_the_hard_filter()
    {
        TorchRuntime.Configure(threads: 1, seed: 3);
        var model = new RandomTinyVlm(seed: 3, editLayer: 1);
        manual_seed(4);
        var editor = new EditorModules(EditorConfig.For(model.Shape, heads: 2));
        var train = Samples(firstEntity: 0, count: 12, seed: 5);
        var trainer = new EditorTrainer(model, editor, train, new EditorTrainingOptions(Steps: 400, BatchSize: 12, LearningRate: 1e-2, Seed: 6, CheckpointEvery: 0));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        EditorLosses? first = null, last = null;
        trainer.Train(p =>
        {
            first ??= p.Losses;
            last = p.Losses;
            if (p.Step % 50 == 0) output.WriteLine($"step {p.Step}: {p.Losses}");
        });
        output.WriteLine($"trained in {clock.Elapsed.TotalSeconds:F1} s");
        last!.Total.ShouldBeLessThan(first!.Total * 0.5);

        // Evaluate on the trained edits; the locality images are of entities nobody edited.
        // The look diagnostics with made-up looks: entities a and b differ in attribute (a + b) % 5 only, or in all five
        // when a + b is odd; even entities count as trained on.
        var evaluation = new EditorEvaluation(model, editor, train)
        {
            ExactMatch = false,
            LookDistance = (a, b) => Enumerable.Range(0, 5).Select(k => a != b && ((a + b) % 2 == 1 || k == (a + b) % 5)).ToArray(),
            TrainedEntity = e => e % 2 == 0,
        };
        using var withFilter = new EditedModel(model, editor);
        using var withoutFilter = new EditedModel(model, editor, new RoutingOptions(HardFilter: false));
        for (var i = 0; i < train.Count; i++)
        {
            withFilter.Add($"edit-{i}", evaluation.ExpertOf(i), i);
            withoutFilter.Add($"edit-{i}", evaluation.ExpertOf(i), i);
        }
        var all = Enumerable.Range(0, train.Count).ToList();
        var filtered = evaluation.Measure(withFilter, all, "with filter");
        var unfiltered = evaluation.Measure(withoutFilter, all, "without filter");
        output.WriteLine(EditorEvaluation.Describe(filtered));
        output.WriteLine(EditorEvaluation.Describe(unfiltered));

        filtered.Rel.ShouldBeGreaterThanOrEqualTo(70, "the edits stick");
        // The recall by kind splits the overall recall into three equal parts (one query of each kind per case).
        ((filtered.RecallRel + filtered.RecallTGen + filtered.RecallMGen) / 3).ShouldBe(filtered.FilterRecall, 1e-9);
        unfiltered.RecallRel.ShouldBe(100, "without the filter every expert fires on every image");
        unfiltered.RelWhenFired.ShouldBe(unfiltered.Rel, 1e-9, "every edit input had its own expert");
        filtered.TLoc.ShouldBe(100, "text-only inputs are never edited");
        // M-Loc's loss splits by the survivors behind it; an input with no survivor loses nothing.
        foreach (var m in new[] { filtered, unfiltered })
        {
            (m.MLocLostSameEntity + m.MLocLostOtherEntity).ShouldBe(100 - m.MLoc, 1e-9, m.Protocol);
            m.MLocLostOtherSameFact.ShouldBeInRange(0, m.MLocLostOtherEntity + 1e-9, m.Protocol);
            // The same-attribute loss splits by the closest such expert's look distance; distance 1 by the attribute.
            m.MLocLostByLookDistance!.Sum().ShouldBe(m.MLocLostOtherSameFact, 1e-9, m.Protocol);
            m.MLocLostByLookDistance![0].ShouldBe(0, m.Protocol);
            m.MLocLostNearMissAttribute!.Sum().ShouldBe(m.MLocLostByLookDistance![1], 1e-9, m.Protocol);
            m.MLocLostOnTrainedEntities.ShouldBeInRange(0, m.MLocLostOtherSameFact + 1e-9, m.Protocol);
        }
        unfiltered.MLocWithOtherEntity.ShouldBe(100, "without the filter every other entity's expert fires on every image");

        // Unrelated images: bit-exact with the base model under the filter; changed without it.
        var unrelated = train.Select(s => s.ImageLocality.ToExample()).ToList();
        double Untouched(EditedModel edited)
        {
            using var scope = NewDisposeScope();
            var inputs = model.Prepare(unrelated);
            var (logits, _) = edited.Logits(inputs);
            var reference = model.Logits(inputs);
            return Enumerable.Range(0, unrelated.Count).Count(i => logits[i].data<float>().ToArray().SequenceEqual(reference[i].data<float>().ToArray())) / (double)unrelated.Count;
        }
        var untouchedWith = Untouched(withFilter);
        var untouchedWithout = Untouched(withoutFilter);
        output.WriteLine($"unrelated images untouched: {untouchedWith:P0} with the filter, {untouchedWithout:P0} without");
        untouchedWith.ShouldBeGreaterThanOrEqualTo(0.9);
        untouchedWithout.ShouldBeLessThanOrEqualTo(0.1, "without the hard filter every expert leaks into unrelated images");
        (untouchedWith - untouchedWithout).ShouldBeGreaterThan(0.5);
    }
}
