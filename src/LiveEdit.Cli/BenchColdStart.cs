using System.CommandLine;
using LiveEdit.Bench.Ledger;
using LiveEdit.Hosting.Serving;

namespace LiveEdit.Cli;

/// <summary>
/// <c>liveedit bench coldstart --active N</c>: a host's cold start with N active experts (<see cref="ColdStartBench"/>):
/// ready time and where it goes, first head query after ready against the steady p50, the active set cold and warm at
/// several versions, a past version with about 5,000 experts, memory per active expert.
/// </summary>
internal static class BenchColdStart
{
    public static Command Create()
    {
        var active = new Option<int>("--active") { Description = "Active edits in the ledger (every 20th of them retracted afterwards).", DefaultValueFactory = _ => 10_000 };
        var schema = new Option<string?>("--schema") { Description = $"Schema to build in (default: Ledger__Schema, else '{ColdStartBench.DefaultSchema}'): a new or empty one, or one an earlier run made; never anything else." };
        var reuse = new Option<bool>("--reuse") { Description = "Measure the ledger an earlier run (with the same --active) left in --schema instead of building one." };
        var queries = new Option<int>("--queries") { Description = "Head queries timed after the first one.", DefaultValueFactory = _ => 60 };
        var threads = new Option<int>("--threads") { Description = "Intra-op threads of the model (a host's Model__Threads).", DefaultValueFactory = _ => 1 };
        var json = new Option<string?>("--json") { Description = "Also write the figures to this JSON file." };
        var command = new Command("coldstart", "A host's cold start with N active experts: ready time, first query vs steady p50, active set cold and warm, a 5,000-expert past version, memory per expert (needs ConnectionStrings__Ledger; run `liveedit services up`).")
        {
            active, schema, reuse, queries, threads, json,
        };
        command.SetAction(async (parse, ct) =>
        {
            // It creates and may drop its schema, which the application role may not: the owner does (so that `ledger migrate`
            // can later upgrade a kept schema), else the superuser.
            var connection = new[] { "ConnectionStrings__LedgerOwner", "ConnectionStrings__LedgerSuperuser", "ConnectionStrings__Ledger" }
                .Select(Environment.GetEnvironmentVariable).FirstOrDefault(v => !string.IsNullOrWhiteSpace(v));
            if (string.IsNullOrWhiteSpace(connection))
            {
                Console.Error.WriteLine("liveedit bench coldstart: ConnectionStrings__LedgerOwner is not set; run: eval \"$(infra/services env)\"");
                return 2;
            }
            var model = new ModelSettings { Threads = Math.Clamp(parse.GetValue(threads), 1, 256) }.ResolvedAgainst(ContentRoot.Find());
            var result = await ColdStartBench.RunAsync(connection, model, Math.Clamp(parse.GetValue(active), 1, 1_000_000), Console.Out, parse.GetValue(schema),
                parse.GetValue(reuse), Math.Clamp(parse.GetValue(queries), 1, 10_000), ct);
            if (parse.GetValue(json) is { Length: > 0 } path)
                await File.WriteAllTextAsync(path, System.Text.Json.JsonSerializer.Serialize(result, new System.Text.Json.JsonSerializerOptions { WriteIndented = true }), ct);
            return 0;
        });
        return command;
    }
}
