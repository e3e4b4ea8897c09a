using LiveEdit.Model.Editor;
using LiveEdit.Model.Runtime;
using LiveEdit.Research.Editing;
using LiveEdit.Research.World;
using Shouldly;
using Xunit;
using static TorchSharp.torch;

namespace LiveEdit.Model.Tests.Editor;

/// <summary>The cases of a training step: seeded, and with look-alike pairing, half of them look-alikes of the other half.</summary>
[Collection(EditorCollection.Name)]
public sealed class editor_training_batches
{
    private static IReadOnlyList<EditSample> Samples()
    {
        // 24 cases about 12 entities in 4 look-alike groups of 3 entities.
        EditQuery Query(int entity) => new(() => zeros(3, 8, 8), "what is w1 ?", "t10", entity, "owner");
        return Enumerable.Range(0, 24).Select(i => new EditSample(i, "owner", Query(i % 12), Query(i % 12), Query(i % 12), Query((i + 1) % 12),
            new EditQuery(null, "what is w2 ?", "t11", null), LookAlikes: i % 12 / 3)).ToList();
    }

    private static EditorTrainer Trainer(bool pairs)
    {
        TorchRuntime.Configure(threads: 1, seed: 2);
        var model = new RandomTinyVlm(seed: 2);
        var editor = new EditorModules(EditorConfig.For(model.Shape, heads: 2));
        return new EditorTrainer(model, editor, Samples(), new EditorTrainingOptions(Steps: 10, BatchSize: 8, Seed: 3, CheckpointEvery: 0, PairLookAlikes: pairs));
    }

    [Fact]
    public void with_look_alike_pairs_each_anchor_is_followed_by_another_entity_of_its_group()
    {
        var samples = Samples();
        var trainer = Trainer(pairs: true);
        var paired = 0;
        for (var step = 0; step < 6; step++)
        {
            var batch = trainer.BatchIndices(step);
            batch.Count.ShouldBe(8);
            batch.Distinct().Count().ShouldBe(8, "no case twice in a batch");
            for (var j = 0; j < 4; j++)
            {
                var (anchor, partner) = (samples[batch[j]], samples[batch[4 + j]]);
                var free = Enumerable.Range(0, samples.Count).Where(c => !batch.Take(4 + j).Contains(c))
                    .Any(c => samples[c].LookAlikes == anchor.LookAlikes && samples[c].Edit.EntityId != anchor.Edit.EntityId);
                if (!free) continue;   // every look-alike already in the batch: any other case will do
                paired++;
                partner.LookAlikes.ShouldBe(anchor.LookAlikes);
                partner.Edit.EntityId.ShouldNotBe(anchor.Edit.EntityId);
            }
            trainer.BatchIndices(step).ShouldBe(batch, "the same step gives the same cases");
        }
        paired.ShouldBeGreaterThan(12);
    }

    [Fact]
    public void the_cases_of_a_step_do_not_depend_on_the_process()
    {
        // Fixed by (seed, step) alone: these are the values every run on every machine draws (a hash randomised per
        // process once made them differ between runs).
        Trainer(pairs: false).BatchIndices(0).ShouldBe(ExpectedFirstBatch);
    }

    private static readonly int[] ExpectedFirstBatch = [23, 22, 10, 7, 13, 18, 9, 0];

    private static readonly EditorTrainingOptions OneStep = new(Steps: 1, BatchSize: 8, Seed: 3, CheckpointEvery: 0);

    /// <summary>A new editor and its trainer on the random model, seeded alike every time (as a new process would be).</summary>
    private static (EditorModules Editor, EditorTrainer Trainer) FreshTrainer(EditorTrainingOptions options)
    {
        TorchRuntime.Configure(threads: 1, seed: 2);
        var model = new RandomTinyVlm(seed: 2);
        manual_seed(5);
        var editor = new EditorModules(EditorConfig.For(model.Shape, heads: 2));
        return (editor, new EditorTrainer(model, editor, Samples(), options));
    }

    /// <summary>The losses of the first step of a fresh trainer.</summary>
    private static EditorLosses FirstStep(EditorTrainingOptions options) => FreshTrainer(options).Trainer.TrainStep(0, 1e-3);

    [Fact]
    public void extra_negatives_add_a_finite_hard_routing_term()
    {
        var without = FirstStep(OneStep);
        var with = FirstStep(OneStep with { ExtraNegatives = 6 });
        double.IsFinite(with.HardRouting).ShouldBeTrue();
        with.HardRouting.ShouldBeGreaterThan(without.HardRouting, "the extra term is a positive cross-entropy added to the same batch's terms");
        with.Reliability.ShouldBe(without.Reliability, "the extra negatives touch only the hard-routing loss");
    }

    [Fact]
    public void the_recall_loss_adds_a_positive_term_on_the_filter_decisions_only()
    {
        var without = FirstStep(OneStep);
        var with = FirstStep(OneStep with { RecallLoss = true });
        double.IsFinite(with.HardRouting).ShouldBeTrue();
        // softplus > 0 everywhere; untrained keys sit near the sentinel, so the term is about log 2 per decision.
        (with.HardRouting - without.HardRouting).ShouldBeInRange(0.3, 1.2, "−log σ(sim_own − sim_Ξ) averaged over the edit and generality rows");
        with.Reliability.ShouldBe(without.Reliability, "the recall term touches only the hard-routing loss");
        with.Generality.ShouldBe(without.Generality);
    }

    [Fact]
    public void a_resumed_run_ends_with_the_same_editor_as_an_uninterrupted_one()
    {
        // The committed editor's switches (extra negatives, recall loss) and the lr decay inside the run.
        var options = new EditorTrainingOptions(Steps: 6, BatchSize: 8, LearningRate: 1e-2, Seed: 3, CheckpointEvery: 3, ExtraNegatives: 4, RecallLoss: true);
        (EditorModules Editor, EditorTrainer Trainer) Fresh() => FreshTrainer(options);
        var folder = Path.Combine(Path.GetTempPath(), $"editor-resume-{Guid.NewGuid():N}");
        try
        {
            var (whole, wholeTrainer) = Fresh();
            wholeTrainer.Train();

            var (first, firstTrainer) = Fresh();
            using var stop = new CancellationTokenSource();
            Should.Throw<OperationCanceledException>(() => firstTrainer.Train(p => { if (p.Step == 3) stop.Cancel(); }, folder, stop.Token));
            firstTrainer.Step.ShouldBe(3);
            File.ReadAllText(Path.Combine(folder, "step.txt")).ShouldBe("3");

            var (resumed, resumedTrainer) = Fresh();     // a new process: fresh initialisation, state read from the folder
            resumedTrainer.Train(checkpointFolder: folder);
            resumedTrainer.Step.ShouldBe(6);
            resumed.GeneratorSha256.ShouldBe(whole.GeneratorSha256, "a crash and a resume leave no trace in the weights");
            first.InvalidateHash();
            first.GeneratorSha256.ShouldNotBe(whole.GeneratorSha256, "three steps are not six");
        }
        finally
        {
            if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
        }
    }

    [Fact]
    public void without_pairs_an_epoch_visits_every_case_once()
    {
        var trainer = Trainer(pairs: false);
        Enumerable.Range(0, 3).SelectMany(trainer.BatchIndices).Order().ShouldBe(Enumerable.Range(0, 24));
    }
}
