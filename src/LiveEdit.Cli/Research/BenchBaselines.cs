using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using LiveEdit.Bench.Streams;
using LiveEdit.Model.Runtime;
using LiveEdit.Model.Vlm;
using LiveEdit.Research.Baselines;
using LiveEdit.Research.Editing;
using Spectre.Console;

namespace LiveEdit.Cli.Research;

/// <summary>
/// <c>liveedit bench baselines</c>: FT-L, sequential LoRA and the GRACE-style codebook replayed over a stream in
/// process (baselines do not go through the ledger), with the same metrics and lifelong protocol as LiveEdit; per
/// method a folder with metrics.json (the shape <c>bench run</c> writes), metrics.md and run.json.
/// </summary>
internal static class BenchBaselines
{
    public static Command Create()
    {
        var stream = new Option<string>("--stream") { Description = "Stream folder (bench make / bench import).", Required = true };
        var methods = new Option<string>("--methods") { Description = $"Comma-separated baselines: {string.Join(", ", BaselineMethods.Names)}.", DefaultValueFactory = _ => string.Join(',', BaselineMethods.Names) };
        var checkpoints = new Option<string>("--checkpoints") { Description = "Lifelong checkpoints (edit counts).", DefaultValueFactory = _ => "1,10,100,1000" };
        var chunks = new Option<string>("--chunks") { Description = "Paper protocol chunk sizes (empty: skip).", DefaultValueFactory = _ => "" };
        var maxEval = new Option<int>("--max-eval") { Description = "At most this many cases measured per checkpoint (evenly spaced).", DefaultValueFactory = _ => 1000 };
        var baseModel = new Option<string>("--base") { Description = "Frozen base model checkpoint folder (its kind from --base-kind, Model__Kind or the folder).", DefaultValueFactory = _ => "models/tinyvlm" };
        var baseKind = new Option<string?>("--base-kind") { Description = "Kind of --base (TinyVlm, Llava)." };
        var threads = new Option<int>("--threads") { Description = "Torch intra-op threads.", DefaultValueFactory = _ => 1 };
        var seed = new Option<int>("--seed") { Description = "Torch seed.", DefaultValueFactory = _ => 0 };
        var noExact = new Option<bool>("--no-exact-match") { Description = "Skip greedy decoding (faster)." };
        var output = new Option<string>("--out") { Description = "Folder for one sub-folder per method.", DefaultValueFactory = _ => "runs/baselines" };
        var settings = new Option<string[]>("--set") { Description = "Change a method's setting, e.g. grace.epsilon=8 or ft-l.steps=10 (repeatable; names as in run.json's settings)." };
        var command = new Command("baselines", "Run FT-L, sequential LoRA and a GRACE-style codebook over a stream; lifelong metrics per method.")
        {
            stream, methods, checkpoints, chunks, maxEval, baseModel, baseKind, threads, seed, noExact, output, settings,
        };
        command.SetAction(parse =>
        {
            try
            {
                var names = parse.GetValue(methods)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                    .Select(BaselineMethods.Check).Distinct().ToList();
                if (names.Count == 0) throw new ArgumentException($"no method given; known methods: {string.Join(", ", BaselineMethods.Names)}");
                var overrides = Overrides(parse.GetValue(settings) ?? []);
                foreach (var method in overrides.Keys.Where(m => !names.Contains(m)))
                    throw new ArgumentException($"--set names {method}, which this run does not include (methods: {string.Join(", ", names)})");
                var points = Ints(parse.GetValue(checkpoints)!);
                var chunkSizes = Ints(parse.GetValue(chunks)!);
                var bench = BenchStream.Read(parse.GetValue(stream)!);
                TorchRuntime.Configure(parse.GetValue(threads), parse.GetValue(seed));
                var vlm = BaseModels.Load(parse.GetValue(baseModel)!, parse.GetValue(baseKind));
                using var owned = vlm as IDisposable;
                var samples = StreamSamples.From(bench, vlm);
                foreach (var name in names)
                    Run(name, overrides.GetValueOrDefault(name), vlm, bench, samples, points, chunkSizes, parse.GetValue(maxEval), !parse.GetValue(noExact), Path.Combine(parse.GetValue(output)!, name));
                return 0;
            }
            catch (Exception e) when (e is ArgumentException or StreamFormatException or IOException or CheckpointException or FormatException or ModelConfigurationException)
            {
                Console.Error.WriteLine($"liveedit bench baselines: {e.Message}");
                return 2;
            }
        });
        return command;
    }

