using LiveEdit.Model.Llava;
using LiveEdit.Model.Tests.Editor;
using LiveEdit.Model.Vlm;
using Shouldly;
using Xunit;
using static TorchSharp.torch;

namespace LiveEdit.Model.Tests.Llava;

/// <summary>
/// Greedy decoding of a LLaVA model with its KV cache chooses the same tokens as recomputing the whole sequence (vision
/// tower included) at every step, from logits within 1e-5 in float32, for both decoder kinds; a row answers the same
/// alone and in a batch; a rewrite at l_e applies to every position of the prefill and to each step.
/// </summary>
[Collection(EditorCollection.Name)]
public sealed class decoding_llava_with_a_kv_cache
{
    private const double Tolerance = 1e-5;

    public static TheoryData<string> Kinds => new() { "clip-llama", "siglip-qwen2" };

    private static LlavaModel Model(string kind, int maxPositions = 128) => kind == "clip-llama"
        ? TinyLlava.Create(TinyLlava.ClipLlama(maxPositions: maxPositions), seed: 21)
        : TinyLlava.Create(TinyLlava.SiglipQwen2(maxPositions: maxPositions), seed: 22);

    /// <summary>Images and text only, prompts of different lengths, side by side.</summary>
    private static VlmExample[] Queries() =>
    [
        new(TinyLlava.Image(1), "what is this?"),
        new(null, "name the capital of the land to the north of the river"),
        new(TinyLlava.Image(2), "who owns the thing in this picture, and where does it live?"),
        new(null, "hi"),
        new(TinyLlava.Image(3), "colour?"),
    ];

