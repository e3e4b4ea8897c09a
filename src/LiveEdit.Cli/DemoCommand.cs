using System.CommandLine;
using System.Diagnostics;
using System.Text.Json.Nodes;
using LiveEdit.Bench;
using LiveEdit.Model.Images;
using LiveEdit.Research.World;
using Spectre.Console;

namespace LiveEdit.Cli;

/// <summary>
/// <c>liveedit demo</c>: the whole system on one machine. Brings the services up, starts the inference host
/// (in-memory transport, workers in-process, four-eyes approval) on a loopback port over a fresh demo ledger,
/// asks the committed model about a few SynthWorld images, proposes and approves edits, shows the answers change,
/// asks the past version, retracts an edit and shows its answer return, then verifies the ledger's hash chain.
/// The images it uses are written to <c>out/demo/</c>.
/// </summary>
internal static class DemoCommand
{
    private const string Proposer = "dev-proposer-key", Approver = "dev-approver-key", Auditor = "dev-auditor-key", Admin = "dev-admin-key";

    public static Command Create()
    {
        var output = new Option<string>("--out") { Description = "Folder for the images the demo uses.", DefaultValueFactory = _ => "out/demo" };
        var edits = new Option<int>("--edits") { Description = "How many edits to make (1-8).", DefaultValueFactory = _ => 3 };
        var seed = new Option<int>("--seed") { Description = "Which SynthWorld edit cases to use.", DefaultValueFactory = _ => 7 };
        var command = new Command("demo", "Run the whole system end to end on this machine and show what happens.") { output, edits, seed };
        command.SetAction(async (parse, ct) =>
        {
            try
            {
                await RunAsync(parse.GetValue(output)!, Math.Clamp(parse.GetValue(edits), 1, 8), parse.GetValue(seed), ct);
                return 0;
            }
            catch (Exception e) when (e is HostCallException or InvalidOperationException or IOException)
            {
                AnsiConsole.MarkupLineInterpolated($"[red]liveedit demo: {e.Message}[/]");
                return 1;
            }
        });
        return command;
    }

    private static async Task RunAsync(string outputFolder, int editCount, int seed, CancellationToken ct)
    {
        Rule("1. Services and the inference host");
        var clock = Stopwatch.StartNew();
        // A schema of its own (Ledger__Schema, else a fresh one dropped at the end); an older build's unmarked "demo" schema is left alone.
        await using var system = await EmbeddedSystem.StartAsync("demo", "FourEyes", ct, dropWhenDone: true);
        AnsiConsole.MarkupLineInterpolated($"PostgreSQL and RabbitMQ are up; the demo ledger lives in schema {system.Schema.Name} ({BenchSchema.Describe(system.Schema.Origin)}{(system.Schema.Origin == SchemaOrigin.Fresh ? ", dropped at the end" : "")}).");
        AnsiConsole.MarkupLineInterpolated($"inference host on [bold]{system.Address}[/] (in-memory transport, workers in-process, four-eyes approval), ready in {clock.Elapsed.TotalSeconds:F1} s");
        using var alice = system.Client(Proposer);
        using var bob = system.Client(Approver);
        using var carol = system.Client(Auditor);
        using var dana = system.Client(Admin);
        await ShowAsync(alice, bob, carol, dana, outputFolder, editCount, seed, system.Schema.Name, system.Schema.Origin == SchemaOrigin.Fresh, ct);
    }

