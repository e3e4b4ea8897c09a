using LiveEdit.Research.World;
using Shouldly;
using Xunit;

namespace LiveEdit.Model.Tests;

public sealed class synth_world
{
    private static readonly SynthWorld World = new(WorldConfig.Default);

    [Fact]
    public void the_same_seed_gives_the_same_world_and_renderings()
    {
        var again = new SynthWorld(WorldConfig.Default);
        again.Vocabulary.ShouldBe(World.Vocabulary);
        again.Entities.Select(e => (e.Look, string.Join("|", e.Facts.Values))).ShouldBe(World.Entities.Select(e => (e.Look, string.Join("|", e.Facts.Values))));
        again.Render(again.Entities[5], RenderSplit.BaseEval, 42).Pixels.ShouldBe(World.Render(World.Entities[5], RenderSplit.BaseEval, 42).Pixels);

        var other = new SynthWorld(WorldConfig.Default with { Seed = 2 });
        other.Entities.Select(e => e.Name).ShouldNotBe(World.Entities.Select(e => e.Name));
    }

    [Fact]
    public void renderings_differ_between_indices_and_splits()
    {
        var entity = World.KnownEntities[0];
        var a = World.Render(entity, RenderSplit.BaseTrain, 0).Pixels;
        World.Render(entity, RenderSplit.BaseTrain, 1).Pixels.ShouldNotBe(a);
        World.Render(entity, RenderSplit.BaseEval, 0).Pixels.ShouldNotBe(a);
    }

    [Fact]
    public void looks_differ_by_what_the_image_shows()
    {
        var look = new VisualIdentity(Shape.Circle, BodyColour: 1, PatternColour: 2, Pattern.Stripes, Eyes: 1);
        look.Differences(look with { Shape = Shape.Square }).ShouldBe([true, false, false, false, false]);
        look.Differences(look with { Eyes = 2, BodyColour = 3 }).ShouldBe([false, true, false, false, true]);
        look.Distance(look with { Eyes = 2, BodyColour = 3 }).ShouldBe(2);
        // A plain body shows no markings colour: two plain looks that differ only there look the same.
        var plain = look with { Pattern = Pattern.Solid };
        plain.Distance(plain with { PatternColour = 5 }).ShouldBe(0);
        plain.Differences(look).ShouldBe([false, false, true, true, false]);
    }

    [Fact]
    public void families_share_shape_and_colours_and_differ_in_pattern()
    {
        var families = World.Entities.GroupBy(e => e.Family).Where(g => g.Count() > 1).ToArray();
        families.Length.ShouldBeGreaterThan(10);
        foreach (var family in families)
        {
            family.Select(e => (e.Look.Shape, e.Look.BodyColour, e.Look.PatternColour, e.Look.Eyes)).Distinct().Count().ShouldBe(1);
            family.Select(e => e.Look.Pattern).Distinct().Count().ShouldBe(family.Count());
        }
        World.Entities.Select(e => e.Look).Distinct().Count().ShouldBe(World.Entities.Count, "every entity looks different");
        World.Entities.Select(e => e.Name).Distinct().Count().ShouldBe(World.Entities.Count, "names are unique");
    }

    [Fact]
    public void every_attribute_has_at_least_four_training_paraphrases_and_one_held_out()
    {
        foreach (var templates in QuestionTemplates.Image.Values.Concat(QuestionTemplates.Text.Values).Concat(QuestionTemplates.Look.Values))
        {
            templates.Length.ShouldBe(QuestionTemplates.Count);
            templates.Distinct().Count().ShouldBe(templates.Length);
            QuestionTemplates.HeldOut.ShouldBeGreaterThanOrEqualTo(4);
        }
    }

    [Fact]
    public void perception_questions_never_use_the_frames_of_the_entity_questions()
    {
        // Shared "tell me …" frames taught a base model to answer "tell me the name of this …" with colours.
        foreach (var template in QuestionTemplates.Look.Values.SelectMany(t => t))
            template.StartsWith("tell me", StringComparison.Ordinal).ShouldBeFalse(template);
    }

