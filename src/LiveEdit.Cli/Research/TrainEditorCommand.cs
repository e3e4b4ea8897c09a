using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using LiveEdit.Model.Editor;
using LiveEdit.Model.Runtime;
using LiveEdit.Model.Vlm;
using LiveEdit.Research.Editing;
using LiveEdit.Research.World;
using Spectre.Console;
using static TorchSharp.torch;

namespace LiveEdit.Cli.Research;

/// <summary>
/// <c>liveedit train editor</c>: trains the LiveEdit editor with a frozen base model of any kind, on the SynthWorld
/// editor-training split or on an imported stream (seeded, resumable from its state folder), and writes the editor
/// folder with its SHA-256s. The editor's sizes come from the model's shape (d, N_v, l_e) and the hyper-parameters.
/// </summary>
internal static class TrainEditorCommand
{
    /// <summary>Adds <c>editor</c> under the root's <c>train</c> command, creating that parent if it does not exist yet.</summary>
    public static void AttachTo(RootCommand root)
    {
        var train = root.Subcommands.FirstOrDefault(c => c.Name == "train");
        if (train is null)
        {
            train = new Command("train", "Train the models LiveEdit ships.");
            root.Subcommands.Add(train);
        }
        train.Subcommands.Add(Create());
        train.Subcommands.Add(CreateRefinement());
        train.Subcommands.Add(CreateFilterMargin());
        train.Subcommands.Add(FilterBankCommand.Create());
    }

