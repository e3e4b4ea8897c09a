using System.CommandLine;
using System.Globalization;
using LiveEdit.Model.Editor;
using LiveEdit.Model.Runtime;
using LiveEdit.Model.Vlm;
using LiveEdit.Research.World;
using Spectre.Console;
using static TorchSharp.torch;

namespace LiveEdit.Cli.Research;

/// <summary>
/// <c>liveedit train hubness</c>: builds an editor's filter bank from unnamed SynthWorld looks and sets the hubness
/// correction of its hard filter (our extension, see <see cref="FilterBank"/>).
/// </summary>
internal static class FilterBankCommand
{
    /// <summary>Seed of the bank's looks and questions.</summary>
    public const ulong Seed = 0xBA4C;

    /// <summary>
    /// A bank of <paramref name="size"/> entity questions about unnamed looks, rendered on the editor-training split
    /// (never an evaluation rendering, never an entity's look).
    /// </summary>
    public static FilterBank Build(IVisionLanguageModel model, EditorModules editor, int size)
    {
        if (size < 1) throw new ArgumentException($"the filter bank needs at least one query, not {size}");
        var world = new SynthWorld(WorldConfig.Default);
        var questions = world.UnnamedLookEntityQuestions(Seed, size, RenderSplit.EditorTrain);
        using var scope = NewDisposeScope();
        var examples = questions.Select(q => q.ToExample(withAnswer: false)).ToList();
        return FilterBank.Build(model, editor, examples);
    }

    public static Command Create()
    {
        var baseModel = new Option<string>("--base") { Description = "Frozen TinyVLM checkpoint folder.", DefaultValueFactory = _ => "models/tinyvlm" };
        var editorPath = new Option<string>("--editor") { Description = "Editor folder to change.", DefaultValueFactory = _ => "models/liveedit-editor" };
        var size = new Option<int>("--bank") { Description = "Reference queries in the filter bank (unnamed looks).", DefaultValueFactory = _ => 1024 };
        var weight = new Option<double>("--weight") { Description = "λ: keep iff sim(φ̄, φ̂_e) > sim(φ̄, φ̄_Ξ) − margin + λ·o_e; 0 = off (the paper's filter).", Required = true };
        var top = new Option<int>("--top") { Description = "K: o_e is the mean of the expert's K largest excesses over the bank's thresholds.", DefaultValueFactory = _ => 8 };
        var threads = new Option<int>("--threads") { Description = "Torch intra-op threads (the bank's bytes depend on it).", DefaultValueFactory = _ => 1 };
        var command = new Command("hubness", "Build an editor's filter bank (unnamed looks) and set its hubness correction (an extension beyond the paper).")
        {
            baseModel, editorPath, size, weight, top, threads,
        };
        command.SetAction(parse =>
        {
            try
            {
                TorchRuntime.Configure(parse.GetValue(threads), 0);
                var folder = parse.GetValue(editorPath)!;
                var vlm = TinyVlm.Load(parse.GetValue(baseModel)!);
                var (editor, file) = EditorModules.Load(folder);
                file.RequireBase(vlm.WeightsSha256);
                var before = editor.GeneratorSha256;
                var w = parse.GetValue(weight);
                var bank = w == 0 ? null : Build(vlm, editor, parse.GetValue(size));
                editor.WithHubness(bank, w, parse.GetValue(top));
                var command = "liveedit " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1));
                editor.Save(folder, file.Provenance with { HubnessCommand = command });
                AnsiConsole.MarkupLine(string.Create(CultureInfo.InvariantCulture,
                    $"{Markup.Escape(folder)}: default routing policy hubness λ {editor.DefaultPolicy.HubnessWeight:R}, top {editor.DefaultPolicy.HubnessTopK}, bank {bank?.Count ?? 0} ({bank?.Sha256[..12] ?? "none"}); generator SHA-256 {before[..12]} → [grey]{editor.GeneratorSha256}[/]"));
                return 0;
            }
            catch (Exception e) when (e is ArgumentException or InvalidDataException or IOException or CheckpointException)
            {
                Console.Error.WriteLine($"liveedit train hubness: {e.Message}");
                return 2;
            }
        });
        return command;
    }
}
