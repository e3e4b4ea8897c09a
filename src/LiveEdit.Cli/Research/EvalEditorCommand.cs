using System.CommandLine;
using System.Globalization;
using LiveEdit.Model.Editor;
using LiveEdit.Model.Runtime;
using LiveEdit.Model.Vlm;
using LiveEdit.Research.Editing;
using LiveEdit.Research.World;
using Spectre.Console;

namespace LiveEdit.Cli.Research;

/// <summary>
/// <c>liveedit eval editor</c>: the paper's metrics on the SynthWorld editor-evaluation split, lifelong and in
/// chunks, with the hard filter's precision and recall and the cost; writes markdown and JSON.
/// </summary>
internal static class EvalEditorCommand
{
    public static Command Create()
    {
        var eval = new Command("eval", "Evaluate trained components.");
        eval.Subcommands.Add(CreateEditor());
        eval.Subcommands.Add(CreateIdentity());
        return eval;
    }

    private static Command CreateIdentity()
    {
        var baseModel = new Option<string>("--base") { Description = "Frozen TinyVLM checkpoint folder.", DefaultValueFactory = _ => "models/tinyvlm" };
        var split = new Option<EditSplit>("--split") { Description = "The entities of this split.", DefaultValueFactory = _ => EditSplit.EditorTrain };
        var trainRenders = new Option<int>("--train-renders") { Description = "Training renderings per entity.", DefaultValueFactory = _ => 160 };
        var testRenders = new Option<int>("--test-renders") { Description = "Held-out renderings per entity.", DefaultValueFactory = _ => 10 };
        var seed = new Option<int>("--seed") { Description = "Seed of the classifiers.", DefaultValueFactory = _ => 0 };
        var threads = new Option<int>("--threads") { Description = "Torch intra-op threads.", DefaultValueFactory = _ => 1 };
        var imageSize = new Option<int?>("--image-size") { Description = "Render the world at this size instead (pixels only: the model reads its own size); shows what a larger image would carry." };
        var output = new Option<string>("--out") { Description = "Folder for identity-probe.md and identity-probe.json.", DefaultValueFactory = _ => "runs/identity-probe" };
        var command = new Command("identity", "Diagnostic for the visual hard filter: how well one rendering tells a split's entities apart (closed-set classifiers on the layer-l_e vision states and on raw pixels).")
        {
            baseModel, split, trainRenders, testRenders, seed, threads, imageSize, output,
        };
        command.SetAction(parse =>
        {
            try
            {
                TorchRuntime.Configure(parse.GetValue(threads), parse.GetValue(seed));
                var vlm = TinyVlm.Load(parse.GetValue(baseModel)!);
                var size = parse.GetValue(imageSize);
                if (size is < 8 or > 256) throw new ArgumentException("--image-size must be between 8 and 256");
                var world = new SynthWorld(size is { } s ? WorldConfig.Default with { ImageSize = s } : WorldConfig.Default);
                var rows = IdentityProbe.Run(vlm, world, parse.GetValue(split), parse.GetValue(trainRenders), parse.GetValue(testRenders),
                    parse.GetValue(seed), line => AnsiConsole.WriteLine(line), pixelsOnly: world.ImageSize != vlm.Config.ImageSize);
                var markdown = "| features | classifier | entities | renderings per entity (train / test) | train accuracy % | held-out accuracy % | within-family errors % |\n|---|---|---:|---:|---:|---:|---:|\n"
                    + string.Concat(rows.Select(r => string.Create(CultureInfo.InvariantCulture,
                        $"| {r.Features} | {r.Classifier} | {r.Entities} | {r.TrainRenders} / {r.TestRenders} | {r.TrainAccuracy:F1} | {r.HeldOutAccuracy:F1} | {r.WithinFamilyErrors:F1} |\n")));
                var folder = parse.GetValue(output)!;
                Directory.CreateDirectory(folder);
                File.WriteAllText(Path.Combine(folder, "identity-probe.md"), markdown);
                File.WriteAllText(Path.Combine(folder, "identity-probe.json"), System.Text.Json.JsonSerializer.Serialize(rows, new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
                AnsiConsole.WriteLine(markdown);
                return 0;
            }
            catch (Exception e) when (e is ArgumentException or CheckpointException or IOException)
            {
                Console.Error.WriteLine($"liveedit eval identity: {e.Message}");
                return 2;
            }
        });
        return command;
    }

    private static Command CreateEditor()
    {
        var baseModel = new Option<string>("--base") { Description = "Frozen TinyVLM checkpoint folder.", DefaultValueFactory = _ => "models/tinyvlm" };
        var editorPath = new Option<string>("--editor") { Description = "Editor folder.", DefaultValueFactory = _ => "models/liveedit-editor" };
        var cases = new Option<int>("--cases") { Description = "Edit cases in the stream (from --split).", DefaultValueFactory = _ => 1000 };
        var seed = new Option<int>("--seed") { Description = "Seed of the evaluation stream.", DefaultValueFactory = _ => 0 };
        var seeds = new Option<string?>("--seeds") { Description = "Seeds of several independent streams (comma list, instead of --seed): every row is pooled over them (M-Loc weighted by measured locality inputs); latency on the first." };
        var checkpoints = new Option<string>("--checkpoints") { Description = "Lifelong checkpoints.", DefaultValueFactory = _ => "1,10,100,1000,10000" };
        var chunks = new Option<string>("--chunks") { Description = "Paper protocol chunk sizes (empty: skip).", DefaultValueFactory = _ => "1,10,100,1000" };
        var maxEval = new Option<int>("--max-eval") { Description = "At most this many cases measured per row (evenly spaced).", DefaultValueFactory = _ => 1000 };
        var latency = new Option<string>("--latency") { Description = "Active expert counts for query latency (empty: skip).", DefaultValueFactory = _ => "0,1000,10000" };
        var threads = new Option<int>("--threads") { Description = "Torch intra-op threads.", DefaultValueFactory = _ => 1 };
        var noFilter = new Option<bool>("--no-hard-filter") { Description = "Ablation: every expert survives." };
        var noSoft = new Option<bool>("--no-soft-routing") { Description = "Ablation: survivors are averaged." };
        var noExact = new Option<bool>("--no-exact-match") { Description = "Skip greedy decoding (faster)." };
        var keep = new Option<bool>("--keep-superseded") { Description = "Keep an edit's expert active when a later edit changes the same fact." };
        var output = new Option<string>("--out") { Description = "Folder for editor-eval.md and editor-eval.json.", DefaultValueFactory = _ => "runs/editor-eval" };
        var split = new Option<EditSplit>("--split") { Description = "Edit cases from this split (EditorEval; EditorTrain only to diagnose overfitting).", DefaultValueFactory = _ => EditSplit.EditorEval };
        var entities = new Option<EntitySubset>("--entities") { Description = "Edited entities: All of the split, or its Calibration or Test half (whole families; choose routing settings on Calibration, report on Test).", DefaultValueFactory = _ => EntitySubset.All };
        var refineSteps = new Option<int?>("--refine-steps") { Description = "Override the editor's expert refinement (our extension): at most this many Adam steps per expert; 0 = the paper's method (none)." };
        var refineLr = new Option<double>("--refine-lr") { Description = "Learning rate of the refinement override.", DefaultValueFactory = _ => ExpertRefinement.Default.LearningRate };
        var refineStop = new Option<double>("--refine-stop") { Description = "Stop loss of the refinement override.", DefaultValueFactory = _ => ExpertRefinement.Default.StopLoss };
        var filterMargin = new Option<double?>("--filter-margin") { Description = "Override the editor's hard-filter margin (our extension): keep iff sim(φ̄, φ̂_e) > sim(φ̄, φ̄_Ξ) − margin; 0 = the paper's filter." };
        var filterBand = new Option<double?>("--filter-band") { Description = "Override the editor's survivor band (our extension): keep only survivors within this much of the best one's similarity; 0 = off." };
        var bankSize = new Option<int?>("--filter-bank") { Description = "Override the editor's filter bank (our extension): build one of this many unnamed-look queries (seed 0xBA4C, editor-training renderings)." };
        var hubWeight = new Option<double?>("--hubness-weight") { Description = "Override the hubness correction's λ (our extension): keep iff sim > threshold + λ·o_e; 0 = off." };
        var hubTop = new Option<int?>("--hubness-top") { Description = "Override the hubness correction's K (mean of the top K excesses over the bank)." };
        var command = new Command("editor", "Rel / T-Gen / M-Gen / T-Loc / M-Loc, exact match, hard-filter precision and recall, lifelong and chunked, with latency.")
        {
            baseModel, editorPath, cases, seed, seeds, checkpoints, chunks, maxEval, latency, threads, noFilter, noSoft, noExact, keep, output, refineSteps, refineLr, refineStop, split, entities, filterMargin, filterBand, bankSize, hubWeight, hubTop,
        };
        command.SetAction(parse =>
        {
            try
            {
                TorchRuntime.Configure(parse.GetValue(threads), 0);
                var vlm = TinyVlm.Load(parse.GetValue(baseModel)!);
                var (editor, file) = EditorModules.Load(parse.GetValue(editorPath)!);
                file.RequireBase(vlm.WeightsSha256);
                if (parse.GetValue(refineSteps) is { } steps)
                    editor.WithRefinement(steps == 0 ? null : new ExpertRefinement(steps, parse.GetValue(refineLr), parse.GetValue(refineStop)));
                // The overrides build a routing policy from the folder's default; the evaluation routes with it.
                var policy = editor.DefaultPolicy;
                if (parse.GetValue(filterMargin) is { } m) policy = policy with { Margin = m };
                if (parse.GetValue(filterBand) is { } band) policy = policy with { Band = band };
                editor.WithPolicy(policy);
                var bank = editor.Bank;
                if (parse.GetValue(bankSize) is { } size) bank = FilterBankCommand.Build(vlm, editor, size);
                if (parse.GetValue(hubWeight) is not null || parse.GetValue(bankSize) is not null || parse.GetValue(hubTop) is not null)
                    editor.WithHubness(bank, parse.GetValue(hubWeight) ?? editor.DefaultPolicy.HubnessWeight, parse.GetValue(hubTop) ?? Math.Max(1, editor.DefaultPolicy.HubnessTopK));
                policy = editor.DefaultPolicy;
                AnsiConsole.WriteLine(string.Create(CultureInfo.InvariantCulture, $"editor {editor.GeneratorSha256[..12]}, refinement: {editor.Config.Refinement?.ToString() ?? "none (the paper's method)"}, routing policy {policy.Sha256[..12]}: filter margin {policy.Margin:R}, band {policy.Band:R}, hubness λ {policy.HubnessWeight:R} top {policy.HubnessTopK} over {editor.Bank?.Count ?? 0} bank queries"));
                var world = new SynthWorld(WorldConfig.Default);
                var streamSeeds = parse.GetValue(seeds) is { } list ? Ints(list) : [parse.GetValue(seed)];
                if (streamSeeds.Count == 0 || streamSeeds.Distinct().Count() != streamSeeds.Count) throw new ArgumentException("--seeds needs distinct seeds");
                var perStream = new List<IReadOnlyList<EditMetrics>>();
                EditorCost? cost = null;
                foreach (var streamSeed in streamSeeds)
                {
                    if (streamSeeds.Count > 1) AnsiConsole.WriteLine($"stream --seed {streamSeed}");
                    var samples = world.EditCases(parse.GetValue(split), parse.GetValue(cases), streamSeed, parse.GetValue(entities)).Select(EditSample.From).ToList();
                    var evaluation = new EditorEvaluation(vlm, editor, samples)
                    {
                        Options = new RoutingOptions(!parse.GetValue(noFilter), !parse.GetValue(noSoft)),
                        ExactMatch = !parse.GetValue(noExact),
                        RemoveSuperseded = !parse.GetValue(keep),
                        Log = line => AnsiConsole.WriteLine(line),
                        LookDistance = (a, b) => world.Entities[a].Look.Differences(world.Entities[b].Look),
                        TrainedEntity = e => world.Entities[e].EditSplit == EditSplit.EditorTrain,
                    };
                    var streamRows = new List<EditMetrics>();
                    streamRows.AddRange(evaluation.Lifelong(Ints(parse.GetValue(checkpoints)!), parse.GetValue(maxEval)));
                    foreach (var t in Ints(parse.GetValue(chunks)!).Where(t => t <= samples.Count))
                        streamRows.Add(evaluation.Chunks(t, parse.GetValue(maxEval)));
                    perStream.Add(streamRows);
                    var counts = Ints(parse.GetValue(latency)!);
                    if (cost is null && counts.Count > 0) cost = evaluation.Cost(counts);
                }
                var rows = EditorEvaluation.Pool(perStream);
                var folder = parse.GetValue(output)!;
                Directory.CreateDirectory(folder);
                var markdown = (streamSeeds.Count > 1 ? $"Pooled over {streamSeeds.Count} streams (--seeds {string.Join(',', streamSeeds)}).\n\n" : "")
                    + (parse.GetValue(entities) is var half and not EntitySubset.All ? $"Edited entities: the {half} half of {parse.GetValue(split)} (whole families; not comparable with streams over the whole split).\n\n" : "")
                    + EditorEvaluation.Markdown(rows);
                if (cost is not null)
                {
                    markdown += string.Create(CultureInfo.InvariantCulture, $"\nExpert generation: {cost.GenerationMsPerEdit:F2} ms per edit. Greedy answer latency (one image query, {TorchRuntime.Threads} thread(s); each query timed back to back with the base model's answer to it):\n\n")
                        + EditorEvaluation.LatencyMarkdown(cost.QueryLatency);
                    markdown += "\nWhere the time goes (medians, one image query, teacher-forced; routing = input-side keys + hard filter over every expert + soft weights):\n\n"
                        + "| active experts | base forward ms | forward with experts ms | routing ms | of which input keys ms | survivors |\n|---:|---:|---:|---:|---:|---:|\n";
                    foreach (var b in cost.Breakdown)
                        markdown += string.Create(CultureInfo.InvariantCulture, $"| {b.Experts} | {b.BaseForwardMs:F2} | {b.ForwardMs:F2} | {b.RoutingMs:F2} | {b.KeysMs:F2} | {b.MeanSurvivors:F1} |\n");
                }
                File.WriteAllText(Path.Combine(folder, "editor-eval.md"), markdown);
                File.WriteAllText(Path.Combine(folder, "editor-eval.json"), EditorEvaluation.Json(rows, cost));
                AnsiConsole.WriteLine(markdown);
                return 0;
            }
            catch (Exception e) when (e is ArgumentException or InvalidDataException or CheckpointException or IOException)
            {
                Console.Error.WriteLine($"liveedit eval editor: {e.Message}");
                return 2;
            }
        });
        return command;
    }

    private static List<int> Ints(string csv) =>
        csv.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToList();
}
