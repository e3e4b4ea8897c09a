using System.Diagnostics;
using LiveEdit.Model.Editor;
using LiveEdit.Model.Images;
using LiveEdit.Model.Llava;
using LiveEdit.Model.Runtime;
using LiveEdit.Model.Tests.Editor;
using LiveEdit.Model.Vlm;
using LiveEdit.Research.Editing;
using LiveEdit.Testing.Llava;
using Shouldly;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LiveEdit.Model.Tests.Llava;

/// <summary>
/// LiveEdit runs unchanged on a LLaVA base: an editor trained with the project's own trainer on a tiny LLaVA checkpoint
/// makes its edits answer their targets and leaves unrelated inputs as they were; experts generated from the hidden
/// states at l_e are routed and fused into its cached decoding, which then agrees with the full recompute.
/// </summary>
[Collection(EditorCollection.Name)]
public sealed class editing_a_tiny_llava(ITestOutputHelper output)
{
    /// <summary>
    /// The expert with its keys but random U and V: an untrained editor's generators start at zero, and a zero residual
    /// would agree with anything.
    /// </summary>
    private static Expert Loud(Expert e, int seed)
    {
        var g = new Random(seed);
        float[] Draw(int n) => Enumerable.Range(0, n).Select(_ => (float)(g.NextDouble() * 2 - 1)).ToArray();
        return new Expert(e.HiddenSize, e.Rank, e.KeyRows, e.ModuleDim, Draw(e.U.Length), Draw(e.V.Length),
            e.VisualKey.ToArray(), e.TextKey.ToArray(), e.BaseSha256, e.GeneratorSha256);
    }

    [Fact]
    public void experts_fused_into_a_tiny_llava_decode_with_the_cache_as_with_a_full_recompute()
    {
        using var model = TinyLlava.Create(TinyLlava.ClipLlama(), seed: 41);
        manual_seed(7);
        var editor = new EditorModules(EditorConfig.For(model.Shape, heads: 2)).Freeze();
        var generator = new ExpertGenerator(model, editor);
        // The editor is untrained, so its hard filter means nothing yet: soft routing alone lets every expert fire.
        using var edited = new EditedModel(model, editor, new RoutingOptions(HardFilter: false));
        using var scope = NewDisposeScope();
        var first = generator.Generate(new VlmExample(TinyLlava.Image(1), "what is this?", "a cat"));
        first.BaseSha256.ShouldBe(model.WeightsSha256);
        edited.Add("e0", Loud(first, 1), 1);
        edited.Add("e1", Loud(generator.Generate(new VlmExample(TinyLlava.Image(2), "who owns it?", "bob")), 2), 2);

        VlmExample[] queries = [new(TinyLlava.Image(1), "what is this?"), new(null, "name a colour"), new(TinyLlava.Image(3), "who owns the thing on the left?")];
        var (cached, routes) = edited.Decode(queries, 6, Decoding.Cached, keepLogits: true);
        var (recomputed, recomputedRoutes) = edited.Decode(queries, 6, Decoding.Recompute, keepLogits: true);
        decoding_llava_with_a_kv_cache.ShouldAgree(cached, recomputed, "edited tiny LLaVA");
        for (var i = 0; i < queries.Length; i++)
        {
            routes[i].Fired.Select(f => f.Id).ShouldBe(recomputedRoutes[i].Fired.Select(f => f.Id), $"query {i}");
            for (var j = 0; j < routes[i].Fired.Count; j++)
                routes[i].Fired[j].Weight.ShouldBe(recomputedRoutes[i].Fired[j].Weight, 1e-5);
        }
        routes[0].Fired.Count.ShouldBe(2, "both experts fire on an image row");
        routes[1].Fired.ShouldBeEmpty("a text-only row gets no residual");

        var bare = model.GreedyDecode(queries, maxNewTokens: 6, keepLogits: true);
        bare.StepLogits![0][0].Zip(cached.StepLogits![0][0], (a, b) => Math.Abs(a - b)).Max().ShouldBeGreaterThan(1e-4f, "the experts change the image row");
        bare.StepLogits![1][0].ShouldBe(cached.StepLogits![1][0], "and leave the text row exactly as it was");
    }

    private static readonly string[] Attributes = ["colour", "owner", "home", "name"];

    // Targets the tiny LLaMA tokenizer says in one piece ("▁cat", "▁the", …), so an answer is one token and the end.
    private static readonly string[] Targets = ["cat", "the", "this", "is", "a", "What"];

    /// <summary>A rendering of an entity: its own random 28×28 photo with noise of its own, through the model's image processor.</summary>
    private static Func<Tensor> Render(IVisionLanguageModel model, int entity, int variant) => () =>
    {
        var look = new Random(1000 + entity);
        var pixels = Enumerable.Range(0, 28 * 28 * 3).Select(_ => look.Next(256)).ToArray();
        var noise = new Random(entity * 7919 + variant);
        var bytes = pixels.Select(p => (byte)Math.Clamp(p + noise.Next(-24, 25), 0, 255)).ToArray();
        return model.ImageInput(new RgbImage(28, 28, bytes));
    };

