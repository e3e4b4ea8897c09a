using System.CommandLine;
using LiveEdit.Bench.Import;
using LiveEdit.Bench.Streams;
using LiveEdit.Hosting.Serving;
using LiveEdit.Ledger;
using LiveEdit.Model.Vlm;
using LiveEdit.Research.World;
using Spectre.Console;

namespace LiveEdit.Cli;

/// <summary><c>liveedit bench …</c>: benchmark streams and measurements.</summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var bench = new Command("bench", "Benchmark streams (make, import, show) and measurements.");
        bench.Subcommands.Add(Make());
        bench.Subcommands.Add(Import());
        bench.Subcommands.Add(Ledger());
        bench.Subcommands.Add(BenchLoad.Create());
        bench.Subcommands.Add(BenchQuery.Create());
        bench.Subcommands.Add(BenchSoak.Create());
        bench.Subcommands.Add(BenchRun.Create());
        bench.Subcommands.Add(Research.BenchBaselines.Create());
        bench.Subcommands.Add(BenchReportCommand.Create());
        bench.Subcommands.Add(BenchPerf.Create());
        bench.Subcommands.Add(BenchFixture.Create());
        bench.Subcommands.Add(BenchColdStart.Create());
        return bench;
    }

    private static Command Make()
    {
        var count = new Option<int>("--cases") { Description = "Number of edit cases.", DefaultValueFactory = _ => 1000 };
        var seed = new Option<int>("--seed") { Description = "Stream seed.", DefaultValueFactory = _ => 1 };
        var output = new Option<string>("--out") { Description = "New folder for the stream.", Required = true };
        var train = new Option<bool>("--editor-train-split") { Description = "Draw from the editor-training split instead of the evaluation split." };
        var independent = new Option<bool>("--independent")
        {
            Description = "Leave out each case's entity:/attribute: tags, so that no edit supersedes another when replayed (every edit stays active).",
        };
        var command = new Command("make", "Write a SynthWorld stream (JSONL + PNG) of any length; same seed, same bytes.") { count, seed, output, train, independent };
        command.SetAction(parse =>
        {
            try
            {
                var world = new SynthWorld(WorldConfig.Default);
                var n = parse.GetValue(count);
                var s = parse.GetValue(seed);
                var alone = parse.GetValue(independent);
                var stream = SynthWorldStreams.Make(world, n, s, parse.GetValue(output)!,
                    parse.GetValue(train) ? EditSplit.EditorTrain : EditSplit.EditorEval, $"liveedit bench make --cases {n} --seed {s}" + (alone ? " --independent" : ""),
                    factTags: !alone);
                AnsiConsole.MarkupLineInterpolated($"wrote {stream.Cases.Count} cases to [bold]{stream.Folder}[/]");
                return 0;
            }
            catch (Exception e) when (e is IOException or ArgumentException or StreamFormatException)
            {
                Console.Error.WriteLine($"liveedit bench make: {e.Message}");
                return 2;
            }
        });
        return command;
    }

    private static Command Import()
    {
        var input = new Option<string>("--input") { Description = "MMEdit/VLKEB JSON (array) or JSON-lines file.", Required = true };
        var images = new Option<string>("--images") { Description = "Folder the records' image paths are relative to.", Required = true };
        var layout = new Option<ExternalLayout>("--layout") { Description = "EVqa, EIc or Vlkeb.", DefaultValueFactory = _ => ExternalLayout.EVqa };
        var size = new Option<int>("--image-size") { Description = "Side of the square images the stream stores (TinyVLM reads 32; a larger model brings them to its own input).", DefaultValueFactory = _ => WorldConfig.Default.ImageSize };
        var output = new Option<string>("--out") { Description = "New folder for the stream.", Required = true };
        var model = new Option<string>("--model") { Description = "Base model checkpoint whose limits every edit must fit (prompt and target length, target words or tokens).", DefaultValueFactory = _ => "models/tinyvlm" };
        var kind = new Option<string?>("--model-kind") { Description = "Kind of --model (TinyVlm, Llava; default: Model__Kind, else TinyVlm)." };
        var command = new Command("import", "Convert an MMEdit (E-VQA, E-IC) or VLKEB file into a stream; nothing is written unless every record is good.")
        {
            input, images, layout, size, output, model, kind,
        };
        command.SetAction(parse =>
        {
            try
            {
                var vlm = VlmLoader.Load(parse.GetValue(kind) ?? Environment.GetEnvironmentVariable(VlmLoader.KindSetting),
                    Path.GetFullPath(parse.GetValue(model)!, ContentRoot.Find()));
                BenchStream stream;
                try
                {
                    stream = MmEditImporter.Import(parse.GetValue(input)!, parse.GetValue(images)!, parse.GetValue(layout), parse.GetValue(size), parse.GetValue(output)!,
                        $"liveedit bench import --layout {parse.GetValue(layout)}", vlm.CheckEditText);
                }
                finally
                {
                    (vlm as IDisposable)?.Dispose();
                }
                AnsiConsole.MarkupLineInterpolated($"imported {stream.Cases.Count} cases into [bold]{stream.Folder}[/]");
                return 0;
            }
            catch (Exception e) when (e is IOException or StreamFormatException or CheckpointException or ModelConfigurationException)
            {
                Console.Error.WriteLine($"liveedit bench import: {e.Message}");
                return 2;
            }
        });
        return command;
    }

    private static Command Ledger()
    {
        var edits = new Option<int>("--edits") { Description = "Edits whose full lifecycle is appended.", DefaultValueFactory = _ => 10_000 };
        var writers = new Option<int>("--writers") { Description = "Concurrent writers.", DefaultValueFactory = _ => 4 };
        var schema = new Option<string?>("--schema") { Description = LiveEdit.Bench.Ledger.LedgerBench.SchemaDescription };
        var reuse = new Option<bool>("--reuse") { Description = "With --active: measure the ledger an earlier --active run left in --schema instead of building one." };
        var active = new Option<int>("--active") { Description = "Instead: append N active edits in bulk, retract every 20th from --writers writers, measure the active set (cold and warm) and its memory.", DefaultValueFactory = _ => 0 };
        var command = new Command("ledger", "Append N edits' lifecycles; measure append rate, active-set reads, verification and size (needs ConnectionStrings__Ledger; run `liveedit services up`).")
        {
            edits, writers, schema, active, reuse,
        };
        command.SetAction(async (parse, ct) =>
        {
            // It drops and re-creates its schema, which the application role may not: the owner does (so that `ledger migrate`
            // can later upgrade a kept schema), else the superuser.
            var connection = new[] { "ConnectionStrings__LedgerOwner", "ConnectionStrings__LedgerSuperuser", "ConnectionStrings__Ledger" }
                .Select(Environment.GetEnvironmentVariable).FirstOrDefault(v => !string.IsNullOrWhiteSpace(v));
            if (string.IsNullOrWhiteSpace(connection))
            {
                Console.Error.WriteLine("liveedit bench ledger: ConnectionStrings__LedgerOwner is not set; run: eval \"$(infra/services env)\"");
                return 2;
            }
            if (parse.GetValue(active) > 0)
            {
                await LiveEdit.Bench.Ledger.LedgerBench.RunActiveSetAsync(connection, parse.GetValue(active), Console.Out, parse.GetValue(schema), parse.GetValue(writers), parse.GetValue(reuse), ct);
                return 0;
            }
            var result = await LiveEdit.Bench.Ledger.LedgerBench.RunAsync(connection, parse.GetValue(edits), Console.Out, parse.GetValue(schema), parse.GetValue(writers), ct);
            Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(result, new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
            return 0;
        });
        return command;
    }
}
