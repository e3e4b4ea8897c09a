using System.CommandLine;
using System.Text.Json.Nodes;
using Spectre.Console;

namespace LiveEdit.Cli;

/// <summary><c>liveedit edit propose|approve|reject|retract|show|list</c>, <c>query</c>, <c>log</c>, <c>diff</c> over the host's API.</summary>
internal static class EditAndQueryCommands
{
    public static Command CreateEdit()
    {
        var edit = new Command("edit", "Propose, approve, reject, retract and read edits.");
        edit.Subcommands.Add(Propose());
        edit.Subcommands.Add(Decide("approve", "Approve an edit (under four-eyes, not your own).", (c, id, _) => c.ApproveAsync(id), needsReason: false));
        edit.Subcommands.Add(Decide("reject", "Reject an edit that is not active.", (c, id, r) => c.RejectAsync(id, r!), needsReason: true));
        edit.Subcommands.Add(Decide("retract", "Retract an edit (admin): the model is again what it was without it.", (c, id, r) => c.RetractAsync(id, r!), needsReason: true));
        edit.Subcommands.Add(Show());
        edit.Subcommands.Add(List());
        return edit;
    }

    private static Command Propose()
    {
        var host = new HostOptions();
        var image = new Option<string>("--image") { Description = "PNG (or JPEG) of the subject.", Required = true };
        var prompt = new Option<string>("--prompt") { Description = "The question the edit corrects.", Required = true };
        var target = new Option<string>("--target") { Description = "The new answer.", Required = true };
        var rationale = new Option<string>("--rationale") { Description = "Why (kept in the ledger).", DefaultValueFactory = _ => "" };
        var tags = new Option<string[]>("--tag") { Description = "Tags (repeatable)." };
        var supersedes = new Option<Guid?>("--supersedes") { Description = "An earlier edit this one replaces." };
        var command = new Command("propose", "Propose an edit.") { image, prompt, target, rationale, tags, supersedes };
        host.AddTo(command);
        command.SetAction((parse, ct) => HostOptions.RunAsync("edit propose", async () =>
        {
            using var client = host.Client(parse);
            var result = await client.ProposeAsync(parse.GetValue(image)!, parse.GetValue(prompt)!, parse.GetValue(target)!,
                parse.GetValue(rationale)!, parse.GetValue(tags), parse.GetValue(supersedes), ct);
            AnsiConsole.MarkupLineInterpolated($"edit [bold]{result["editId"]}[/] {result["status"]} at version {result["version"]}");
        }));
        return command;
    }

    private static Command Decide(string verb, string help, Func<HostClient, Guid, string?, Task<JsonNode>> call, bool needsReason)
    {
        var host = new HostOptions();
        var id = new Argument<Guid>("edit-id") { Description = "The edit." };
        var reason = new Option<string>("--reason") { Description = "Why (kept in the ledger).", Required = needsReason };
        var signAs = new Option<string?>("--sign-as") { Description = "Sign as this person (user name); the password is read from standard input (docs/signatures.md)." };
        var passwordStdin = new Option<bool>("--password-stdin") { Description = "With --sign-as: read the password from standard input (one line)." };
        var meaning = new Option<string?>("--meaning") { Description = "With --sign-as: what the signature means (approval, rejection, retraction, review, responsibility); default the decision's own." };
        var command = new Command(verb, help) { id };
        if (needsReason) command.Options.Add(reason);
        command.Options.Add(signAs);
        command.Options.Add(passwordStdin);
        command.Options.Add(meaning);
        host.AddTo(command);
        command.SetAction((parse, ct) => HostOptions.RunAsync($"edit {verb}", async () =>
        {
            using var client = host.Client(parse);
            var signer = parse.GetValue(signAs);
            if (signer is null && (parse.GetValue(passwordStdin) || parse.GetValue(meaning) is not null))
                throw new ArgumentException("--password-stdin and --meaning sign a decision: name the signer with --sign-as");
            if (signer is not null && !parse.GetValue(passwordStdin))
                throw new ArgumentException("--sign-as: give the password on standard input with --password-stdin; it is never taken from the command line");
            var result = signer is null
                ? await call(client, parse.GetValue(id), needsReason ? parse.GetValue(reason) : null)
                : await client.DecideSignedAsync(parse.GetValue(id), verb, needsReason ? parse.GetValue(reason) : null, signer,
                    (Console.In.ReadLine() ?? "").TrimEnd('\r', '\n'), parse.GetValue(meaning), ct);
            var events = string.Join(", ", result["events"]!.AsArray().Select(e => e!.GetValue<string>()));
            AnsiConsole.MarkupLineInterpolated($"edit [bold]{parse.GetValue(id)}[/]: {events} at version {result["version"]}");
        }));
        return command;
    }