    /// <summary>"method.setting=value" items → per method, setting → value.</summary>
    private static Dictionary<string, Dictionary<string, string>> Overrides(IEnumerable<string> items)
    {
        var result = new Dictionary<string, Dictionary<string, string>>();
        foreach (var item in items)
        {
            var eq = item.IndexOf('=');
            var dot = eq < 0 ? -1 : item.LastIndexOf('.', eq);
            if (eq < 0 || dot <= 0 || dot == eq - 1 || eq == item.Length - 1)
                throw new ArgumentException($"--set '{item}': expected method.setting=value, e.g. grace.epsilon=8");
            var method = BaselineMethods.Check(item[..dot]);
            if (!result.TryGetValue(method, out var settings)) result[method] = settings = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            settings[item[(dot + 1)..eq].Trim()] = item[(eq + 1)..].Trim();
        }
        return result;
    }

    private static void Run(string method, IReadOnlyDictionary<string, string>? overrides, IVisionLanguageModel vlm, BenchStream bench, IReadOnlyList<EditSample> samples, IReadOnlyList<int> checkpoints,
        IReadOnlyList<int> chunkSizes, int maxEval, bool exactMatch, string folder)
    {
        using var editor = BaselineMethods.Create(method, vlm, overrides);
        var evaluation = new BaselineEvaluation(vlm, editor, samples)
        {
            ExactMatch = exactMatch,
            Log = line => AnsiConsole.WriteLine(line),
        };
        AnsiConsole.MarkupLineInterpolated($"[bold]{method}[/] over {bench.Manifest.Name} ({samples.Count} cases), checkpoints {string.Join(',', checkpoints)}");
        var clock = Stopwatch.StartNew();
        var rows = new List<EditMetrics>(evaluation.Lifelong(checkpoints, maxEval));
        foreach (var t in chunkSizes.Where(t => t <= samples.Count)) rows.Add(evaluation.Chunks(t, maxEval));
        var seconds = clock.Elapsed.TotalSeconds;

        Directory.CreateDirectory(folder);
        var utf8 = new UTF8Encoding(false);
        var cost = new EditorCost(evaluation.EditMsPerEdit, []);
        var markdown = EditorEvaluation.Markdown(rows) + string.Create(CultureInfo.InvariantCulture,
            $"\n{method}: {evaluation.EditMsPerEdit:F1} ms per edit; whole run {seconds:F0} s with {TorchRuntime.Threads} thread(s). A baseline has no filter: filter P/R and survivors are NaN; \"active experts\" counts {(method == "grace" ? "codebook entries" : "edits applied")}.\n");
        File.WriteAllText(Path.Combine(folder, "metrics.md"), markdown, utf8);
        File.WriteAllText(Path.Combine(folder, "metrics.json"), EditorEvaluation.Json(rows, cost), utf8);
        File.WriteAllText(Path.Combine(folder, "run.json"), JsonSerializer.Serialize(new
        {
            method,
            settings = BaselineMethods.Settings(editor),
            stream = bench.Manifest.Name,
            cases = samples.Count,
            checkpoints,
            maxEval,
            baseModelSha256 = vlm.WeightsSha256,
            threads = TorchRuntime.Threads,
            msPerEdit = evaluation.EditMsPerEdit,
            wallSeconds = seconds,
        }, new JsonSerializerOptions { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals }) + "\n", utf8);
        AnsiConsole.WriteLine(markdown);
        AnsiConsole.MarkupLineInterpolated($"{method}: results in [bold]{Path.GetFullPath(folder)}[/]");
    }

    private static List<int> Ints(string csv) =>
        csv.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s => int.Parse(s, CultureInfo.InvariantCulture)).ToList();
}
