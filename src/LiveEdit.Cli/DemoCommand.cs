using System.CommandLine;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using LiveEdit.Inference;
using LiveEdit.Model.World;
using Npgsql;
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
        Rule("1. Services");
        ServicesUp();
        var connection = Environment.GetEnvironmentVariable("ConnectionStrings__Ledger")!;
        await ResetDemoSchemaAsync(connection, ct);
        AnsiConsole.MarkupLine("PostgreSQL and RabbitMQ are up (the demo uses the in-memory transport; RabbitMQ is there for scaled-out workers); the demo ledger lives in schema [bold]demo[/] (reset on every run).");

        Rule("2. Inference host");
        var url = $"http://127.0.0.1:{FreePort()}";
        var clock = Stopwatch.StartNew();
        var app = InferenceApp.Build(["--urls", url], b =>
        {
            b.Configuration["Ledger:Schema"] = "demo";
            b.Configuration["Ledger:ApprovalPolicy"] = "FourEyes";
            b.Configuration["Transport:Kind"] = "InMemory";
            b.Configuration["Workers:InProcess"] = "true";
            b.Configuration["Logging:LogLevel:Default"] = "Warning";
            b.Configuration["Logging:LogLevel:Microsoft"] = "Warning";
            b.Configuration["Logging:LogLevel:MassTransit"] = "Error";
        });
        await InferenceApp.PrepareAsync(app, ct);
        await app.StartAsync(ct);
        try
        {
            AnsiConsole.MarkupLineInterpolated($"listening on [bold]{url}[/] (in-memory transport, workers in-process, four-eyes approval), ready in {clock.Elapsed.TotalSeconds:F1} s");
            using var alice = new HostClient(new Uri(url), Proposer);
            using var bob = alice.As(Approver);
            using var carol = alice.As(Auditor);
            using var dana = alice.As(Admin);
            await ShowAsync(alice, bob, carol, dana, outputFolder, editCount, seed, ct);
        }
        finally
        {
            await app.StopAsync(CancellationToken.None);
            await app.DisposeAsync();
        }
    }

    private static async Task ShowAsync(HostClient alice, HostClient bob, HostClient carol, HostClient dana, string outputFolder, int editCount, int seed, CancellationToken ct)
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

        Rule("3. The model before any edit");
        var before = (await carol.HeadAsync(ct))["version"]!.GetValue<long>();
        var table = new Table().AddColumns("image", "question", "model answers", "the edit will teach");
        foreach (var c in cases)
        {
            var answer = await carol.QueryAsync(png[$"case{c.Id}-edit.png"], c.Edit.Prompt, null, ct);
            table.AddRow($"case{c.Id}-edit.png", Markup.Escape(c.Edit.Prompt), $"[yellow]{Markup.Escape(answer["answer"]!.ToString())}[/]", $"[green]{Markup.Escape(c.NewTarget)}[/]");
        }
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLineInterpolated($"ledger version before the edits: [bold]{before}[/]");

        Rule("4. Propose (alice), approve (bob), expert generated by the worker");
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

        Rule("5. The model after the edits");
        table = new Table().AddColumns("case", "edit image", "another view", "paraphrase", "neighbour (must not change)", "experts that fired");
        foreach (var c in cases)
        {
            var edit = await carol.QueryAsync(png[$"case{c.Id}-edit.png"], c.Edit.Prompt, null, ct);
            var other = await carol.QueryAsync(png[$"case{c.Id}-other-view.png"], c.ImageGenerality.Prompt, null, ct);
            var para = await carol.QueryAsync(png[$"case{c.Id}-edit.png"], c.TextGenerality.Prompt, null, ct);
            var neighbour = await carol.QueryAsync(png[$"case{c.Id}-neighbour.png"], c.ImageLocality.Prompt, null, ct);
            var fired = string.Join(", ", edit["experts"]!.AsArray().Select(e => $"{e!["editId"]!.ToString()[..8]} w={e["weight"]!.GetValue<float>():F2}"));
            table.AddRow($"{c.Id}", Mark(edit, c.NewTarget), Mark(other, c.NewTarget), Mark(para, c.NewTarget), Mark(neighbour, c.ImageLocality.Answer), fired);
        }
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine("[grey]green = the expected answer (the new target; for the neighbour, its own unchanged fact)[/]");

        Rule("6. Time travel: the model as of the version before the edits");
        foreach (var c in cases)
        {
            var past = await carol.QueryAsync(png[$"case{c.Id}-edit.png"], c.Edit.Prompt, before.ToString(), ct);
            var now = await carol.QueryAsync(png[$"case{c.Id}-edit.png"], c.Edit.Prompt, null, ct);
            AnsiConsole.MarkupLineInterpolated($"case {c.Id}: as of version {past["version"]}: [yellow]{past["answer"]}[/]   now (version {now["version"]}): [green]{now["answer"]}[/]");
        }

        Rule("7. Retract the first edit (dana, admin)");
        var first = cases[0];
        var retracted = await dana.RetractAsync(ids[0], "demo: the correction was wrong", ct);
        AnsiConsole.MarkupLineInterpolated($"retracted [bold]{ids[0]}[/] at version {retracted["version"]}");
        var back = await carol.QueryAsync(png[$"case{first.Id}-edit.png"], first.Edit.Prompt, null, ct);
        var old = await carol.QueryAsync(png[$"case{first.Id}-edit.png"], first.Edit.Prompt, before.ToString(), ct);
        var verdict = back["answer"]!.ToString() == old["answer"]!.ToString() ? "[green]the old answer is back[/]" : "[red]differs from before the edit[/]";
        AnsiConsole.MarkupLine($"case {first.Id} now answers [bold]{Markup.Escape(back["answer"]!.ToString())}[/] (before the edit: {Markup.Escape(old["answer"]!.ToString())}) — {verdict}");
        if (cases.Count > 1)
        {
            var kept = await carol.QueryAsync(png[$"case{cases[1].Id}-edit.png"], cases[1].Edit.Prompt, null, ct);
            AnsiConsole.MarkupLineInterpolated($"case {cases[1].Id} keeps its edit: [green]{kept["answer"]}[/]");
        }
        var asOfAfter = await carol.QueryAsync(png[$"case{first.Id}-edit.png"], first.Edit.Prompt, after.ToString(), ct);
        AnsiConsole.MarkupLineInterpolated($"as of version {after} (before the retraction) case {first.Id} still answers [green]{asOfAfter["answer"]}[/]: history is kept");

        Rule("8. The ledger");
        var log = await carol.VersionsAsync(0, 1_000, modelChangesOnly: true, ct);
        foreach (var v in log.AsArray())
            AnsiConsole.MarkupLineInterpolated($"version {v!["version"]}: {v["change"]} edit {v["editId"]!.ToString()[..8]} at {v["timestamp"]}");
        var verify = await carol.VerifyAsync(ct);
        var chain = verify["isIntact"]!.GetValue<bool>() ? "[green]intact[/]" : $"[red]broken: {Markup.Escape(verify["firstBreak"]!.ToJsonString())}[/]";
        AnsiConsole.MarkupLine($"hash chain over {verify["eventsChecked"]} events: {chain}");
        AnsiConsole.MarkupLineInterpolated($"The demo ledger stays in schema 'demo'. To look around: Ledger__Schema=demo ./liveedit serve, then ./liveedit edit show {ids[^1]} --api-key dev-auditor-key");
    }

    private static string Mark(JsonNode answer, string expected)
    {
        var text = answer["answer"]!.ToString();
        return text == expected ? $"[green]{Markup.Escape(text)}[/]" : $"[red]{Markup.Escape(text)}[/]";
    }

    private static void Rule(string title) => AnsiConsole.Write(new Rule($"[bold]{Markup.Escape(title)}[/]").LeftJustified());

    /// <summary>Runs infra/services up and takes the settings it prints into this process.</summary>
    private static void ServicesUp()
    {
        var script = ServicesCommand.FindScript() ?? throw new InvalidOperationException("infra/services not found; run the demo from inside the repository");
        var start = new ProcessStartInfo("bash", [script, "up"]) { RedirectStandardOutput = true, UseShellExecute = false };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"infra/services up failed (exit {process.ExitCode})");
        foreach (var line in output.Split('\n'))
        {
            // export Name='value'
            var text = line.Trim();
            if (!text.StartsWith("export ", StringComparison.Ordinal)) continue;
            var eq = text.IndexOf('=');
            Environment.SetEnvironmentVariable(text[7..eq], text[(eq + 1)..].Trim('\''));
        }
        if (Environment.GetEnvironmentVariable("ConnectionStrings__Ledger") is null)
            throw new InvalidOperationException("infra/services up printed no ConnectionStrings__Ledger");
    }

    private static async Task ResetDemoSchemaAsync(string connectionString, CancellationToken ct)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand("DROP SCHEMA IF EXISTS demo CASCADE", connection);
        await command.ExecuteNonQueryAsync(ct);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