    /// <summary>Stored text as it may be shown on a terminal: control characters and escape sequences made visible.</summary>
    internal static string Shown(JsonNode? node) => LiveEdit.Model.Text.Printable.Escape(node?.ToString());

    private static Command Show()
    {
        var host = new HostOptions();
        var id = new Argument<Guid>("edit-id") { Description = "The edit." };
        var command = new Command("show", "An edit and its full history.") { id };
        host.AddTo(command);
        command.SetAction((parse, ct) => HostOptions.RunAsync("edit show", async () =>
        {
            using var client = host.Client(parse);
            var result = await client.ShowAsync(parse.GetValue(id), ct);
            var edit = result["edit"]!;
            AnsiConsole.MarkupLineInterpolated($"[bold]{edit["id"]}[/] {edit["status"]}: \"{Shown(edit["prompt"])}\" → \"{Shown(edit["target"])}\" (by {Shown(edit["proposedBy"])})");
            if (result["projectionMismatch"]?.GetValue<bool>() == true)
                AnsiConsole.MarkupLineInterpolated($"[red]warning:[/] the stored summary disagrees with the chain in {LiveEdit.Model.Text.Printable.Escape(string.Join(", ", result["mismatchedFields"]?.AsArray().Select(f => f?.ToString()) ?? []))}; shown are the chain's values (run liveedit verify)");
            var table = new Table().AddColumns("version", "time", "event", "detail");
            foreach (var h in result["history"]!.AsArray())
                table.AddRow(h!["version"]!.ToString(), h["timestamp"]!.ToString(), h["type"]!.ToString(), Markup.Escape(h["event"]!.ToJsonString()));
            AnsiConsole.Write(table);
            if (result["signatures"]?.AsArray() is { Count: > 0 } signatures)
            {
                var signed = new Table().AddColumns("version", "event", "signed by", "meaning", "method", "signed at", "bound to");
                foreach (var s in signatures)
                {
                    var signature = s!["signature"]!;
                    var binding = signature["binding"]!;
                    signed.AddRow(s["version"]!.ToString(), Markup.Escape(s["type"]!.ToString()),
                        Markup.Escape($"{Shown(signature["signerName"])} ({Shown(signature["signerUserName"])})"), Markup.Escape(Shown(signature["meaning"])),
                        Markup.Escape(Shown(signature["method"])), Markup.Escape(Shown(signature["signedAt"])),
                        Markup.Escape($"content {Short(binding["editContentSha256"])}, generator {Short(binding["generatorSha256"])}, base {Short(binding["baseModelSha256"])}, expert {Short(binding["expertSha256"])}"));
                }
                AnsiConsole.Write(signed);
            }
        }));
        return command;
    }

    private static string Short(JsonNode? hash) => hash is null ? "none" : Shown(hash) is { Length: > 12 } h ? h[..12] : Shown(hash);

    private static Command List()
    {
        var host = new HostOptions();
        var status = new Option<string?>("--status") { Description = "Only edits with this status (proposed, approved, active, rejected, retracted, superseded)." };
        var take = new Option<int>("--take") { Description = "How many.", DefaultValueFactory = _ => 50 };
        var command = new Command("list", "Edits, newest first.") { status, take };
        host.AddTo(command);
        command.SetAction((parse, ct) => HostOptions.RunAsync("edit list", async () =>
        {
            using var client = host.Client(parse);
            var result = await client.ListAsync(parse.GetValue(status), parse.GetValue(take), ct);
            var table = new Table().AddColumn(IdColumn("edit")).AddColumns("status", "prompt", "target", "proposed by", "active from");
            foreach (var e in result.AsArray())
                table.AddRow(e!["id"]!.ToString(), e["status"]!.ToString(), Markup.Escape(Shown(e["prompt"])), Markup.Escape(Shown(e["target"])),
                    Markup.Escape(Shown(e["proposedBy"])), e["activatedAtVersion"]?.ToString() ?? "");
            AnsiConsole.Write(table);
        }));
        return command;
    }

