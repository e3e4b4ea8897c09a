using LiveEdit.Research.World;
using Shouldly;
using Xunit;

namespace LiveEdit.Model.Tests;

/// <summary>
/// The evaluation entities split into a calibration half (routing settings are chosen on it) and a test half (reported
/// on), by whole families, without changing the streams of the whole split.
/// </summary>
public sealed class splitting_evaluation_entities
{
    private static readonly SynthWorld World = new(WorldConfig.Default);

    private static List<Entity> Of(EntitySubset subset) =>
        World.Entities.Where(e => e.EditSplit == EditSplit.EditorEval && subset.Contains(e)).ToList();

    [Fact]
    public void the_halves_share_no_entity_and_no_family_and_together_are_the_evaluation_split()
    {
        var calibration = Of(EntitySubset.Calibration);
        var test = Of(EntitySubset.Test);
        var all = Of(EntitySubset.All);

        all.Count.ShouldBe(160);
        calibration.Select(e => e.Id).Intersect(test.Select(e => e.Id)).ShouldBeEmpty();
        calibration.Select(e => e.Family).Intersect(test.Select(e => e.Family)).ShouldBeEmpty("siblings stay on one side");
        calibration.Concat(test).Select(e => e.Id).Order().ShouldBe(all.Select(e => e.Id));
        calibration.Count.ShouldBeInRange(64, 96, "about half each");
        calibration.Count(e => e.Role == EntityRole.Known).ShouldBeGreaterThan(0);
        test.Count(e => e.Role == EntityRole.Known).ShouldBeGreaterThan(0);
    }

    [Fact]
    public void a_half_stream_edits_only_its_half()
    {
        foreach (var subset in new[] { EntitySubset.Calibration, EntitySubset.Test })
        {
            var cases = World.EditCases(EditSplit.EditorEval, 400, seed: 7, subset);
            cases.ShouldAllBe(c => subset.Contains(c.Entity) && c.Entity.EditSplit == EditSplit.EditorEval);
            cases.Select(c => c.Entity.Id).Distinct().Count().ShouldBe(Of(subset).Count, "400 cases cover every entity of a half");
            foreach (var c in cases.Where(c => c.LocalityIsSibling))
                subset.Contains(World.Entities[c.ImageLocality.EntityId!.Value]).ShouldBeTrue("a sibling locality input is of the same half");
        }
    }

    [Fact]
    public void the_whole_split_stream_is_the_one_drawn_without_naming_a_subset()
    {
        var named = World.EditCases(EditSplit.EditorEval, 200, seed: 3, EntitySubset.All);
        var unnamed = World.EditCases(EditSplit.EditorEval, 200, seed: 3);
        named.Select(c => (c.Entity.Id, c.Attribute, c.NewTarget, c.Edit.Prompt)).ShouldBe(unnamed.Select(c => (c.Entity.Id, c.Attribute, c.NewTarget, c.Edit.Prompt)));
        named.Select(c => c.Entity.Id).Distinct().Count().ShouldBeGreaterThan(Of(EntitySubset.Calibration).Count, "the whole split draws from both halves");
        var calibration = World.EditCases(EditSplit.EditorEval, 200, seed: 3, EntitySubset.Calibration);
        calibration.Select(c => c.Entity.Id).ShouldNotBe(named.Select(c => c.Entity.Id));
    }
}