    private static async Task ShowAsync(HostClient alice, HostClient bob, HostClient carol, HostClient dana, string outputFolder, int editCount, int seed,
        string schema, bool freshSchema, CancellationToken ct)
    {
        var world = new SynthWorld(WorldConfig.Default);
        var cases = world.EditCases(EditSplit.EditorEval, editCount, seed);
        Directory.CreateDirectory(outputFolder);
        var png = new Dictionary<string, byte[]>();
        foreach (var c in cases)
        {
            void Save(string name, RgbImage image)
            {
                var bytes = image.ToPng();
                File.WriteAllBytes(Path.Combine(outputFolder, name), bytes);
                png[name] = bytes;
            }
            Save($"case{c.Id}-edit.png", c.Edit.Image!);
            Save($"case{c.Id}-other-view.png", c.ImageGenerality.Image!);
            Save($"case{c.Id}-neighbour.png", c.ImageLocality.Image!);
        }
        AnsiConsole.MarkupLineInterpolated($"wrote {png.Count} images to [bold]{Path.GetFullPath(outputFolder)}[/]");

        Rule("2. The model before any edit");
        var before = (await carol.HeadAsync(ct))["version"]!.GetValue<long>();
        var table = new Table().AddColumns("image", "question", "model answers", "the edit will teach");
        foreach (var c in cases)
        {
            var answer = await carol.QueryAsync(png[$"case{c.Id}-edit.png"], c.Edit.Prompt, null, ct);
            table.AddRow($"case{c.Id}-edit.png", Markup.Escape(c.Edit.Prompt), $"[yellow]{Markup.Escape(answer["answer"]!.ToString())}[/]", $"[green]{Markup.Escape(c.NewTarget)}[/]");
        }
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLineInterpolated($"ledger version before the edits: [bold]{before}[/]");

        Rule("3. Propose (alice), approve (bob), expert generated by the worker");
        var ids = new List<Guid>();
        foreach (var c in cases)
        {
            // The first edit is proposed by dana (admin) to show the four-eyes rule: she may not approve her own edit.
            var proposer = ids.Count == 0 ? dana : alice;
            var proposed = await proposer.ProposeAsync(png[$"case{c.Id}-edit.png"], $"case{c.Id}-edit.png", c.Edit.Prompt, c.NewTarget,
                $"demo correction: {c.Attribute.ToString().ToLowerInvariant()} of entity {c.Entity.Id} is now {c.NewTarget}", ["demo"], null, ct);
            var id = proposed["editId"]!.GetValue<Guid>();
            ids.Add(id);
            AnsiConsole.MarkupLineInterpolated($"{(proposer == dana ? "dana" : "alice")} proposed [bold]{id}[/]: \"{c.Edit.Prompt}\" → \"{c.NewTarget}\"");
            if (proposer == dana)
            {
                try
                {
                    await dana.ApproveAsync(id, ct);
                }
                catch (HostCallException e)
                {
                    AnsiConsole.MarkupLineInterpolated($"  dana tries to approve her own edit: [red]{e.Message}[/]");
                }
            }
            await bob.ApproveAsync(id, ct);
            var active = await carol.WaitForStatusAsync(id, TimeSpan.FromMinutes(2), ct, "active");
            AnsiConsole.MarkupLineInterpolated($"  bob approved; expert [grey]{active["edit"]!["expertSha256"]!.ToString()[..16]}…[/] made by {active["edit"]!["workerId"]}; active from version {active["edit"]!["activatedAtVersion"]}");
        }
        var after = (await carol.HeadAsync(ct))["version"]!.GetValue<long>();

        Rule("4. The model after the edits");
        table = new Table().AddColumns("case", "edit image", "another view", "paraphrase", "neighbour (must not change)", "experts that fired");
        foreach (var c in cases)
        {
            var edit = await carol.QueryAsync(png[$"case{c.Id}-edit.png"], c.Edit.Prompt, null, ct, minVersion: after);
            var other = await carol.QueryAsync(png[$"case{c.Id}-other-view.png"], c.ImageGenerality.Prompt, null, ct, minVersion: after);
            var para = await carol.QueryAsync(png[$"case{c.Id}-edit.png"], c.TextGenerality.Prompt, null, ct, minVersion: after);
            var neighbour = await carol.QueryAsync(png[$"case{c.Id}-neighbour.png"], c.ImageLocality.Prompt, null, ct, minVersion: after);
            var fired = string.Join(", ", edit["experts"]!.AsArray().Select(e => $"{e!["editId"]!.ToString()[..8]} w={e["weight"]!.GetValue<float>():F2}"));
            table.AddRow($"{c.Id}", Mark(edit, c.NewTarget), Mark(other, c.NewTarget), Mark(para, c.NewTarget), Mark(neighbour, c.ImageLocality.Answer), fired);
        }
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine("[grey]green = the expected answer (the new target; for the neighbour, its own unchanged fact)[/]");

        Rule("5. Time travel: the model as of the version before the edits");
        foreach (var c in cases)
        {
            var past = await carol.QueryAsync(png[$"case{c.Id}-edit.png"], c.Edit.Prompt, before.ToString(), ct);
            var now = await carol.QueryAsync(png[$"case{c.Id}-edit.png"], c.Edit.Prompt, null, ct, minVersion: after);
            AnsiConsole.MarkupLineInterpolated($"case {c.Id}: as of version {past["version"]}: [yellow]{past["answer"]}[/]   now (version {now["version"]}): [green]{now["answer"]}[/]");
        }

        Rule("6. Retract the first edit (dana, admin)");
        var first = cases[0];
        var retracted = await dana.RetractAsync(ids[0], "demo: the correction was wrong", ct);
        AnsiConsole.MarkupLineInterpolated($"retracted [bold]{ids[0]}[/] at version {retracted["version"]}");
        var retractedAt = retracted["version"]!.GetValue<long>();
        var back = await carol.QueryAsync(png[$"case{first.Id}-edit.png"], first.Edit.Prompt, null, ct, minVersion: retractedAt);
        var old = await carol.QueryAsync(png[$"case{first.Id}-edit.png"], first.Edit.Prompt, before.ToString(), ct);
        var verdict = back["answer"]!.ToString() == old["answer"]!.ToString() ? "[green]the old answer is back[/]" : "[red]differs from before the edit[/]";
        AnsiConsole.MarkupLine($"case {first.Id} now answers [bold]{Markup.Escape(back["answer"]!.ToString())}[/] (before the edit: {Markup.Escape(old["answer"]!.ToString())}) — {verdict}");
        if (cases.Count > 1)
        {
            var kept = await carol.QueryAsync(png[$"case{cases[1].Id}-edit.png"], cases[1].Edit.Prompt, null, ct, minVersion: retractedAt);
            AnsiConsole.MarkupLineInterpolated($"case {cases[1].Id} keeps its edit: [green]{kept["answer"]}[/]");
        }
        var asOfAfter = await carol.QueryAsync(png[$"case{first.Id}-edit.png"], first.Edit.Prompt, after.ToString(), ct);
        AnsiConsole.MarkupLineInterpolated($"as of version {after} (before the retraction) case {first.Id} still answers [green]{asOfAfter["answer"]}[/]: history is kept");

        Rule("7. The ledger");
        var log = await carol.VersionsAsync(0, 1_000, modelChangesOnly: true, ct);
        foreach (var v in log.AsArray())
        {
            // The routing policy's events live on a stream of the ledger's own, not on an edit's.
            var what = v!["change"]!.ToString() == "RoutingPolicySet" ? "routing policy set" : $"{v["change"]} edit {v["editId"]!.ToString()[..8]}";
            AnsiConsole.MarkupLineInterpolated($"version {v["version"]}: {what} at {v["timestamp"]}");
        }
        var verify = await carol.VerifyAsync(ct);
        var chain = verify["isIntact"]!.GetValue<bool>() ? "[green]intact[/]" : $"[red]broken: {Markup.Escape(verify["firstBreak"]!.ToJsonString())}[/]";
        AnsiConsole.MarkupLine($"hash chain over {verify["eventsChecked"]} events: {chain}");
        if (freshSchema)
            AnsiConsole.MarkupLineInterpolated($"The demo ledger was in a fresh schema, dropped when the demo ends. To keep one and look around: Ledger__Schema=my_demo ./liveedit demo, then Ledger__Schema=my_demo ./liveedit serve --development and ./liveedit edit show {ids[^1]} --api-key dev-auditor-key");
        else
            AnsiConsole.MarkupLineInterpolated($"The demo ledger stays in schema '{schema}'. To look around: Ledger__Schema={schema} ./liveedit serve --development, then ./liveedit edit show {ids[^1]} --api-key dev-auditor-key");
    }

    private static string Mark(JsonNode answer, string expected)
    {
        var text = answer["answer"]!.ToString();
        return text == expected ? $"[green]{Markup.Escape(text)}[/]" : $"[red]{Markup.Escape(text)}[/]";
    }

    private static void Rule(string title) => RedirectedOutput.WriteRule(new Rule($"[bold]{Markup.Escape(title)}[/]").LeftJustified());
}
