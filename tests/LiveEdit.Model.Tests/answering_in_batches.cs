using LiveEdit.Model.Tests.Editor;
using LiveEdit.Model.Vlm;
using Shouldly;
using Xunit;
using static TorchSharp.torch;

namespace LiveEdit.Model.Tests;

/// <summary>
/// <see cref="Editor.EditedModel.Answer"/> over several queries at once: each is routed on its own and gets its own fused
/// residual, so its answer, the experts that fired and their weights never depend on what it was batched with (same
/// tokens, logits within 1e-5).
/// </summary>
[Collection(EditorCollection.Name)]
public sealed class answering_in_batches
{
    private const double Tolerance = 1e-5;

    [Fact]
    public void each_answer_is_the_same_alone_and_in_any_batch()
    {
        var f = CommittedEdits.Instance;
        using var edited = f.Edited();
        using var scope = NewDisposeScope();
        var queries = f.Queries();
        var alone = queries.Select(q => edited.Decode([q], 8, Decoding.Cached, keepLogits: true)).ToList();
        alone.ShouldContain(a => a.Routes[0].Fired.Count > 0);
        alone.ShouldContain(a => a.Routes[0].HasImage && a.Routes[0].Fired.Count == 0);
        alone.ShouldContain(a => !a.Routes[0].HasImage);

        // All together; then reversed, so every query sits at another row beside other companions and other padding.
        var orders = new[] { Enumerable.Range(0, queries.Count).ToArray(), Enumerable.Range(0, queries.Count).Reverse().ToArray(), [3, 0, 7, 4] };
        foreach (var order in orders)
        {
            var (batch, routes) = edited.Decode(order.Select(i => queries[i]).ToList(), 8, Decoding.Cached, keepLogits: true);
            for (var row = 0; row < order.Length; row++)
            {
                var i = order[row];
                var what = $"query {i} at row {row} of [{string.Join(", ", order)}]";
                CommittedEdits.ShouldAgree(Row(batch, row), alone[i].Decoded, Tolerance, what);
                CommittedEdits.ShouldRouteAlike(routes[row], alone[i].Routes[0], Tolerance, what);
            }
        }
    }

    [Fact]
    public void answers_carry_each_querys_own_experts()
    {
        var f = CommittedEdits.Instance;
        using var edited = f.Edited();
        using var scope = NewDisposeScope();
        var queries = f.Queries();
        var answers = edited.Answer(queries);
        for (var i = 0; i < queries.Count; i++)
        {
            var single = edited.Answer([queries[i]])[0];
            answers[i].Text.ShouldBe(single.Text, $"query {i}");
            answers[i].Experts.Select(e => e.Id).ShouldBe(single.Experts.Select(e => e.Id), $"query {i}");
        }
        for (var c = 0; c < f.Cases.Count; c++) answers[4 * c].Text.ShouldBe(f.Cases[c].NewTarget, $"case {c}");
    }

    private static GreedyDecoding Row(GreedyDecoding d, int row) =>
        new([d.Answers[row]], [d.Tokens[row]], d.StepLogits is null ? null : [d.StepLogits[row]]);
}
