using LiveEdit.Model.Editor;
using LiveEdit.Model.Vlm;
using Shouldly;
using Xunit;
using static TorchSharp.torch;

namespace LiveEdit.Model.Tests.Editor;

/// <summary>
/// An edited model that experts keep entering and leaving (a host's head model under a stream of activations and
/// retractions) holds nothing of an expert once it has left: what it keeps per expert is kept for the active ones only.
/// </summary>
[Collection(EditorCollection.Name)]
public sealed class forgetting_removed_experts
{
    [Fact]
    public void a_removed_expert_leaves_no_hubness_offset_behind()
    {
        var f = new EditorFixture(seed: 31, edits: 8);
        var generator = new Generator(32UL);
        var bankQueries = Enumerable.Range(0, 10).Select(i => new VlmExample(rand([3, 8, 8], generator: generator).DetachFromDisposeScope(), $"what is w{i % 4} x{i % 3} ?")).ToList();
        f.Editor.WithHubness(FilterBank.Build(f.Model, f.Editor, bankQueries), 1.0, 3);
        using var edited = new EditedModel(f.Model, f.Editor);
        var queries = f.ImageQueries();

        for (var round = 0; round < 3 * f.Experts.Count; round++)
        {
            edited.Add($"e{round}", f.Experts[round % f.Experts.Count], round);
            if (edited.Count > 3) edited.Remove($"e{round - 3}");
            using var scope = NewDisposeScope();
            edited.Logits(f.Model.Prepare(queries));
            edited.HubnessKept.ShouldBe(edited.Count, $"round {round}");
        }
    }
}
