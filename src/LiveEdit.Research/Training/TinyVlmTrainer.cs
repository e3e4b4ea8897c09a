using System.Text.Json;
using LiveEdit.Model.Runtime;
using LiveEdit.Model.Vlm;
using LiveEdit.Research.World;
using static TorchSharp.torch;

namespace LiveEdit.Research.Training;

/// <summary>Base-training settings; with the world and model configs they fix every weight byte (at a given thread count).</summary>
/// <param name="Seed">Initialisation and data-order seed.</param>
/// <param name="Steps">Total optimizer steps.</param>
/// <param name="ImageShare">Fraction of a batch that are image questions (the rest are text-only).</param>
/// <param name="PerceptionShare">Fraction of the image questions that ask what a random unnamed look shows (shape,
/// colours, pattern, eyes) instead of asking about a known entity.</param>
/// <param name="VisionSteps">Perception pretraining steps of the vision encoder before the VLM steps
/// (<see cref="VisionPretrainer"/>, same batch size and peak learning rate); 0: none.</param>
public sealed record TrainingOptions(
    int Seed,
    int Steps,
    int BatchSize = 64,
    double LearningRate = 1.5e-3,
    int WarmupSteps = 200,
    double WeightDecay = 0.01,
    double ClipNorm = 1.0,
    double ImageShare = 0.85,
    int Threads = 2,
    double PerceptionShare = 0,
    int VisionSteps = 0);

/// <summary>What one step reports.</summary>
/// <param name="ExactMatch">Fraction of the batch whose teacher-forced argmax got every answer token right.</param>
public sealed record TrainingStepResult(int Step, double Loss, double ExactMatch, double LearningRate);

/// <summary>Everything a resumed run needs besides the weights and optimizer moments.</summary>
public sealed record TrainingState(int Step, TrainingOptions Options, TinyVlmConfig Model, WorldConfig World);

/// <summary>
/// Trains TinyVLM on SynthWorld. Batch t is a pure function of (seed, t) — no generator state carries over from step
/// to step — so a run resumed from <see cref="SaveState"/> gives the same bytes as an uninterrupted one.
/// </summary>
public sealed class TinyVlmTrainer : IDisposable
{
    private const string StateFile = "state.json", StateWeights = "weights.bin", StateOptimizer = "optimizer.bin";
    private readonly AdamW _optimizer;
    private (int Step, Task<IReadOnlyList<WorldQuestion>> Batch)? _prefetch;
    private bool _visionPretrained;

    /// <summary>Starts a run: pins threads, seeds torch, initialises the model.</summary>
    public TinyVlmTrainer(SynthWorld world, TinyVlmConfig config, TrainingOptions options)
    {
        TorchRuntime.Configure(options.Threads, options.Seed);
        World = world;
        Options = options;
        Model = new TinyVlm(config with { ImageSize = world.ImageSize }, new WordTokenizer(world.Vocabulary), initSeed: options.Seed);
        Model.train();
        _optimizer = new AdamW(Model.named_parameters().Select(p => (p.name, p.parameter)), weightDecay: options.WeightDecay);
    }

    public SynthWorld World { get; }
    public TrainingOptions Options { get; }
    public TinyVlm Model { get; }

    /// <summary>Steps done.</summary>
    public int Step { get; private set; }

    /// <summary>Warm-up then cosine decay to 5 % of the peak.</summary>
    public double LearningRateAt(int step)
    {
        if (step < Options.WarmupSteps) return Options.LearningRate * (step + 1) / Options.WarmupSteps;
        var progress = (step - Options.WarmupSteps) / (double)Math.Max(1, Options.Steps - Options.WarmupSteps);
        return Options.LearningRate * (0.05 + 0.95 * 0.5 * (1 + Math.Cos(Math.PI * Math.Min(1, progress))));
    }

    /// <summary>The questions of batch <paramref name="step"/> (a pure function of seed and step).</summary>
    public IReadOnlyList<WorldQuestion> BatchAt(int step)
    {
        var rng = new WorldRandom(WorldRandom.Mix(Options.Seed, 0xBA7C4, step));
        return Enumerable.Range(0, Options.BatchSize).Select(_ => World.SampleTrainingQuestion(rng, Options.ImageShare, Options.PerceptionShare)).ToArray();
    }

    /// <summary>
    /// Stage 1: <see cref="TrainingOptions.VisionSteps"/> steps of perception pretraining of the model's vision encoder
    /// (once, before the first VLM step only; a resumed run is past it). Returns the held-out accuracy (%) per look attribute,
    /// or null when there is nothing to do. <paramref name="progress"/> gets (step, mean loss of the last 100 steps).
    /// </summary>
    public IReadOnlyDictionary<LookAttribute, double>? PretrainVision(Action<int, double>? progress = null)
    {
        if (Options.VisionSteps <= 0 || Step > 0 || _visionPretrained) return null;
        _visionPretrained = true;
        using var pretrainer = new VisionPretrainer(World, Model.Vision, Model.Config.VisionWidth, Options.Seed, Options.WeightDecay);
        pretrainer.Train(Options.VisionSteps, Options.BatchSize, Options.LearningRate, progress);
        var accuracy = pretrainer.Evaluate(8, 128);
        Model.train();
        Model.WeightsChanged();
        return accuracy;
    }

