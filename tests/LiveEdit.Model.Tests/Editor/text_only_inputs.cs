using LiveEdit.Model.Editor;
using LiveEdit.Model.Vlm;
using Shouldly;
using Xunit;
using static TorchSharp.torch;

namespace LiveEdit.Model.Tests.Editor;

[Collection(EditorCollection.Name)]
public sealed class text_only_inputs
{
    [Fact]
    public void are_untouched_by_any_number_of_experts()
    {
        var f = new EditorFixture(seed: 31, edits: 8);
        // Text-only versions of the edit prompts (worst case: the very prompts the experts were made from),
        // batched with image inputs so that a batch with both kinds is covered too.
        var textOnly = f.Edits.Select(e => new VlmExample(null, e.Prompt, e.Answer)).ToList();
        var mixed = textOnly.Concat(f.Edits).ToList();
        using var scope = NewDisposeScope();
        var inputs = f.Model.Prepare(mixed);
        var baseLogits = f.Model.Logits(inputs);
        foreach (var n in new[] { 1, 3, 8 })
        {
            using var edited = f.With(Enumerable.Range(0, n), new RoutingOptions(HardFilter: false));
            var (logits, routes) = edited.Logits(inputs);
            for (var i = 0; i < textOnly.Count; i++)
            {
                logits[i].data<float>().ToArray().ShouldBe(baseLogits[i].data<float>().ToArray(), $"text-only row {i} with {n} experts");
                routes[i].HasImage.ShouldBeFalse();
                routes[i].Fired.ShouldBeEmpty();
            }
            routes.Skip(textOnly.Count).ShouldAllBe(r => r.Fired.Count == n, "without the filter every expert fires on image rows");
            logits[textOnly.Count].data<float>().ToArray().ShouldNotBe(baseLogits[textOnly.Count].data<float>().ToArray(), "image rows do change");
        }
        using var many = f.With(Enumerable.Range(0, 8));
        many.Answer(textOnly).Select(a => a.Text).ShouldBe(f.Model.GreedyAnswers(textOnly));
    }
}
