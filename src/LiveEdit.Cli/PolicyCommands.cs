using System.CommandLine;
using System.Globalization;
using Spectre.Console;

namespace LiveEdit.Cli;

/// <summary><c>liveedit policy show|set</c>: the routing policy in force (docs/routing-policy.md), through the inference host.</summary>
internal static class PolicyCommands
{
    public static Command Create()
    {
        var group = new Command("policy", "The routing policy in force (margin, band, hubness): show it, or (admin) set it from the next version on.");
        group.Subcommands.Add(CreateShow());
        group.Subcommands.Add(CreateSet());
        return group;
    }

    private static Command CreateShow()
    {
        var host = new HostOptions();
        var version = new Option<long?>("--version") { Description = "The version to show the policy of (default: head)." };
        var command = new Command("show", "The routing policy in force at a version, and every recorded one.") { version };
        host.AddTo(command);
        command.SetAction((parse, ct) => HostOptions.RunAsync("policy show", async () =>
        {
            using var client = host.Client(parse);
            var state = await client.RoutingPolicyAsync(parse.GetValue(version), ct);
            var inForce = state["inForce"]!;
            AnsiConsole.MarkupLineInterpolated($"at version {state["atVersion"]}: routing policy {inForce["sha256"]} {Describe(inForce["policy"]!)}");
            var table = new Table().AddColumns("version", "sha-256", "policy", "set by", "reason");
            foreach (var e in state["history"]!.AsArray())
                table.AddRow(Markup.Escape(e!["version"]!.ToString()), Markup.Escape(e["sha256"]!.ToString()[..12]), Markup.Escape(Describe(e["policy"]!)),
                    Markup.Escape(e["setBy"]?.ToString() ?? ""), Markup.Escape(e["reason"]?.ToString() ?? ""));
            AnsiConsole.Write(table);
            var fallback = state["editorDefault"]!;
            AnsiConsole.MarkupLineInterpolated($"editor default: {fallback["sha256"]} {Describe(fallback["policy"]!)}");
        }));
        return command;
    }

    private static Command CreateSet()
    {
        var host = new HostOptions();
        var margin = new Option<double>("--margin") { Description = "Hard filter: keep e iff sim(φ̄, φ̂_e) > sim(φ̄, φ̄_Ξ) − margin; 0 = the paper's filter.", DefaultValueFactory = _ => 0 };
        var band = new Option<double>("--band") { Description = "Keep only survivors within this much of the best one; 0 = off.", DefaultValueFactory = _ => 0 };
        var weight = new Option<double>("--hubness-weight") { Description = "λ of the hubness correction; 0 = off.", DefaultValueFactory = _ => 0 };
        var top = new Option<int>("--hubness-top") { Description = "K of the hubness correction (with a weight).", DefaultValueFactory = _ => 0 };
        var bank = new Option<string?>("--filter-bank") { Description = "SHA-256 of the editor's filter bank (with a weight)." };
        var reason = new Option<string>("--reason") { Description = "Why: recorded in the ledger with the change.", Required = true };
        var ifMatch = new Option<string?>("--if-match") { Description = "Refuse unless the policy in force is the one set at this version (the ETag of policy show)." };
        var key = new Option<string?>("--idempotency-key") { Description = "Makes a retry safe: the same key sets the policy once." };
        var command = new Command("set", "Set the routing policy from the next version on (admin key); earlier versions keep theirs.")
        {
            margin, band, weight, top, bank, reason, ifMatch, key,
        };
        host.AddTo(command);
        command.SetAction((parse, ct) => HostOptions.RunAsync("policy set", async () =>
        {
            using var client = host.Client(parse);
            var body = new
            {
                margin = parse.GetValue(margin), band = parse.GetValue(band), hubnessWeight = parse.GetValue(weight), hubnessTopK = parse.GetValue(top),
                filterBankSha256 = parse.GetValue(bank), reason = parse.GetValue(reason),
            };
            var tag = parse.GetValue(ifMatch) is { } v ? $"\"{v.Trim('"')}\"" : null;
            var result = await client.SetRoutingPolicyAsync(body, tag, parse.GetValue(key), ct);
            AnsiConsole.MarkupLineInterpolated($"routing policy [bold]{result["sha256"]}[/] in force from version {result["version"]}{(result["replayed"]?.GetValue<bool>() == true ? " (already set by this request)" : "")}");
        }));
        return command;
    }

    private static string Describe(System.Text.Json.Nodes.JsonNode p) => string.Create(CultureInfo.InvariantCulture,
        $"margin {p["margin"]}, band {p["band"]}, hubness λ {p["hubnessWeight"]} top {p["hubnessTopK"]}{(p["filterBankSha256"] is { } b ? $" bank {b.ToString()[..12]}" : "")}");
}