    internal static void ShouldAgree(GreedyDecoding actual, GreedyDecoding expected, string what)
    {
        actual.Tokens.Count.ShouldBe(expected.Tokens.Count);
        for (var i = 0; i < expected.Tokens.Count; i++)
        {
            actual.Tokens[i].ShouldBe(expected.Tokens[i], $"{what}: row {i}'s tokens");
            actual.Answers[i].ShouldBe(expected.Answers[i], $"{what}: row {i}'s answer");
            var (a, e) = (actual.StepLogits![i], expected.StepLogits![i]);
            a.Count.ShouldBe(e.Count, $"{what}: row {i}'s steps");
            for (var s = 0; s < e.Count; s++)
            {
                var worst = a[s].Zip(e[s], (x, y) => Math.Abs((double)x - y)).Max();
                worst.ShouldBeLessThanOrEqualTo(Tolerance, $"{what}: row {i}, step {s}: logits differ by {worst:E2}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void cached_decoding_chooses_what_a_full_recompute_chooses(string kind)
    {
        using var model = Model(kind);
        using var scope = NewDisposeScope();
        var queries = Queries();
        var cached = model.GreedyDecode(queries, maxNewTokens: 10, keepLogits: true);
        var recomputed = model.GreedyDecode(queries, maxNewTokens: 10, decoding: Decoding.Recompute, keepLogits: true);
        ShouldAgree(cached, recomputed, kind);
        cached.Tokens.Count(t => t.Length >= 6).ShouldBeGreaterThanOrEqualTo(3, "random weights seldom stop: many steps are compared");
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void a_row_answers_alike_alone_and_in_a_batch(string kind)
    {
        using var model = Model(kind);
        using var scope = NewDisposeScope();
        var queries = Queries();
        var batch = model.GreedyDecode(queries, maxNewTokens: 6, keepLogits: true);
        for (var i = 0; i < queries.Length; i++)
        {
            var alone = model.GreedyDecode([queries[i]], maxNewTokens: 6, keepLogits: true);
            ShouldAgree(new GreedyDecoding([batch.Answers[i]], [batch.Tokens[i]], [batch.StepLogits![i]]), alone, $"{kind}, query {i}");
        }
    }

    [Fact]
    public void a_row_stops_where_its_next_token_would_not_fit_the_position_table()
    {
        using var model = Model("clip-llama", maxPositions: 40);
        using var scope = NewDisposeScope();
        // The image row fills most of the 40 positions before its answer; the text row is short.
        VlmExample[] queries = [new(TinyLlava.Image(4), "what is this? ab"), new(null, "hi")];
        var prompt = model.Prepare([queries[0]]).Length[0];
        var cached = model.GreedyDecode(queries, maxNewTokens: 12, keepLogits: true);
        var recomputed = model.GreedyDecode(queries, maxNewTokens: 12, decoding: Decoding.Recompute, keepLogits: true);
        ShouldAgree(cached, recomputed, "position table");
        cached.Tokens[0].Length.ShouldBe(40 - prompt);
        Should.Throw<ArgumentException>(() => model.Prepare([new VlmExample(TinyLlava.Image(4), "what is this? " + new string('x', 30))]))
            .Message.ShouldContain("at most 40");
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public void a_rewrite_at_the_edit_layer_applies_to_every_position_of_the_prefill_and_of_each_step(string kind)
    {
        using var model = Model(kind);
        using var scope = NewDisposeScope();
        var queries = Queries();
        var shapes = new List<long[]>();
        Tensor Rewrite(Tensor h)
        {
            shapes.Add(h.shape);
            h.dtype.ShouldBe(ScalarType.Float32);
            return h + 0.5 * tanh(h.roll(1, -1));
        }
        var rewritten = model.GreedyDecode(queries, Rewrite, maxNewTokens: 8, keepLogits: true);
        var prefill = model.Prepare(queries.Select(q => new VlmExample(q.Image, q.Prompt)).ToArray());
        shapes[0].ShouldBe([queries.Length, prefill.TokenIds.shape[1], model.Shape.HiddenSize], "the prefill: every position");
        shapes.Skip(1).ShouldAllBe(s => s[0] == queries.Length && s[1] == 1, "each step: the new positions");
        shapes.Count.ShouldBe(8, "one prefill and seven steps");

        ShouldAgree(rewritten, model.GreedyDecode(queries, Rewrite, maxNewTokens: 8, decoding: Decoding.Recompute, keepLogits: true), $"{kind}, rewritten");
        var plain = model.GreedyDecode(queries, maxNewTokens: 8, keepLogits: true);
        rewritten.Tokens.ShouldNotBe(plain.Tokens, "the rewrite changes the answers");

        // Logits with the rewrite equal the decoder run on from the rewritten hidden states.
        var inputs = model.Prepare(queries);
        var viaHidden = model.LogitsFromEditLayer(inputs, model.HiddenAtEditLayer(inputs) + 0.5 * tanh(model.HiddenAtEditLayer(inputs).roll(1, -1)));
        (model.Logits(inputs, h => h + 0.5 * tanh(h.roll(1, -1))) - viaHidden).abs().max().item<float>().ShouldBe(0f);
        (model.Logits(inputs) - model.LogitsFromEditLayer(inputs, model.HiddenAtEditLayer(inputs))).abs().max().item<float>().ShouldBe(0f);
    }

    [Fact]
    public void the_cache_holds_the_key_value_heads_and_each_row_at_its_own_position()
    {
        using var model = Model("clip-llama");
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var inputs = model.Prepare([new VlmExample(TinyLlava.Image(0), "what is this?"), new VlmExample(null, "hello there")]);
        var (logits, cache) = model.Prefill(inputs, maxNewTokens: 2);
        using (cache)
        {
            logits.shape.ShouldBe([2L, model.Shape.VocabSize]);
            logits.dtype.ShouldBe(ScalarType.Float32);
            cache.Keys(0).shape.ShouldBe([2L, 2, inputs.TokenIds.shape[1] + 2, 8], "two KV heads of width 8, not the four query heads");
            cache.Positions.ShouldBe(inputs.Length);
            model.Step(cache, tensor(new long[] { 5, 6 }));
            cache.Positions.ShouldBe([inputs.Length[0] + 1, inputs.Length[1] + 1]);
            cache.Finish(1);
            model.Step(cache, tensor(new long[] { 5, 6 }));
            cache.Positions.ShouldBe([inputs.Length[0] + 2, inputs.Length[1] + 1], "a finished row does not advance");
            Should.Throw<ArgumentException>(() => model.Step(cache, tensor(new long[] { 5 })));
            Should.Throw<InvalidOperationException>(() => model.Step(cache, tensor(new long[] { 5, 6 })), "no slot left");
        }
    }

    [Fact]
    public void a_bfloat16_model_answers_close_to_its_float32_twin()
    {
        using var scope = NewDisposeScope();
        using var f32 = TinyLlava.Create(TinyLlava.ClipLlama(), seed: 30);
        using var bf16 = TinyLlava.Create(TinyLlava.ClipLlama(), seed: 30, dtype: ScalarType.BFloat16);
        bf16.NamedWeights().ShouldAllBe(w => w.Tensor.dtype == ScalarType.BFloat16);
        var queries = Queries();
        var (a, b) = (f32.Logits(f32.Prepare(queries)), bf16.Logits(bf16.Prepare(queries)));
        b.dtype.ShouldBe(ScalarType.Float32, "logits leave the model in float32");
        var scale = a.abs().max().item<float>();
        (a - b).abs().max().item<float>().ShouldBeLessThan(0.1f * scale);
        var decoded = bf16.GreedyDecode(queries, maxNewTokens: 3, keepLogits: true);
        decoded.Tokens.ShouldAllBe(t => t.Length > 0);
    }
}
