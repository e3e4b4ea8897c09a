using LiveEdit.Model.Editor;
using LiveEdit.Research.Editing;
using Shouldly;
using Xunit;
using static TorchSharp.torch;

namespace LiveEdit.Model.Tests.Editor;

/// <summary>
/// M-Loc measures inputs the edits should not change. A locality question about a fact that an active edit changes
/// is not such an input (its right answer is now the edit's): the evaluation leaves it out and counts it.
/// </summary>
[Collection(EditorCollection.Name)]
public sealed class locality_of_edited_facts
{
    [Fact]
    public void a_locality_question_whose_fact_is_edited_is_left_out_of_m_loc_only_while_that_edit_is_active()
    {
        var fixture = new EditorFixture(seed: 11, edits: 3);
        var images = fixture.Edits.Select(e => e.Image!).ToArray();
        EditQuery Query(int image, string prompt, string answer, int entity, string fact) => new(() => images[image].clone(), prompt, answer, entity, fact);
        // Case 0 edits entity 100's "owner"; case 1's locality question asks exactly that fact; case 2's asks another.
        var cases = new[]
        {
            new EditSample(0, "owner", Query(0, "what is w0 x0 ?", "t10", 100, "owner"), Query(0, "what is w0 x1 ?", "t10", 100, "owner"),
                Query(0, "what is w0 x0 ?", "t10", 100, "owner"), Query(1, "what is w1 x1 ?", "t11", 101, "name"), new EditQuery(null, "what is w5 ?", "t12", null)),
            new EditSample(1, "home", Query(1, "what is w1 x1 ?", "t13", 101, "home"), Query(1, "what is w1 x2 ?", "t13", 101, "home"),
                Query(1, "what is w1 x1 ?", "t13", 101, "home"), Query(0, "what is w0 x0 ?", "t14", 100, "owner"), new EditQuery(null, "what is w6 ?", "t12", null)),
            new EditSample(2, "name", Query(2, "what is w2 x2 ?", "t15", 102, "name"), Query(2, "what is w2 x0 ?", "t15", 102, "name"),
                Query(2, "what is w2 x2 ?", "t15", 102, "name"), Query(0, "what is w0 x2 ?", "t16", 100, "name"), new EditQuery(null, "what is w7 ?", "t12", null)),
        };
        var evaluation = new EditorEvaluation(fixture.Model, fixture.Editor, cases) { ExactMatch = false };

        using var onlyOthers = new EditedModel(fixture.Model, fixture.Editor);
        onlyOthers.Add("edit-2", evaluation.ExpertOf(2), 2);
        var without = evaluation.Measure(onlyOthers, [1, 2], "case 0 not active");
        without.MLocExcluded.ShouldBe(0);

        using var all = new EditedModel(fixture.Model, fixture.Editor);
        for (var i = 0; i < cases.Length; i++) all.Add($"edit-{i}", evaluation.ExpertOf(i), i);
        var with = evaluation.Measure(all, [0, 1, 2], "all active");
        with.MLocExcluded.ShouldBe(1, "case 1 asks entity 100's owner, which case 0 changed (case 0's own locality asks an unedited fact)");
        double.IsNaN(with.MLoc).ShouldBeFalse();

        var onlyEdited = evaluation.Measure(all, [1], "only the edited-fact question");
        onlyEdited.MLocExcluded.ShouldBe(1);
        double.IsNaN(onlyEdited.MLoc).ShouldBeTrue("no locality question is left to measure");
    }
}