    public static Command CreateQuery()
    {
        var host = new HostOptions();
        var image = new Option<string?>("--image") { Description = "PNG (or JPEG) to ask about; omit for a text-only question." };
        var prompt = new Option<string>("--prompt") { Description = "The question.", Required = true };
        var asOf = new Option<string?>("--as-of") { Description = "A ledger version number or an ISO-8601 time; default: now." };
        var minVersion = new Option<long?>("--min-version")
        {
            Description = "At the head: answer at this ledger version or later (e.g. the version an edit became active at); the host waits briefly for it.",
        };
        var command = new Command("query", "Ask the edited model, now or as of a past version.") { image, prompt, asOf, minVersion };
        host.AddTo(command);
        command.SetAction((parse, ct) => HostOptions.RunAsync("query", async () =>
        {
            using var client = host.Client(parse);
            var path = parse.GetValue(image);
            if (path is not null && !File.Exists(path)) throw new HostCallException($"image file '{path}' does not exist");
            var result = await client.QueryAsync(path is null ? null : File.ReadAllBytes(path), parse.GetValue(prompt)!, parse.GetValue(asOf), ct, parse.GetValue(minVersion));
            AnsiConsole.MarkupLineInterpolated($"[bold]{Shown(result["answer"])}[/]  (version {result["version"]})");
            foreach (var e in result["experts"]!.AsArray())
                AnsiConsole.MarkupLineInterpolated($"  expert of edit {e!["editId"]} weight {e["weight"]!.GetValue<float>():F3}");
        }));
        return command;
    }

    public static Command CreateLog()
    {
        var host = new HostOptions();
        var after = new Option<long>("--after") { Description = "Start after this version.", DefaultValueFactory = _ => 0 };
        var limit = new Option<int>("--limit") { Description = "How many versions.", DefaultValueFactory = _ => 100 };
        var modelOnly = new Option<bool>("--model-changes") { Description = "Only versions that changed the model." };
        var command = new Command("log", "Ledger versions and what changed at each.") { after, limit, modelOnly };
        host.AddTo(command);
        command.SetAction((parse, ct) => HostOptions.RunAsync("log", async () =>
        {
            using var client = host.Client(parse);
            var result = await client.VersionsAsync(parse.GetValue(after), parse.GetValue(limit), parse.GetValue(modelOnly), ct);
            var table = new Table().AddColumns("version", "time").AddColumn(IdColumn("edit")).AddColumns("change", "model changed");
            foreach (var v in result.AsArray())
                table.AddRow(v!["version"]!.ToString(), v["timestamp"]!.ToString(), v["editId"]!.ToString(), v["change"]!.ToString(), v["changesModel"]!.ToString());
            AnsiConsole.Write(table);
        }));
        return command;
    }

    /// <summary>A column of edit ids: never wrapped, so an id can be copied or grepped whole in a narrow terminal or a pipe (80 columns).</summary>
    private static TableColumn IdColumn(string header) => new TableColumn(header).NoWrap();

    public static Command CreateDiff()
    {
        var host = new HostOptions();
        var from = new Argument<long>("from") { Description = "Earlier version." };
        var to = new Argument<long?>("to") { Description = "Later version (default: head).", Arity = ArgumentArity.ZeroOrOne };
        var command = new Command("diff", "Edits that entered or left the model between two versions.") { from, to };
        host.AddTo(command);
        command.SetAction((parse, ct) => HostOptions.RunAsync("diff", async () =>
        {
            using var client = host.Client(parse);
            var result = await client.DiffAsync(parse.GetValue(from), parse.GetValue(to), ct);
            foreach (var a in result["activated"]!.AsArray()) AnsiConsole.MarkupLineInterpolated($"[green]+ {a!["editId"]}[/] (active from {a["activatedAtVersion"]})");
            foreach (var r in result["removed"]!.AsArray()) AnsiConsole.MarkupLineInterpolated($"[red]- {r!["editId"]}[/]");
            AnsiConsole.MarkupLineInterpolated($"{result["activated"]!.AsArray().Count} activated, {result["removed"]!.AsArray().Count} removed between {result["from"]} and {result["to"]}");
            if (result["policyFrom"]?["event"]?["policySha256"]?.ToString() is var before && result["policyTo"]?["event"]?["policySha256"]?.ToString() is var after && before != after)
                AnsiConsole.MarkupLineInterpolated($"[yellow]~ routing policy {before?[..12] ?? "(none)"} → {after?[..12] ?? "(none)"}[/] (set at version {result["policyTo"]?["version"]})");
        }));
        return command;
    }
}
