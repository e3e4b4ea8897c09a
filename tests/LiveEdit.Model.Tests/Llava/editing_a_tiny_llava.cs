using LiveEdit.Model.Editor;
using LiveEdit.Model.Tests.Editor;
using LiveEdit.Model.Vlm;
using Shouldly;
using Xunit;
using static TorchSharp.torch;

namespace LiveEdit.Model.Tests.Llava;

/// <summary>
/// LiveEdit's serving path runs unchanged on a LLaVA base: experts generated from a tiny LLaVA's hidden states at l_e
/// are routed and fused into its cached decoding, which then agrees with the full recompute.
/// </summary>
[Collection(EditorCollection.Name)]
public sealed class editing_a_tiny_llava
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
}
