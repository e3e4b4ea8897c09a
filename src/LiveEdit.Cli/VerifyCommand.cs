using System.CommandLine;
using LiveEdit.Hosting.Serving;
using LiveEdit.Ledger;
using Spectre.Console;

namespace LiveEdit.Cli;

/// <summary>
/// <c>liveedit verify</c>: walks the ledger's hash chain and lists every break and acknowledged incident; with
/// <c>--experts</c> it also reads and hashes every expert and image blob, and re-generates every recorded expert from
/// its chained edit and the committed checkpoints and compares the SHA-256s (reproducibility across machines is
/// checked, not assumed); with <c>--checkpoints</c> it proves the ledger still extends every signed checkpoint.
/// </summary>
internal static class VerifyCommand
{
    public static Command Create()
    {
        var schema = LedgerCommands.SchemaOption(); // default: Ledger__Schema, else ledger (as every ledger command)
        var experts = new Option<bool>("--experts") { Description = "Also re-generate every expert and compare hashes." };
        var baseFolder = new Option<string>("--base") { Description = "TinyVLM checkpoint folder.", DefaultValueFactory = _ => "models/tinyvlm" };
        var editorFolder = new Option<string>("--editor") { Description = "Editor folder.", DefaultValueFactory = _ => "models/liveedit-editor" };
        var threads = new Option<int>("--threads") { Description = "Torch threads (experts are bit-exact for the thread count they were made with).", DefaultValueFactory = _ => 1 };
        var checkpoints = CheckpointCommands.CheckpointsOption();
        var publicKey = CheckpointCommands.PublicKeyOption();
        var command = new Command("verify", "Check the ledger's hash chain; with --experts, re-generate experts and compare their SHA-256.")
        {
            schema, experts, baseFolder, editorFolder, threads,
        };
        command.Options.Add(checkpoints);
        command.Options.Add(publicKey);
        command.SetAction(async (parse, ct) =>
        {
            var connection = Environment.GetEnvironmentVariable("ConnectionStrings__Ledger");
            if (string.IsNullOrWhiteSpace(connection))
            {
                Console.Error.WriteLine("liveedit verify: ConnectionStrings__Ledger is not set; run: eval \"$(infra/services env)\"");
                return 2;
            }
            await using var store = LedgerStore.Create(connection, parse.GetValue(schema)!);
            byte[] chainKey;
            try
            {
                chainKey = LedgerCommands.ChainKeyFromEnvironment();
            }
            catch (InvalidOperationException e)
            {
                Console.Error.WriteLine($"liveedit verify: {e.Message}");
                return 2;
            }
            var ledger = new EditLedger(store, new LedgerOptions { ChainKey = chainKey });
            var chain = await ledger.VerifyAsync(ct);
            PrintChain(chain);
            var failed = !chain.IsIntact;
            failed |= !await CheckpointCommands.VerifyAsync(ledger, chain, parse.GetValue(checkpoints), parse.GetValue(publicKey), ct);
            if (parse.GetValue(experts))
                failed |= !await VerifyExpertsAsync(ledger, new ModelSettings
                {
                    BaseFolder = parse.GetValue(baseFolder)!, EditorFolder = parse.GetValue(editorFolder)!, Threads = parse.GetValue(threads),
                }.ResolvedAgainst(ContentRoot.Find()), ct);
            return failed ? 1 : 0;
        });
        return command;
    }

    /// <summary>Every break, then every acknowledged incident, one line each.</summary>
    private static void PrintChain(LiveEdit.Ledger.Audit.LedgerVerification chain)
    {
        if (chain.IsIntact)
            AnsiConsole.MarkupLineInterpolated($"hash chain: [green]intact[/] ({chain.EventsChecked} events, head {chain.Head})");
        else
            AnsiConsole.MarkupLineInterpolated($"hash chain: [red]{chain.Breaks.Count} break(s)[/] ({chain.EventsChecked} events match, head {chain.Head})");
        foreach (var b in chain.Breaks)
            AnsiConsole.MarkupLineInterpolated($"  [red]version {b.Version}[/] {b.Kind}{(b.EditId is { } id ? $" (edit {id})" : "")}: {b.Message}");
        foreach (var a in chain.Acknowledged)
            AnsiConsole.MarkupLineInterpolated($"  [yellow]version {a.Sequence}[/] {a.Kind} row, acknowledged at version {a.AcknowledgedAtVersion} by {a.AcknowledgedBy}: {a.Reason}");
    }

    private static async Task<bool> VerifyExpertsAsync(EditLedger ledger, ModelSettings settings, CancellationToken ct)
    {
        using var runtime = ModelRuntime.Load(settings);
        ExpertVerificationReport report = null!;
        await AnsiConsole.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .StartAsync(async progress =>
            {
                var task = progress.AddTask("re-generating experts", maxValue: 1);
                report = await ExpertVerification.VerifyAsync(ledger, runtime, (done, all) =>
                {
                    task.MaxValue = Math.Max(1, all);
                    task.Value = done;
                }, ct);
                task.Value = task.MaxValue;
            });
        AnsiConsole.MarkupLineInterpolated($"experts: {report.Identical} identical, [{(report.AllIdentical ? "green" : "red")}]{report.Different.Count} different[/], {report.OtherGenerator} made by another generator (not checked); {report.Threads} thread(s)");
        if (report.WithinTolerance > 0)
            AnsiConsole.MarkupLineInterpolated($"  {report.WithinTolerance} made or re-generated on an accelerator or in half precision: not the same bytes, every factor within its tolerance (docs/model-plugins.md)");
        foreach (var d in report.Different)
            AnsiConsole.MarkupLineInterpolated($"  [red]edit {d.EditId}: recorded {d.RecordedSha256[..16]}…, re-generated {d.RegeneratedSha256[..16]}… (worker {d.WorkerId})[/]");
        AnsiConsole.MarkupLineInterpolated($"blobs: [{(report.BrokenBlobs.Count == 0 ? "green" : "red")}]{report.BrokenBlobs.Count} missing or corrupt[/] (every expert and image blob read and hashed)");
        foreach (var b in report.BrokenBlobs)
            AnsiConsole.MarkupLineInterpolated($"  [red]edit {b.EditId}: {b.Role} blob {b.Sha256[..16]}… is {b.Problem}{(b.ActualSha256 is { } actual ? $" (stored bytes hash to {actual[..16]}…)" : "")}[/]");
        return report.AllIntact;
    }
}
