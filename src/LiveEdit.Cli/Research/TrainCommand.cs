using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using LiveEdit.Model.Runtime;
using LiveEdit.Model.Vlm;
using LiveEdit.Research.Training;
using LiveEdit.Research.World;
using Spectre.Console;

namespace LiveEdit.Cli.Research;

/// <summary>
/// <c>liveedit train vlm</c>: trains TinyVLM on SynthWorld (deterministic from its seed at a pinned thread count,
/// resumable); <c>liveedit train eval</c>: scores a checkpoint on held-out data and measures greedy latency.
/// </summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var train = new Command("train", "Train the models LiveEdit ships (TinyVLM on SynthWorld).");
        train.Subcommands.Add(CreateVlm());
        train.Subcommands.Add(CreateEval());
        train.Subcommands.Add(CreateVision());
        return train;
    }

    private static Command CreateVlm()
    {
        var seed = new Option<int>("--seed") { Description = "Seed for initialisation and data order.", DefaultValueFactory = _ => 1 };
        var steps = new Option<int>("--steps") { Description = "Optimizer steps.", DefaultValueFactory = _ => 6000 };
        var output = new Option<string>("--out") { Description = "Folder for the trained checkpoint.", DefaultValueFactory = _ => "models/tinyvlm" };
        var threads = new Option<int>("--threads") { Description = "Torch intra-op threads (results depend on it).", DefaultValueFactory = _ => 2 };
        var resume = new Option<bool>("--resume") { Description = "Continue from the training state in --state if there is one." };
        var state = new Option<string?>("--state") { Description = "Folder for the resumable training state (default runs/tinyvlm-seed<N>-state)." };
        var batch = new Option<int>("--batch") { Description = "Batch size.", DefaultValueFactory = _ => 64 };
        var micro = new Option<bool>("--micro") { Description = "Use the micro model (tests and smoke runs)." };
        var every = new Option<int>("--checkpoint-every") { Description = "Save the training state every N steps.", DefaultValueFactory = _ => 250 };
        var latency = new Option<int>("--latency") { Description = "Greedy-latency repetitions after training (0: skip).", DefaultValueFactory = _ => 1000 };
        var stopAfter = new Option<int?>("--stop-after") { Description = "Stop (saving the state) after this many steps of this process: simulates an interruption." };
        var perception = new Option<double>("--perception-share")
        {
            Description = "Fraction of the image questions that ask what a random unnamed look shows (shape, colours, pattern, eyes).",
            DefaultValueFactory = _ => 0.15,
        };
        var visionSteps = new Option<int>("--vision-steps")
        {
            Description = "Perception pretraining steps of the vision encoder (a classifier per look attribute on random unnamed looks) before the VLM steps; 0: none.",
            DefaultValueFactory = _ => 0,
        };
        var command = new Command("vlm", "Train TinyVLM on SynthWorld, then evaluate it on held-out renderings and paraphrases.")
        {
            seed, steps, output, threads, resume, state, batch, micro, every, latency, stopAfter, perception, visionSteps,
        };
        command.SetAction(parse =>
        {
            try
            {
                return TrainVlm(parse.GetValue(seed), parse.GetValue(steps), parse.GetValue(output)!, parse.GetValue(threads), parse.GetValue(resume),
                    parse.GetValue(state) ?? $"runs/tinyvlm-seed{parse.GetValue(seed)}-state", parse.GetValue(batch), parse.GetValue(micro),
                    parse.GetValue(every), parse.GetValue(latency), parse.GetValue(stopAfter), parse.GetValue(perception), parse.GetValue(visionSteps));
            }
            catch (Exception e) when (e is ArgumentException or InvalidDataException or CheckpointException or IOException)
            {
                Console.Error.WriteLine($"liveedit train vlm: {e.Message}");
                return 2;
            }
        });
        return command;
    }

    private static Command CreateVision()
    {
        var steps = new Option<int>("--steps") { Description = "Steps (warm-up, then cosine decay over all of them).", DefaultValueFactory = _ => 3000 };
        var batch = new Option<int>("--batch") { Description = "Looks per step.", DefaultValueFactory = _ => 64 };
        var lr = new Option<double>("--lr") { Description = "Peak learning rate.", DefaultValueFactory = _ => 1.5e-3 };
        var seed = new Option<int>("--seed") { Description = "Seed of the batches and the classifiers.", DefaultValueFactory = _ => 1 };
        var size = new Option<int>("--image-size") { Description = "Render the looks at this size (a fresh encoder reads (size/8)² tokens).", DefaultValueFactory = _ => 32 };
        var command = new Command("vision", "Experiment: supervise the vision encoder directly on every look attribute of random unnamed looks; prints held-out accuracy per attribute.")
        { steps, batch, lr, seed, size };
        command.SetAction(parse =>
        {
            if (parse.GetValue(steps) < 1 || parse.GetValue(batch) < 1) { Console.Error.WriteLine("liveedit train vision: --steps and --batch must be at least 1"); return 2; }
            if (parse.GetValue(size) is < 8 or > 256 || parse.GetValue(size) % 8 != 0) { Console.Error.WriteLine("liveedit train vision: --image-size must be a multiple of 8 in [8, 256]"); return 2; }
            TorchRuntime.Configure(1, parse.GetValue(seed));
            var world = new SynthWorld(WorldConfig.Default with { ImageSize = parse.GetValue(size) });
            using var encoder = new VisionEncoder(TinyVlmConfig.Default with { ImageSize = world.ImageSize });
            using var p = new VisionPretrainer(world, encoder, TinyVlmConfig.Default.VisionWidth, parse.GetValue(seed));
            var n = parse.GetValue(steps);
            p.Train(n, parse.GetValue(batch), parse.GetValue(lr), (t, loss) =>
            {
                if (t % 250 != 0 && t != n) return;
                var acc = p.Evaluate(8, 128);
                Console.WriteLine($"step {t} loss {loss:F3} held-out " + string.Join(", ", acc.Select(a => $"{a.Key} {a.Value:F1}")));
            });
            return 0;
        });
        return command;
    }

    private static Command CreateEval()
    {
        var model = new Option<string>("--model") { Description = "Checkpoint folder.", DefaultValueFactory = _ => "models/tinyvlm" };
        var threads = new Option<int>("--threads") { Description = "Torch intra-op threads.", DefaultValueFactory = _ => 1 };
        var images = new Option<int>("--images") { Description = "Held-out image questions per figure.", DefaultValueFactory = _ => 960 };
        var latency = new Option<int>("--latency") { Description = "Greedy-latency repetitions (0: skip).", DefaultValueFactory = _ => 1000 };
        var command = new Command("eval", "Score a TinyVLM checkpoint on held-out SynthWorld questions and measure greedy latency.") { model, threads, images, latency };
        command.SetAction(parse =>
        {
            try
            {
                TorchRuntime.Configure(parse.GetValue(threads), 0);
                var vlm = TinyVlm.Load(parse.GetValue(model)!);
                var world = new SynthWorld(WorldConfig.Default);
                var scores = TinyVlmEvaluation.Evaluate(vlm, world, parse.GetValue(images));
                PrintScores(scores);
                PrintPerceptionByAttribute(vlm, world, parse.GetValue(images));
                var paraphrase = TinyVlmEvaluation.ExactMatchByAttribute(vlm, world.EvalImageQuestions(parse.GetValue(images), heldOutParaphrase: true));
                AnsiConsole.MarkupLine("held-out paraphrase by attribute: " + string.Join(", ", paraphrase.Select(p => $"{p.Key.ToLowerInvariant()} {p.Value:P1}")));
                AnsiConsole.MarkupLine($"weights SHA-256 [grey]{vlm.WeightsSha256}[/]");
                if (parse.GetValue(latency) > 0)
                {
                    var (median, p95) = TinyVlmEvaluation.GreedyLatency(vlm, world, parse.GetValue(latency));
                    AnsiConsole.MarkupLine($"greedy answer latency, one image query, {parse.GetValue(latency)} runs, {TorchRuntime.Threads} thread(s): median [bold]{median:F2} ms[/], p95 {p95:F2} ms");
                }
                return scores.MeetsTargets ? 0 : 1;
            }
            catch (CheckpointException e)
            {
                Console.Error.WriteLine($"liveedit train eval: {e.Message}");
                return 2;
            }
        });
        return command;
    }

    private static int TrainVlm(int seed, int steps, string output, int threads, bool resume, string stateDir, int batch, bool micro,
        int checkpointEvery, int latencyRuns, int? stopAfter, double perceptionShare, int visionSteps)
    {
        if (visionSteps < 0) throw new ArgumentException("--vision-steps must be 0 or more");
        if (steps < 1) throw new ArgumentException("--steps must be at least 1");
        if (perceptionShare is < 0 or > 1 || double.IsNaN(perceptionShare)) throw new ArgumentException("--perception-share must be between 0 and 1");
        var options = new TrainingOptions(seed, steps, BatchSize: batch, Threads: threads, PerceptionShare: perceptionShare, VisionSteps: visionSteps);
        var config = micro ? TinyVlmConfig.Micro : TinyVlmConfig.Default;
        TinyVlmTrainer trainer;
        if (resume && TinyVlmTrainer.HasState(stateDir))
        {
            var saved = TinyVlmTrainer.ReadState(stateDir);
            if (saved.Options with { Steps = steps } != options)
                throw new ArgumentException($"the state in {stateDir} was made with other settings ({saved.Options}); resume with the same --seed/--threads/--batch/--perception-share/--vision-steps");
            trainer = TinyVlmTrainer.Resume(stateDir, options);
            AnsiConsole.MarkupLine($"resumed from [bold]{stateDir}[/] at step {trainer.Step}");
        }
        else
        {
            trainer = new TinyVlmTrainer(new SynthWorld(WorldConfig.Default), config, options);
        }
        using var _ = trainer;
        var parameters = trainer.Model.parameters().Sum(p => p.numel());
        AnsiConsole.MarkupLine($"TinyVLM {JsonSerializer.Serialize(trainer.Model.Config)}, {parameters:N0} parameters; world seed {trainer.World.Config.Seed}, " +
                               $"{trainer.World.KnownEntities.Count} known entities, {trainer.World.Lands.Count} lands; seed {seed}, {threads} thread(s), batch {batch}");

        var watch = Stopwatch.StartNew();
        var perception = trainer.PretrainVision((t, loss) =>
        {
            if (t % 250 == 0 || t == visionSteps)
                Console.WriteLine($"vision step {t}/{visionSteps} loss {loss:F3} elapsed {watch.Elapsed:hh\\:mm\\:ss}");
        });
        if (perception is not null)
            AnsiConsole.MarkupLine("perception pretraining, held-out accuracy: " + string.Join(", ", perception.Select(p => $"{p.Key.ToString().ToLowerInvariant()} {p.Value:F1} %")));
        var visionSeconds = watch.Elapsed.TotalSeconds;
        var startStep = trainer.Step;
        var window = new Queue<TrainingStepResult>();
        var redirected = Console.IsOutputRedirected;
        void Report(TrainingStepResult r, Action<string> show)
        {
            window.Enqueue(r);
            if (window.Count > 50) window.Dequeue();
            show($"step {r.Step}/{steps} loss {window.Average(x => x.Loss):F4} acc {window.Average(x => x.ExactMatch):P1} lr {r.LearningRate:E2}");
        }
        bool Interrupted() => stopAfter is { } n && trainer.Step - startStep >= n;

        if (redirected)
        {
            // A log file gets a line every 50 steps with the ETA (no live bar to draw).
            while (trainer.Step < steps && !Interrupted())
            {
                var r = trainer.TrainStep();
                Report(r, line =>
                {
                    if (r.Step % 50 != 0 && r.Step != steps) return;
                    var done = r.Step - startStep;
                    var eta = TimeSpan.FromSeconds((watch.Elapsed.TotalSeconds - visionSeconds) / done * (steps - r.Step));
                    Console.WriteLine($"{line} elapsed {watch.Elapsed:hh\\:mm\\:ss} eta {eta:hh\\:mm\\:ss} rss {Environment.WorkingSet / 1048576} MB");
                });
                if (trainer.Step % checkpointEvery == 0) trainer.SaveState(stateDir);
            }
        }
        else
        {
            AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask("training", maxValue: steps);
                    task.Value = trainer.Step;
                    while (trainer.Step < steps && !Interrupted())
                    {
                        var r = trainer.TrainStep();
                        Report(r, line => task.Description = line);
                        task.Value = r.Step;
                        if (trainer.Step % checkpointEvery == 0) trainer.SaveState(stateDir);
                    }
                });
        }
        trainer.SaveState(stateDir);
        var trainSeconds = watch.Elapsed.TotalSeconds;
        if (trainer.Step < steps)
        {
            AnsiConsole.MarkupLine($"stopped at step {trainer.Step}; state saved in [bold]{stateDir}[/] (continue with --resume)");
            return 0;
        }

        trainer.Model.eval();
        trainer.Model.Save(output);
        AnsiConsole.MarkupLine($"trained {steps - startStep} steps in {trainSeconds:F0} s; checkpoint in [bold]{output}[/], weights SHA-256 {trainer.Model.WeightsSha256}");
        var scores = TinyVlmEvaluation.Evaluate(trainer.Model, trainer.World);
        PrintScores(scores);
        var byAttribute = PrintPerceptionByAttribute(trainer.Model, trainer.World, scores.ImageCount);
        double? median = null, p95 = null;
        if (latencyRuns > 0)
        {
            // Single-query latency is measured on one thread (a second one does not help a batch of one).
            TorchRuntime.Configure(1, seed);
            (median, p95) = TinyVlmEvaluation.GreedyLatency(trainer.Model, trainer.World, latencyRuns);
            AnsiConsole.MarkupLine($"greedy answer latency, one image query, {latencyRuns} runs, 1 thread: median [bold]{median:F2} ms[/], p95 {p95:F2} ms");
        }
        var peakMb = Process.GetCurrentProcess().PeakWorkingSet64 / 1048576.0;
        AnsiConsole.MarkupLine($"peak working set {peakMb:F0} MB");
        var report = new
        {
            command = "liveedit " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1)),
            seed, threads, steps, batch, perceptionShare, visionSteps, resumedFromStep = startStep,
            visionSeconds = Math.Round(visionSeconds, 1),
            visionPretrainingHeldOutAccuracy = perception?.ToDictionary(p => p.Key.ToString(), p => Math.Round(p.Value, 2)),
            parameters,
            trainSeconds = Math.Round(trainSeconds, 1),
            peakWorkingSetMb = Math.Round(peakMb),
            scores,
            perceptionByAttribute = byAttribute,
            latencyMedianMs = median, latencyP95Ms = p95,
            weightsSha256 = trainer.Model.WeightsSha256,
            finishedAt = DateTimeOffset.UtcNow,
        };
        File.WriteAllText(Path.Combine(output, "training-report.json"), JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }));
        return 0;
    }

    /// <summary>Perception exact match per look attribute (held-out renderings of unnamed looks, training paraphrases).</summary>
    private static IReadOnlyDictionary<string, double> PrintPerceptionByAttribute(TinyVlm model, SynthWorld world, int questions)
    {
        var byAttribute = TinyVlmEvaluation.ExactMatchByAttribute(model, world.EvalLookQuestions(questions, heldOutParaphrase: false));
        AnsiConsole.MarkupLine("perception by attribute: " + string.Join(", ", byAttribute.Select(p => $"{p.Key[4..].ToLowerInvariant()} {p.Value:P1}")));
        return byAttribute;
    }

    private static void PrintScores(TinyVlmScores s)
    {
        var table = new Table().AddColumns("held-out figure", "exact match", "target");
        table.AddRow("image questions (new renderings)", $"{s.ImageExactMatch:P2}", "≥ 95 %");
        table.AddRow("held-out paraphrase (new renderings)", $"{s.ParaphraseExactMatch:P2}", "≥ 93 %");
        table.AddRow("text-only questions", $"{s.TextExactMatch:P2}", "≥ 95 %");
        table.AddRow("text-only, held-out paraphrase", $"{s.TextParaphraseExactMatch:P2}", "—");
        table.AddRow("perception, unnamed looks (new renderings)", $"{s.LookExactMatch:P2}", "—");
        table.AddRow("perception, held-out paraphrase", $"{s.LookParaphraseExactMatch:P2}", "—");
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine(s.MeetsTargets ? "[green]targets met[/]" : "[red]targets not met[/]");
    }
}
