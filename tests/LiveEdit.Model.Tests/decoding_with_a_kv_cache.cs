using LiveEdit.Model.Runtime;
using LiveEdit.Model.Tests.Editor;
using LiveEdit.Model.Vlm;
using LiveEdit.Research.World;
using Shouldly;
using Xunit;
using static TorchSharp.torch;

namespace LiveEdit.Model.Tests;

/// <summary>
/// Greedy decoding with a KV cache (the image encoded once, the prompt prefilled once, then one token per step) chooses
/// the same tokens as recomputing the whole sequence at every step, from logits that agree within 1e-5: for the base
/// model and the edited one, images and text only, rows of different lengths side by side.
/// </summary>
[Collection(EditorCollection.Name)]
public sealed class decoding_with_a_kv_cache
{
    private const double Tolerance = 1e-5;

    [Fact]
    public void the_base_model_answers_as_a_full_recompute_does()
    {
        var f = CommittedEdits.Instance;
        using var scope = NewDisposeScope();
        var queries = f.Queries();
        var cached = f.Model.GreedyDecode(queries, maxNewTokens: 8, keepLogits: true);
        var recomputed = f.Model.GreedyDecode(queries, maxNewTokens: 8, decoding: Decoding.Recompute, keepLogits: true);
        CommittedEdits.ShouldAgree(cached, recomputed, Tolerance, "batch");
        for (var i = 0; i < queries.Count; i++)
        {
            var alone = f.Model.GreedyDecode([queries[i]], maxNewTokens: 8, keepLogits: true);
            var aloneRecomputed = f.Model.GreedyDecode([queries[i]], maxNewTokens: 8, decoding: Decoding.Recompute, keepLogits: true);
            CommittedEdits.ShouldAgree(alone, aloneRecomputed, Tolerance, $"query {i} alone");
        }
        cached.Tokens.ShouldContain(t => t.Length >= 2, "some answer takes more than the prefill's token");
    }

    [Fact]
    public void long_answers_stay_aligned_step_after_step_and_stop_at_the_position_table()
    {
        var f = CommittedEdits.Instance;
        // Random weights seldom say <eos>: every row decodes to its limit, so every step of the cache is compared.
        using var model = new TinyVlm(f.Model.Config, f.Model.Tokenizer, initSeed: 3);
        model.eval();
        using var scope = NewDisposeScope();
        var words = f.World.Vocabulary;
        string Prompt(int n, int from) => string.Join(' ', Enumerable.Range(from, n).Select(i => words[i % words.Count]));
        var image = f.Cases[0].Edit.Image!.ToTensor();
        var limit = f.Model.Config.MaxLength;
        var nv = f.Model.Config.VisionTokens;
        VlmExample[] queries =
        [
            new(image, Prompt(3, 0)),
            new(null, Prompt(9, 5)),
            new(image, Prompt(limit - nv - 3, 11)),   // reaches the end of the position table after 3 tokens
            new(null, Prompt(1, 17)),
            new(f.Cases[1].Edit.Image!.ToTensor(), Prompt(6, 23)),
        ];
        var cached = model.GreedyDecode(queries, maxNewTokens: 16, keepLogits: true);
        var recomputed = model.GreedyDecode(queries, maxNewTokens: 16, decoding: Decoding.Recompute, keepLogits: true);
        CommittedEdits.ShouldAgree(cached, recomputed, Tolerance, "random weights");
        cached.Tokens.Count(t => t.Length >= 10).ShouldBeGreaterThanOrEqualTo(2, "long answers exercise many steps");
        cached.Tokens[2].Length.ShouldBe(3, "the row stops where its next token would not fit the position table");

        // A rewrite at l_e that changes every position applies to the prompt and to each new token alike.
        static Tensor Rewrite(Tensor h) => h + 0.5 * tanh(h.roll(1, -1));
        var rewritten = model.GreedyDecode(queries, Rewrite, maxNewTokens: 16, keepLogits: true);
        CommittedEdits.ShouldAgree(rewritten, model.GreedyDecode(queries, Rewrite, maxNewTokens: 16, decoding: Decoding.Recompute, keepLogits: true), Tolerance, "rewritten");
        rewritten.Tokens.ShouldNotBe(cached.Tokens, "the rewrite changes the answers");
    }

    [Fact]
    public void the_edited_model_answers_as_a_full_recompute_does_with_experts_firing_and_not()
    {
        var f = CommittedEdits.Instance;
        using var edited = f.Edited();
        using var scope = NewDisposeScope();
        var queries = f.Queries();
        var (cached, routes) = edited.Decode(queries, 8, Decoding.Cached, keepLogits: true);
        var (recomputed, recomputedRoutes) = edited.Decode(queries, 8, Decoding.Recompute, keepLogits: true);
        CommittedEdits.ShouldAgree(cached, recomputed, Tolerance, "edited batch");
        for (var i = 0; i < queries.Count; i++) CommittedEdits.ShouldRouteAlike(routes[i], recomputedRoutes[i], 0, $"query {i}: routing is read from the same prompt positions");

        // The experts matter to the comparison: they fire on each edit question and change its answer.
        var bare = f.Model.GreedyDecode(queries, maxNewTokens: 8);
        for (var c = 0; c < f.Cases.Count; c++)
        {
            routes[4 * c].Fired.Select(x => x.Id).ShouldContain($"e{c}");
            cached.Answers[4 * c].ShouldBe(f.Cases[c].NewTarget, $"case {c}: the edit is learnt");
            bare.Answers[4 * c].ShouldNotBe(f.Cases[c].NewTarget);
        }
        routes.ShouldContain(r => r.HasImage && r.Fired.Count == 0, "some image rows run without experts");
        routes.ShouldContain(r => !r.HasImage);
    }

    [Fact]
    public void the_cache_holds_each_row_at_its_own_position()
    {
        var f = CommittedEdits.Instance;
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var inputs = f.Model.Prepare([new VlmExample(f.Cases[0].Edit.Image!.ToTensor(), "what is this ?"), new VlmExample(null, "what is the capital of this land ?")]);
        var (logits, cache) = f.Model.Prefill(inputs, maxNewTokens: 2);
        using (cache)
        {
            logits.shape.ShouldBe([2L, f.Model.Shape.VocabSize]);
            cache.Positions.ShouldBe(inputs.Length);
            cache.Capacity.ShouldBe((int)inputs.TokenIds.shape[1] + 2);
            f.Model.Step(cache, tensor(new long[] { 5, 6 }));
            cache.Positions.ShouldBe([inputs.Length[0] + 1, inputs.Length[1] + 1]);
            cache.Finish(1);
            f.Model.Step(cache, tensor(new long[] { 5, 6 }));
            cache.Positions.ShouldBe([inputs.Length[0] + 2, inputs.Length[1] + 1], "a finished row does not advance");
            Should.Throw<ArgumentException>(() => f.Model.Step(cache, tensor(new long[] { 5 })));
            if (inputs.Length[0] + 2 == cache.Capacity)
                Should.Throw<InvalidOperationException>(() => f.Model.Step(cache, tensor(new long[] { 5, 6 })), "no slot left");
        }
    }
}
