using LiveEdit.Model.Editor;
using Shouldly;
using Xunit;
using static TorchSharp.torch;

namespace LiveEdit.Model.Tests.Editor;

[Collection(EditorCollection.Name)]
public sealed class removing_an_expert
{
    private static float[] LogitsOf(EditedModel model, IReadOnlyList<LiveEdit.Model.Vlm.VlmExample> queries)
    {
        using var scope = NewDisposeScope();
        var (logits, _) = model.Logits(model.Model.Prepare(queries));
        return logits.data<float>().ToArray();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void equals_never_adding_it_bit_for_bit(bool hardFilter)
    {
        var f = new EditorFixture(seed: 21, edits: 6);
        var options = new RoutingOptions(HardFilter: hardFilter);
        var queries = f.ImageQueries();
        for (var removed = 0; removed < 6; removed++)
        {
            using var all = f.With(Enumerable.Range(0, 6), options);
            all.Remove($"e{removed}").ShouldBeTrue();
            using var never = f.With(Enumerable.Range(0, 6).Where(i => i != removed), options);
            LogitsOf(all, queries).ShouldBe(LogitsOf(never, queries), $"logits, e{removed} removed");
            var a = all.Answer(queries);
            var b = never.Answer(queries);
            a.Select(x => x.Text).ShouldBe(b.Select(x => x.Text));
            a.Select(x => string.Join(",", x.Experts.Select(e => $"{e.Id}:{e.Weight:R}"))).ShouldBe(b.Select(x => string.Join(",", x.Experts.Select(e => $"{e.Id}:{e.Weight:R}"))));
        }
        using var probe = f.With(Enumerable.Range(0, 6), options);
        probe.Answer(queries).Any(x => x.Experts.Count > 0).ShouldBeTrue("the comparison is meaningful only if experts fire");
    }

    [Fact]
    public void leaves_the_result_independent_of_insertion_history()
    {
        var f = new EditorFixture(seed: 22, edits: 5);
        var options = new RoutingOptions(HardFilter: false);
        var queries = f.ImageQueries();
        using var forward = f.With(Enumerable.Range(0, 5), options);
        using var shuffled = f.With([3, 0, 4, 1, 2], options);
        shuffled.Remove("e4");
        shuffled.Add("e4", f.Experts[4], 4);
        LogitsOf(forward, queries).ShouldBe(LogitsOf(shuffled, queries));
        forward.Slots.Select(s => s.Id).ShouldBe(["e0", "e1", "e2", "e3", "e4"]);
    }

    [Fact]
    public void with_every_expert_removed_gives_the_base_model()
    {
        var f = new EditorFixture(seed: 23, edits: 4);
        var queries = f.ImageQueries();
        using var edited = f.With(Enumerable.Range(0, 4), new RoutingOptions(HardFilter: false));
        foreach (var i in Enumerable.Range(0, 4)) edited.Remove($"e{i}");
        using var scope = NewDisposeScope();
        var inputs = f.Model.Prepare(queries);
        LogitsOf(edited, queries).ShouldBe(f.Model.Logits(inputs).data<float>().ToArray());
    }
}