    [Fact]
    public void training_questions_never_use_the_held_out_paraphrase_or_novel_entities()
    {
        var rng = new WorldRandom(3);
        for (var i = 0; i < 2000; i++)
        {
            var q = World.SampleTrainingQuestion(rng, perceptionShare: 0.3);
            q.Template.ShouldBeLessThan(QuestionTemplates.HeldOut);
            if (q.EntityId is { } id) World.Entities[id].Role.ShouldBe(EntityRole.Known);
        }
    }

    [Fact]
    public void an_unnamed_sibling_differs_in_exactly_one_visible_attribute_and_is_no_entity()
    {
        var entityLooks = World.Entities.Select(e => e.Look.Visible).ToHashSet();
        static int Differences(VisualIdentity a, VisualIdentity b) =>
            Enum.GetValues<LookAttribute>().Count(x => a.Describe(x) != b.Describe(x));
        var rng = new WorldRandom(8);
        var changed = new HashSet<LookAttribute>();
        for (var i = 0; i < 2000; i++)
        {
            var look = World.RandomUnnamedLook(rng);
            var sibling = World.UnnamedSibling(look, rng);
            entityLooks.ShouldNotContain(sibling.Visible);
            sibling.PatternColour.ShouldNotBe(sibling.BodyColour);
            sibling.Visible.ShouldNotBe(look.Visible);
            // Split and checked bodies name both colours in two attributes; any other change shows in one.
            Differences(look, sibling).ShouldBeInRange(1, 2);
            foreach (var x in Enum.GetValues<LookAttribute>()) if (look.Describe(x) != sibling.Describe(x)) changed.Add(x);
        }
        changed.Count.ShouldBe(Enum.GetValues<LookAttribute>().Length, "every attribute is varied");
        var a = new WorldRandom(3);
        var b = new WorldRandom(3);
        var first = World.RandomUnnamedLook(a);
        World.UnnamedSibling(first, a).ShouldBe(World.UnnamedSibling(World.RandomUnnamedLook(b), b), "seeded");
    }

    [Fact]
    public void perception_questions_show_unnamed_looks_and_answer_what_the_image_shows()
    {
        var entityLooks = World.Entities.Select(e => e.Look.Visible).ToHashSet();
        var rng = new WorldRandom(5);
        var looks = Enumerable.Range(0, 3000).Select(_ => World.RandomUnnamedLook(rng)).ToArray();
        looks.ShouldAllBe(l => !entityLooks.Contains(l.Visible));
        looks.ShouldAllBe(l => l.PatternColour != l.BodyColour && l.BodyColour < SynthWorld.BodyColours);
        // Every value of every look attribute occurs, so perception training covers the whole space.
        foreach (var attribute in Enum.GetValues<LookAttribute>())
            looks.Select(l => l.Describe(attribute)).Distinct().Count().ShouldBe(attribute switch
            {
                LookAttribute.Colour => SynthWorld.BodyColours,
                LookAttribute.Shape => Enum.GetValues<Shape>().Length,
                LookAttribute.Pattern => Enum.GetValues<Pattern>().Length,
                LookAttribute.Markings => SynthWorld.Colours.Count + 1,  // any colour, or none on a plain body
                _ => 3,
            });

        var plain = new VisualIdentity(Shape.Star, 2, 5, Pattern.Solid, 1);
        plain.Describe(LookAttribute.Markings).ShouldBe("none");
        plain.Describe(LookAttribute.Shape).ShouldBe("star");
        plain.Describe(LookAttribute.Colour).ShouldBe("blue");
        plain.Describe(LookAttribute.Eyes).ShouldBe("one");
        (plain with { Pattern = Pattern.Dots }).Describe(LookAttribute.Markings).ShouldBe("orange");
        plain.Visible.ShouldBe((plain with { PatternColour = 7 }).Visible);

        var training = new WorldRandom(9);
        var perception = Enumerable.Range(0, 1000).Select(_ => World.SampleTrainingQuestion(training, imageShare: 1, perceptionShare: 0.5))
            .Where(q => q.EntityId is null).ToArray();
        perception.Length.ShouldBeInRange(400, 600);
        perception.ShouldAllBe(q => q.Image != null && q.Attribute.StartsWith("Look") && q.Template < QuestionTemplates.HeldOut);
        // Every word of a perception question and answer is in the vocabulary.
        var vocabulary = World.Vocabulary.ToHashSet();
        foreach (var q in perception.Concat(World.EvalLookQuestions(50, heldOutParaphrase: true)))
            (q.Prompt + " " + q.Answer).Split(' ').ShouldAllBe(w => vocabulary.Contains(w));

        // Deterministic, held-out renderings differ from training ones, and 0 keeps the earlier stream.
        World.EvalLookQuestions(20, false).Select(q => q.Image!.Pixels).ShouldBe(World.EvalLookQuestions(20, false).Select(q => q.Image!.Pixels));
        var a = new WorldRandom(4);
        var b = new WorldRandom(4);
        for (var i = 0; i < 200; i++) World.SampleTrainingQuestion(a).Prompt.ShouldBe(World.SampleTrainingQuestion(b, perceptionShare: 0).Prompt);
    }