    /// <summary>
    /// <c>liveedit train refinement</c>: sets (or with <c>--off</c> removes) the expert refinement of an editor folder.
    /// The weights stay as trained; editor.json gets the settings, the new generator SHA-256 and this command.
    /// </summary>
    public static Command CreateRefinement()
    {
        var editorPath = new Option<string>("--editor") { Description = "Editor folder to change.", DefaultValueFactory = _ => "models/liveedit-editor" };
        var steps = new Option<int>("--steps") { Description = "Adam steps at most per expert.", DefaultValueFactory = _ => ExpertRefinement.Default.Steps };
        var lr = new Option<double>("--lr") { Description = "Adam learning rate on U and V.", DefaultValueFactory = _ => ExpertRefinement.Default.LearningRate };
        var stop = new Option<double>("--stop") { Description = "Stop once the target's cross-entropy is below this.", DefaultValueFactory = _ => ExpertRefinement.Default.StopLoss };
        var off = new Option<bool>("--off") { Description = "Remove the refinement: experts are the generators' output (the paper's method)." };
        var command = new Command("refinement", "Set the expert refinement (an extension beyond the paper: Adam on each generated expert's U, V toward its edit's target) of an editor folder.")
        {
            editorPath, steps, lr, stop, off,
        };
        command.SetAction(parse =>
        {
            try
            {
                var folder = parse.GetValue(editorPath)!;
                var (editor, file) = EditorModules.Load(folder);
                var before = editor.GeneratorSha256;
                editor.WithRefinement(parse.GetValue(off) ? null : new ExpertRefinement(parse.GetValue(steps), parse.GetValue(lr), parse.GetValue(stop)));
                var command = "liveedit " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1));
                editor.Save(folder, file.Provenance with { RefinementCommand = command });
                AnsiConsole.MarkupLine($"{Markup.Escape(folder)}: refinement {Markup.Escape(editor.Config.Refinement?.ToString() ?? "off")}; generator SHA-256 {before[..12]} → [grey]{editor.GeneratorSha256}[/]");
                return 0;
            }
            catch (Exception e) when (e is ArgumentException or InvalidDataException or IOException)
            {
                Console.Error.WriteLine($"liveedit train refinement: {e.Message}");
                return 2;
            }
        });
        return command;
    }

    /// <summary>
    /// <c>liveedit train filter-margin</c>: sets the hard filter's margin and band (our extensions; 0 = the paper's filter)
    /// of an editor folder. The weights stay as trained; editor.json gets them, the new generator SHA-256 and this command.
    /// </summary>
    public static Command CreateFilterMargin()
    {
        var editorPath = new Option<string>("--editor") { Description = "Editor folder to change.", DefaultValueFactory = _ => "models/liveedit-editor" };
        var margin = new Option<double>("--margin") { Description = "Keep an expert iff sim(φ̄, φ̂_e) > sim(φ̄, φ̄_Ξ) − margin; 0 = the paper's filter.", Required = true };
        var band = new Option<double>("--band") { Description = "Then keep only survivors within this much of the best survivor's similarity; 0 = off (the paper).", DefaultValueFactory = _ => 0 };
        var aliasPrevious = new Option<bool>("--alias-previous")
        {
            Description = "First record the id experts carried under the current default policy, when routing was hashed into the generator's identity, as a verified identity alias (docs/routing-policy.md).",
        };
        var command = new Command("filter-margin", "Set the default routing policy's hard-filter margin (an extension beyond the paper: the learned sentinel threshold lowered by a constant) and band of an editor folder.")
        {
            editorPath, margin, band, aliasPrevious,
        };
        command.SetAction(parse =>
        {
            try
            {
                var folder = parse.GetValue(editorPath)!;
                var (editor, file) = EditorModules.Load(folder);
                var before = editor.GeneratorSha256;
                if (parse.GetValue(aliasPrevious) && editor.AddIdentityAlias(editor.DefaultPolicy) is { } alias && alias.GeneratorSha256 != editor.GeneratorSha256)
                    AnsiConsole.MarkupLine($"{Markup.Escape(folder)}: identity alias {alias.GeneratorSha256[..12]} (policy {alias.Policy.Sha256[..12]})");
                editor.WithFilterMargin(parse.GetValue(margin)).WithFilterBand(parse.GetValue(band));
                var command = "liveedit " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1));
                editor.Save(folder, file.Provenance with { FilterMarginCommand = command });
                AnsiConsole.MarkupLine(string.Create(CultureInfo.InvariantCulture, $"{Markup.Escape(folder)}: default routing policy filter margin {editor.DefaultPolicy.Margin:R}, band {editor.DefaultPolicy.Band:R} ({editor.DefaultPolicy.Sha256[..12]}); generator SHA-256 {before[..12]} → [grey]{editor.GeneratorSha256}[/]"));
                return 0;
            }
            catch (Exception e) when (e is ArgumentException or InvalidDataException or IOException)
            {
                Console.Error.WriteLine($"liveedit train filter-margin: {e.Message}");
                return 2;
            }
        });
        return command;
    }

    public static Command Create()
    {
        var baseModel = new Option<string>("--base") { Description = "Frozen base model checkpoint folder (its kind from --base-kind, Model__Kind or the folder).", DefaultValueFactory = _ => "models/tinyvlm" };
        var baseKind = new Option<string?>("--base-kind") { Description = "Kind of --base (TinyVlm, Llava); device and dtype from Model__Device and Model__DType." };
        var streamFolder = new Option<string?>("--stream") { Description = "Train on this stream's cases (bench import of MMEdit / VLKEB training files, or bench make) instead of SynthWorld's editor-training split." };
        var output = new Option<string>("--out") { Description = "Folder for the trained editor.", DefaultValueFactory = _ => "models/liveedit-editor" };
        var seed = new Option<int>("--seed") { Description = "Seed for initialisation, case order and expert mixing.", DefaultValueFactory = _ => 1 };
        var steps = new Option<int>("--steps") { Description = "Optimizer steps.", DefaultValueFactory = _ => 3000 };
        var threads = new Option<int>("--threads") { Description = "Torch intra-op threads (results depend on it).", DefaultValueFactory = _ => 2 };
        var batch = new Option<int>("--batch") { Description = "Edit cases per step.", DefaultValueFactory = _ => 16 };
        var lr = new Option<double>("--lr") { Description = "Adam learning rate (×0.1 after 80% of the steps).", DefaultValueFactory = _ => 5e-4 };
        var cases = new Option<int>("--cases") { Description = "Editor-training cases drawn from the training split.", DefaultValueFactory = _ => 4000 };
        var moduleDim = new Option<int?>("--module-dim") { Description = "d_m (default: min(d, 1024): the model width for a small model, the paper's 1024 for LLaVA-1.5-7B)." };
        var loraScale = new Option<double>("--lora-scale") { Description = "lora_scale: generators scale by 1/(lora_scale·√r) (paper: 5).", DefaultValueFactory = _ => 5.0 };
        var rank = new Option<int>("--rank") { Description = "r, the rank of every expert (paper: 4).", DefaultValueFactory = _ => 4 };
        var keyRows = new Option<int>("--key-rows") { Description = "k, key vectors per edit (paper: 4).", DefaultValueFactory = _ => 4 };
        var state = new Option<string?>("--state") { Description = "Resumable state folder (default runs/liveedit-editor-seed<N>-state)." };
        var every = new Option<int>("--checkpoint-every") { Description = "Save the state every N steps.", DefaultValueFactory = _ => 250 };
        var filteredMixing = new Option<bool>("--filtered-mixing")
        {
            Description = "Random expert mixing switches on only experts that pass the current hard filter (as at inference).", DefaultValueFactory = _ => false,
        };
        var lookAlikePairs = new Option<bool>("--look-alike-pairs")
        {
            Description = "Half of each batch are look-alikes (same SynthWorld family) of the other half: hard negatives for the visual filter.", DefaultValueFactory = _ => false,
        };
        var decisionLoss = new Option<bool>("--decision-loss")
        {
            Description = "Add a logistic loss on each hard-filter decision (own edit above the sentinel, other entities below).", DefaultValueFactory = _ => false,
        };
        var extraNegatives = new Option<int>("--extra-negatives")
        {
            Description = "Per step, fresh edit-side visual keys of this many other training cases as negatives of the hard filter (0: off).", DefaultValueFactory = _ => 0,
        };
        var recallLoss = new Option<bool>("--recall-loss")
        {
            Description = "Add −log σ(sim_own − sim_Ξ) for edit and generality inputs: the hard filter must keep an input's own edit (guards recall against --extra-negatives).", DefaultValueFactory = _ => false,
        };
        var init = new Option<string?>("--init") { Description = "Start from this trained editor folder (its sizes; --module-dim, --lora-scale, --rank, --key-rows are ignored; its refinement and filter margin are dropped)." };
        var keysOnly = new Option<bool>("--keys-only")
        {
            Description = "Our fine-tuning mode (with --init): train only the visual keys and the sentinel with the hard-routing losses; generators, text keys and fusion norm stay bit-identical.",
            DefaultValueFactory = _ => false,
        };
        var visualKeyBlocks = new Option<int>("--visual-key-blocks")
        {
            Description = "Our extension: pre-LN transformer blocks over the vision tokens before the visual key's pooling (0: the paper's extractor; with --init, new blocks start as the identity).",
            DefaultValueFactory = _ => 0,
        };
        var lookPairs = new Option<int>("--look-pairs")
        {
            Description = "Our extension: per step, this many pairs of renderings of random looks that no entity has; the hard filter must keep each pair's own edit and reject the others' (0: off).",
            DefaultValueFactory = _ => 0,
        };
        var lookSiblings = new Option<bool>("--look-siblings")
        {
            Description = "With --look-pairs: every second look differs from the one before it in one visible attribute only (near misses).",
            DefaultValueFactory = _ => false,
        };
        var command = new Command("editor", "Train the LiveEdit editor (generators, key extractors, sentinel) on SynthWorld edit cases or an imported stream with a frozen base model.")
        {
            baseModel, baseKind, streamFolder, output, seed, steps, threads, batch, lr, cases, moduleDim, loraScale, rank, keyRows, state, every, filteredMixing, lookAlikePairs, decisionLoss, extraNegatives, recallLoss, init, keysOnly, visualKeyBlocks, lookPairs, lookSiblings,
        };
        command.SetAction(parse =>
        {
            try
            {
                return Run(new BaseChoice(parse.GetValue(baseModel)!, parse.GetValue(baseKind), parse.GetValue(streamFolder)), parse.GetValue(output)!, parse.GetValue(seed), parse.GetValue(steps), parse.GetValue(threads),
                    parse.GetValue(batch), parse.GetValue(lr), parse.GetValue(cases), parse.GetValue(moduleDim), parse.GetValue(loraScale), parse.GetValue(rank), parse.GetValue(keyRows),
                    parse.GetValue(state) ?? $"runs/liveedit-editor-seed{parse.GetValue(seed)}-state", parse.GetValue(every),
                    new TrainingSwitches(parse.GetValue(filteredMixing), parse.GetValue(lookAlikePairs), parse.GetValue(decisionLoss), parse.GetValue(extraNegatives), parse.GetValue(recallLoss),
                        parse.GetValue(init), parse.GetValue(keysOnly), parse.GetValue(visualKeyBlocks), parse.GetValue(lookPairs), parse.GetValue(lookSiblings)), args: Environment.GetCommandLineArgs());
            }
            catch (Exception e) when (e is ArgumentException or InvalidDataException or CheckpointException or IOException or ModelConfigurationException
                                          or LiveEdit.Bench.Streams.StreamFormatException)
            {
                Console.Error.WriteLine($"liveedit train editor: {e.Message}");
                return 2;
            }
        });
        return command;
    }

    private static int Run(BaseChoice choice, string output, int seed, int steps, int threads, int batch, double lr, int caseCount, int? moduleDim,
        double loraScale, int rank, int keyRows, string stateDir, int every, TrainingSwitches switches, string[] args)
    {
        if (switches.LookPairs < 0) throw new ArgumentException("--look-pairs must be 0 or more");
        if (switches.LookSiblings && switches.LookPairs == 0) throw new ArgumentException("--look-siblings needs --look-pairs");
        if (choice.Stream is not null && switches.LookPairs > 0) throw new ArgumentException("--look-pairs renders SynthWorld looks; it cannot be used with --stream");
        TorchRuntime.Configure(threads, seed);
        var vlm = BaseModels.Load(choice.Folder, choice.Kind);
        // The trainer's own index tensors are made on the host: training runs where it was tested.
        if (vlm.Device.type != TorchSharp.DeviceType.CPU || vlm.DType != ScalarType.Float32)
            throw new ModelConfigurationException(VlmLoader.DeviceSetting, $"train editor runs on the CPU in float32 ({VlmLoader.DeviceSetting}=cpu, {VlmLoader.DTypeSetting}=float32); serving and expert generation take any device");
        var world = new SynthWorld(WorldConfig.Default);
        IReadOnlyList<EditSample> samples = choice.Stream is { } streamPath
            ? LiveEdit.Bench.Streams.StreamSamples.From(LiveEdit.Bench.Streams.BenchStream.Read(streamPath), vlm).Take(caseCount).ToList()
            : world.EditCases(EditSplit.EditorTrain, caseCount, seed).Select(c => EditSample.From(c, vlm.ImageInput)).ToList();
        if (samples.Count < 2) throw new ArgumentException($"{samples.Count} training case(s); the editor needs at least 2 (a case and a negative)");
        if (switches.KeysOnly && switches.Init is null) throw new ArgumentException("--keys-only needs --init (the editor whose generators and text keys stay)");
        if (switches.VisualKeyBlocks < 0) throw new ArgumentException("--visual-key-blocks must be 0 or more");
        manual_seed(seed);
        EditorModules editor;
        string? initSha = null;
        if (switches.Init is { } initFolder)
        {
            var (start, startFile) = EditorModules.Load(initFolder);
            startFile.RequireBase(vlm.WeightsSha256, initFolder);
            initSha = start.GeneratorSha256;
            editor = new EditorModules(start.Config with { Refinement = null, FilterBankSha256 = null, VisualKeyBlocks = switches.VisualKeyBlocks }).CopyFrom(start);
        }
        else
            editor = new EditorModules(EditorConfig.For(vlm.Shape, new EditorHyperParameters(moduleDim, Rank: rank, KeyRows: keyRows, LoraScale: loraScale))
                with { VisualKeyBlocks = switches.VisualKeyBlocks });
        var options = new EditorTrainingOptions(steps, batch, lr, Seed: seed, CheckpointEvery: every,
            FilteredMixing: switches.FilteredMixing, PairLookAlikes: switches.LookAlikePairs, HardDecisionLoss: switches.DecisionLoss, ExtraNegatives: switches.ExtraNegatives,
            RecallLoss: switches.RecallLoss, KeysOnly: switches.KeysOnly, LookPairs: switches.LookPairs);
        var trainer = new EditorTrainer(vlm, editor, samples, options)
        {
            UnnamedLookPairs = (pairSeed, count) => world.UnnamedLookPairs(pairSeed, count, switches.LookSiblings, RenderSplit.EditorTrain)
                .Select(p => (vlm.ImageInput(p.First), vlm.ImageInput(p.Second))).ToList(),
        };
        var parameters = editor.parameters().Sum(p => p.numel());
        AnsiConsole.MarkupLine($"LiveEdit editor {Markup.Escape(editor.Config.ToString())}, {parameters:N0} parameters; base {Markup.Escape(vlm.Kind)} {vlm.WeightsSha256[..12]} (l_e {vlm.Shape.EditLayer} of {vlm.Shape.Layers}); " +
                               $"{samples.Count} training cases; seed {seed}, {threads} thread(s), batch {batch}, lr {lr:G3}");
        var clock = Stopwatch.StartNew();
        var window = new Queue<EditorLosses>();
        string Line(EditorTrainingProgress p)
        {
            window.Enqueue(p.Losses);
            if (window.Count > 50) window.Dequeue();
            return string.Create(CultureInfo.InvariantCulture,
                $"step {p.Step}/{p.Steps} loss {window.Average(x => x.Total):F3} (rel {window.Average(x => x.Reliability):F3} gen {window.Average(x => x.Generality):F3} loc {window.Average(x => x.Locality):F4} soft {window.Average(x => x.SoftRouting):F3} hard {window.Average(x => x.HardRouting):F3}) lr {p.LearningRate:E1}");
        }
        if (Console.IsOutputRedirected)
        {
            trainer.Train(p =>
            {
                var line = Line(p);
                if (p.Step % 50 == 0 || p.Step == p.Steps)
                    Console.WriteLine($"{line} elapsed {p.Elapsed:hh\\:mm\\:ss} rss {Environment.WorkingSet / 1048576} MB");
            }, stateDir);
        }
        else
        {
            AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask("training", maxValue: steps);
                    trainer.Train(p =>
                    {
                        task.Value = p.Step;
                        task.Description = Markup.Escape(Line(p));
                    }, stateDir);
                });
        }
        var command = "liveedit " + string.Join(' ', args.Skip(1));
        editor.Save(output, new EditorProvenance(vlm.WeightsSha256, seed, steps, threads, command, clock.Elapsed.TotalSeconds) { InitGeneratorSha256 = initSha });
        AnsiConsole.MarkupLine($"editor written to [bold]{Markup.Escape(output)}[/] in {clock.Elapsed:hh\\:mm\\:ss}; generator SHA-256 [grey]{editor.GeneratorSha256}[/]");
        return 0;
    }

    private sealed record BaseChoice(string Folder, string? Kind, string? Stream);

    private sealed record TrainingSwitches(bool FilteredMixing, bool LookAlikePairs, bool DecisionLoss, int ExtraNegatives, bool RecallLoss,
        string? Init, bool KeysOnly, int VisualKeyBlocks, int LookPairs, bool LookSiblings);
}