    /// <summary>One optimizer step on batch <see cref="Step"/>.</summary>
    public TrainingStepResult TrainStep()
    {
        // The next batch is rendered on a worker thread while this step runs (rendering is plain C#).
        var questions = _prefetch is { } p && p.Step == Step ? p.Batch.Result : BatchAt(Step);
        var nextStep = Step + 1;
        _prefetch = nextStep < Options.Steps ? (nextStep, Task.Run(() => BatchAt(nextStep))) : null;
        var lr = LearningRateAt(Step);
        using var scope = NewDisposeScope();
        var inputs = Model.Prepare(questions.Select(q => q.ToExample()).ToArray());
        var (targets, answerRows) = Targets(inputs);
        var logits = Model.Logits(inputs);                                                   // [B, L, V]
        var loss = nn.functional.cross_entropy(logits.view(-1, logits.shape[2]), targets.view(-1));
        _optimizer.ZeroGrad();
        loss.backward();
        nn.utils.clip_grad_norm_(Model.parameters(), Options.ClipNorm);
        _optimizer.Step(lr);
        Model.WeightsChanged();

        // Exact match: every answer position's argmax equals its target.
        var predicted = logits.argmax(-1).data<long>().ToArray();                           // [B·L]
        var target = targets.data<long>().ToArray();
        var correct = 0;
        foreach (var row in answerRows)
            if (row.All(p => predicted[p] == target[p])) correct++;
        Step++;
        return new TrainingStepResult(Step, loss.item<float>(), correct / (double)answerRows.Count, lr);
    }

    /// <summary>Next-token targets at answer positions (−100 elsewhere), and each row's flat target positions.</summary>
    internal static (Tensor Targets, List<int[]> Rows) Targets(VlmInputs inputs)
    {
        var (b, l) = ((int)inputs.TokenIds.shape[0], (int)inputs.TokenIds.shape[1]);
        var ids = inputs.TokenIds.data<long>().ToArray();
        var targets = Enumerable.Repeat(-100L, b * l).ToArray();
        var rows = new List<int[]>(b);
        for (var i = 0; i < b; i++)
        {
            var positions = new int[inputs.AnswerLength[i]];
            for (var j = 0; j < inputs.AnswerLength[i]; j++)
            {
                var p = i * l + inputs.AnswerStart[i] + j - 1;                  // logits at t predict token t+1
                targets[p] = ids[i * l + inputs.AnswerStart[i] + j];
                positions[j] = p;
            }
            rows.Add(positions);
        }
        return (tensor(targets, [b, l]), rows);
    }

    /// <summary>Writes weights, optimizer moments and the step to <paramref name="folder"/> (atomic rename).</summary>
    public void SaveState(string folder)
    {
        var temp = folder.TrimEnd('/') + ".tmp";
        if (Directory.Exists(temp)) Directory.Delete(temp, true);
        Directory.CreateDirectory(temp);
        File.WriteAllBytes(Path.Combine(temp, StateWeights), Model.WeightBytes());
        _optimizer.Save(Path.Combine(temp, StateOptimizer));
        File.WriteAllText(Path.Combine(temp, StateFile), JsonSerializer.Serialize(new TrainingState(Step, Options, Model.Config, World.Config), TinyVlm.JsonOptions));
        if (Directory.Exists(folder)) Directory.Delete(folder, true);
        Directory.Move(temp, folder);
    }

    /// <summary>True when <paramref name="folder"/> holds a saved training state.</summary>
    public static bool HasState(string folder) => File.Exists(Path.Combine(folder, StateFile));

    /// <summary>The saved state's metadata.</summary>
    public static TrainingState ReadState(string folder) =>
        JsonSerializer.Deserialize<TrainingState>(File.ReadAllText(Path.Combine(folder, StateFile)), TinyVlm.JsonOptions)
        ?? throw new InvalidDataException($"{StateFile} in '{folder}' is empty");

    /// <summary>Continues a run saved by <see cref="SaveState"/> (its options may extend <see cref="TrainingOptions.Steps"/> only if the caller passes them).</summary>
    public static TinyVlmTrainer Resume(string folder, TrainingOptions? options = null)
    {
        var state = ReadState(folder);
        var trainer = new TinyVlmTrainer(new SynthWorld(state.World), state.Model, options ?? state.Options);
        trainer.Model.load(Path.Combine(folder, StateWeights));
        trainer._optimizer.Load(Path.Combine(folder, StateOptimizer));
        trainer.Step = state.Step;
        trainer.Model.WeightsChanged();
        return trainer;
    }

    public void Dispose() => Model.Dispose();
}