    [Fact]
    public void edit_cases_follow_the_benchmark_fields_and_keep_splits_disjoint()
    {
        var train = World.EditCases(EditSplit.EditorTrain, 300, seed: 1);
        var eval = World.EditCases(EditSplit.EditorEval, 300, seed: 1);
        train.Select(c => c.Entity.Id).Intersect(eval.Select(c => c.Entity.Id)).ShouldBeEmpty();
        train.Select(c => (c.Entity.Id, c.Attribute)).Distinct().Count().ShouldBe(300, "pairs do not repeat while the pool lasts");
        foreach (var c in train.Concat(eval))
        {
            c.NewTarget.ShouldNotBe(c.OldTarget);
            World.TrainedValues(c.Attribute).ShouldContain(c.NewTarget);
            c.Edit.Answer.ShouldBe(c.NewTarget);
            c.TextGenerality.Answer.ShouldBe(c.NewTarget);
            c.TextGenerality.Prompt.ShouldNotBe(c.Edit.Prompt);
            c.TextGenerality.Image.ShouldBeSameAs(c.Edit.Image);
            c.ImageGenerality.EntityId.ShouldBe(c.Entity.Id);
            c.ImageGenerality.Image!.Pixels.ShouldNotBe(c.Edit.Image!.Pixels);
            c.ImageLocality.EntityId.ShouldNotBe(c.Entity.Id);
            c.ImageLocality.Image.ShouldNotBeNull();
            if (c.LocalityIsSibling) World.Entities[c.ImageLocality.EntityId!.Value].Family.ShouldBe(c.Entity.Family);
            c.TextLocality.Image.ShouldBeNull();
        }
        train.Count(c => c.LocalityIsSibling).ShouldBeGreaterThan(30, "visually similar locality images are part of the benchmark");
        World.EditCases(EditSplit.EditorEval, 20, seed: 1).Select(c => c.NewTarget).ShouldBe(eval.Take(20).Select(c => c.NewTarget));
    }

    [Fact]
    public void evaluation_questions_cover_every_known_entity_and_every_text_fact()
    {
        var questions = World.EvalImageQuestions(240, heldOutParaphrase: true);
        questions.Select(q => q.EntityId).Distinct().Count().ShouldBe(World.KnownEntities.Count);
        questions.ShouldAllBe(q => q.Template == QuestionTemplates.HeldOut);
        World.EvalTextQuestions(false).Count.ShouldBe(World.Lands.Count * 3);
    }
}