    /// <summary>
    /// Edit cases on a loaded tiny LLaVA: each entity is a random 28×28 photo, each rendering adds its own noise and goes
    /// through the model's own image processor; the image-locality input shows an entity no case is about.
    /// </summary>
    private static IReadOnlyList<EditSample> Samples(IVisionLanguageModel model, int count, int seed)
    {
        var asks = Attributes.Select(a => $"what is the {a} of this thing?").ToArray();
        var rng = new Random(seed);
        Func<Tensor> Render(int entity, int variant) => editing_a_tiny_llava.Render(model, entity, variant);
        var result = new List<EditSample>();
        for (var i = 0; i < count; i++)
        {
            var a = rng.Next(Attributes.Length);
            var target = Targets[rng.Next(Targets.Length)];
            var other = 100 + i;
            result.Add(new EditSample(i, Attributes[a],
                new EditQuery(Render(i, 0), asks[a], target, i),
                new EditQuery(Render(i, 0), $"tell me the {Attributes[a]} of it", target, i),
                new EditQuery(Render(i, 1), asks[a], target, i),
                new EditQuery(Render(other, 2), asks[(a + 1) % asks.Length], "the cat", other),
                new EditQuery(null, $"what is the {Attributes[a]} of land {i}?", "a", null)));
        }
        return result;
    }

    /// <summary>
    /// Scales the LM head ×4 (exact on the bfloat16 grid). A random head of std 0.1 over a 64-wide RMS-normed state caps
    /// every logit near 6, too flat for any edit to make one of 352 tokens win decisively; ×4 gives logits of the
    /// spread a trained head has.
    /// </summary>
    private static void SharpenHead(List<TinyTensor> tensors)
    {
        var head = tensors.Single(t => t.Name == "language_model.lm_head.weight");
        for (var i = 0; i < head.Values.Length; i++) head.Values[i] *= 4;
    }

    [Fact]
    public void an_editor_trained_on_it_makes_its_edits_answer_their_targets_and_leaves_unrelated_inputs_alone_only_with_the_filter()
    {
        var folder = Directory.CreateTempSubdirectory("llava-editor-").FullName;
        try
        {
            TorchRuntime.Configure(threads: 1, seed: 3);
            using var model = LlavaLoader.Load(TinyLlavaCheckpoint.Write(folder, new TinyLlavaOptions(Seed: 3), SharpenHead));
            manual_seed(4);
            var editor = new EditorModules(EditorConfig.For(model.Shape, heads: 2) with { Rank = 8 });
            var cases = Samples(model, count: 12, seed: 5);
            var trainer = new EditorTrainer(model, editor, cases, new EditorTrainingOptions(Steps: 300, BatchSize: 12, LearningRate: 5e-3, Seed: 6, CheckpointEvery: 0, HardDecisionLoss: true));
            var clock = Stopwatch.StartNew();
            EditorLosses? first = null, last = null;
            trainer.Train(p =>
            {
                first ??= p.Losses;
                last = p.Losses;
                if (p.Step % 50 == 0) output.WriteLine($"step {p.Step}: {p.Losses}");
            });
            output.WriteLine($"trained in {clock.Elapsed.TotalSeconds:F1} s");
            last!.Total.ShouldBeLessThan(first!.Total * 0.5);

            // Six of the training cases become edits (a micro editor learns its cases, it does not generalise beyond them).
            var edits = cases.Take(6).ToList();
            var generator = new ExpertGenerator(model, editor);
            using var withFilter = new EditedModel(model, editor);
            using var withoutFilter = new EditedModel(model, editor, new RoutingOptions(HardFilter: false));
            using (NewDisposeScope())
            {
                foreach (var e in edits)
                {
                    var expert = generator.Generate(e.Edit.ToExample());
                    withFilter.Add($"edit-{e.Id}", expert, e.Id);
                    withoutFilter.Add($"edit-{e.Id}", expert, e.Id);
                }
            }

            using var scope = NewDisposeScope();
            var prompts = edits.Select(e => e.Edit.ToExample(withAnswer: false)).ToList();
            var before = model.GreedyAnswers(prompts);
            var after = withFilter.Answer(prompts).Select(a => a.Text.Trim()).ToList();
            for (var i = 0; i < edits.Count; i++) output.WriteLine($"edit {i}: '{before[i]}' → '{after[i]}' (target '{edits[i].Edit.Answer}')");
            after.ShouldBe(edits.Select(e => e.Edit.Answer).ToList(), "every edit's prompt on its image answers its target");
            before.Zip(edits, (b, e) => b.Trim() == e.Edit.Answer).Count(x => x).ShouldBe(0, "the base answers none of them already");

            // Unrelated: the locality photos the editor trained with, photos it never saw asked the edits' own prompts, and
            // text-only prompts.
            var unrelated = edits.Select(e => e.ImageLocality.ToExample(withAnswer: false))
                .Concat(edits.Select((e, i) => new VlmExample(Render(model, 200 + i, 0)(), e.Edit.Prompt)))
                .Concat(edits.Select(e => e.TextLocality.ToExample(withAnswer: false)))
                .ToList();
            var inputs = model.Prepare(unrelated);
            var reference = model.Logits(inputs);
            int Changed(EditedModel edited)
            {
                var (logits, _) = edited.Logits(inputs);
                return Enumerable.Range(0, unrelated.Count).Count(i => !logits[i].data<float>().ToArray().SequenceEqual(reference[i].data<float>().ToArray()));
            }
            var changedWith = Changed(withFilter);
            var changedWithout = Changed(withoutFilter);
            output.WriteLine($"unrelated inputs changed: {changedWith} of {unrelated.Count} with the filter, {changedWithout} without");
            changedWith.ShouldBe(0, "the visual hard filter keeps every expert off inputs it is not about");
            withFilter.Answer(unrelated).Select(a => a.Text).ShouldBe(model.GreedyAnswers(unrelated));
            changedWithout.ShouldBeGreaterThan(0, "without the filter the experts leak into unrelated images");
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
