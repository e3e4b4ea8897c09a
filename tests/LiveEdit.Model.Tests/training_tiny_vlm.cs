using System.Diagnostics;
using LiveEdit.Model.Tests.Editor;
using LiveEdit.Model.Vlm;
using LiveEdit.Research.Training;
using LiveEdit.Research.World;
using Shouldly;
using Xunit;
using Xunit.Abstractions;

namespace LiveEdit.Model.Tests;

[Collection(EditorCollection.Name)]
public sealed class training_tiny_vlm(ITestOutputHelper output)
{
    // A small world (6 known entities, 5 lands) so the micro model learns it inside a test. Stated accuracy after
    // 300 steps: ≥ 50 % exact match on held-out renderings (a model that ignores the image gets about 25 %) and
    // ≥ 80 % on text-only facts; broken training (no gradient, wrong targets, misplaced vision tokens) fails it.
    private static readonly WorldConfig SmallWorld = new(Seed: 3, EntityCount: 24, KnownEntities: 6, Lands: 5);

    private static TinyVlmTrainer Micro(int seed, int steps) =>
        new(new SynthWorld(SmallWorld), TinyVlmConfig.Micro, new TrainingOptions(seed, steps, BatchSize: 32, LearningRate: 3e-3, WarmupSteps: 30, Threads: 1));

    [Fact]
    public void perception_pretraining_teaches_the_encoder_alone_to_see_unnamed_looks()
    {
        TinyVlmTrainer Pretraining(int visionSteps) => new(new SynthWorld(SmallWorld), TinyVlmConfig.Micro,
            new TrainingOptions(1, 10, BatchSize: 32, LearningRate: 3e-3, WarmupSteps: 30, Threads: 1, VisionSteps: visionSteps));
        using var trainer = Pretraining(200);
        var before = trainer.Model.named_parameters().ToDictionary(p => p.name, p => p.parameter.data<float>().ToArray());
        var accuracy = trainer.PretrainVision()!;
        output.WriteLine(string.Join(", ", accuracy.Select(a => $"{a.Key} {a.Value:F1} %")));
        // Chance: colour 12.5 %, markings about 15 %, eyes 33 %. An encoder that learns nothing stays there.
        accuracy[LookAttribute.Colour].ShouldBeGreaterThan(45);
        accuracy[LookAttribute.Markings].ShouldBeGreaterThan(20);

        // Only the vision encoder changed; the heads are not part of the model.
        foreach (var (name, parameter) in trainer.Model.named_parameters())
        {
            var same = parameter.data<float>().ToArray().SequenceEqual(before[name]);
            if (name.StartsWith("vision.", StringComparison.Ordinal)) same.ShouldBeFalse(name);
            else same.ShouldBeTrue(name);
        }
        trainer.Model.named_parameters().Select(p => p.name).ShouldBe(before.Keys);

        // Seeded: a second run gives the same bytes. Stage 1 runs once, before the first VLM step, and not at all with 0 steps.
        using var again = Pretraining(200);
        again.PretrainVision();
        again.Model.WeightBytes().ShouldBe(trainer.Model.WeightBytes());
        again.PretrainVision().ShouldBeNull();
        again.TrainStep();
        again.PretrainVision().ShouldBeNull();
        using var none = Pretraining(0);
        none.PretrainVision().ShouldBeNull();
    }

    [Fact]
    public void a_micro_model_learns_the_small_world_in_300_steps()
    {
        var watch = Stopwatch.StartNew();
        using var trainer = Micro(seed: 1, steps: MicroSteps);
        TrainingStepResult last = null!;
        while (trainer.Step < MicroSteps) last = trainer.TrainStep();
        var seconds = watch.Elapsed.TotalSeconds;

        var scores = TinyVlmEvaluation.Evaluate(trainer.Model, trainer.World, imageQuestions: 160);
        output.WriteLine($"{MicroSteps} steps in {seconds:F1} s, last loss {last.Loss:F3}; {scores}");
        // Sized to train in under a minute on a 2-core machine; the time is reported, not asserted (no test asserts a time).
        last.Loss.ShouldBeLessThan(0.5);
        scores.ImageExactMatch.ShouldBeGreaterThanOrEqualTo(MicroImageTarget, "held-out renderings of known entities");
        scores.TextExactMatch.ShouldBeGreaterThanOrEqualTo(MicroTextTarget, "text-only facts");
    }

    private const int MicroSteps = 300;
    private const double MicroImageTarget = 0.50;
    private const double MicroTextTarget = 0.80;

    [Fact]
    public void the_same_seed_gives_the_same_weight_bytes_and_answers()
    {
        byte[] weights1, weights2, weights3;
        IReadOnlyList<string> answers1, answers2;
        var questions = new SynthWorld(SmallWorld).EvalImageQuestions(16, heldOutParaphrase: false);
        using (var a = Micro(seed: 4, steps: 40)) { for (var i = 0; i < 4; i++) a.TrainStep(); weights1 = a.Model.WeightBytes(); answers1 = Answers(a.Model, questions); }
        using (var b = Micro(seed: 4, steps: 40)) { for (var i = 0; i < 4; i++) b.TrainStep(); weights2 = b.Model.WeightBytes(); answers2 = Answers(b.Model, questions); }
        using (var c = Micro(seed: 5, steps: 40)) { for (var i = 0; i < 4; i++) c.TrainStep(); weights3 = c.Model.WeightBytes(); }
        weights2.ShouldBe(weights1);
        answers2.ShouldBe(answers1);
        weights3.ShouldNotBe(weights1);
    }

    [Fact]
    public void a_resumed_run_gives_the_same_bytes_as_an_uninterrupted_one()
    {
        var folder = Path.Combine(Path.GetTempPath(), $"liveedit-resume-{Guid.NewGuid():N}");
        try
        {
            byte[] straight;
            using (var a = Micro(seed: 6, steps: 6)) { while (a.Step < 6) a.TrainStep(); straight = a.Model.WeightBytes(); }
            using (var b = Micro(seed: 6, steps: 6)) { while (b.Step < 3) b.TrainStep(); b.SaveState(folder); }
            using var resumed = TinyVlmTrainer.Resume(folder);
            resumed.Step.ShouldBe(3);
            while (resumed.Step < 6) resumed.TrainStep();
            resumed.Model.WeightBytes().ShouldBe(straight);
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, true);
        }
    }

    private static IReadOnlyList<string> Answers(TinyVlm model, IReadOnlyList<WorldQuestion> questions)
    {
        using var scope = TorchSharp.torch.NewDisposeScope();
        return model.GreedyAnswers(questions.Select(q => q.ToExample(false)).ToArray());
    }
}
