using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using LiveEdit.Research.World;
using Spectre.Console;

namespace LiveEdit.Cli;

/// <summary>
/// <c>liveedit bench query</c>: timed HTTP queries against a running inference host (any build that speaks the API), from
/// one or more concurrent clients, after a warm-up; optionally while edits are proposed. Reports per run throughput,
/// latency percentiles, errors and the versions the answers reported. Nothing is written to the ledger unless
/// <c>--edit-every-ms</c> is given.
/// </summary>
internal static class BenchQuery
{
    public static Command Create()
    {
        var host = new HostOptions();
        var queries = new Option<int>("--queries") { Description = "Timed queries per run.", DefaultValueFactory = _ => 100 };
        var warmup = new Option<int>("--warmup") { Description = "Untimed queries before each run.", DefaultValueFactory = _ => 10 };
        var clients = new Option<int>("--clients") { Description = "Concurrent clients.", DefaultValueFactory = _ => 1 };
        var runs = new Option<int>("--runs") { Description = "Runs (each with its own warm-up).", DefaultValueFactory = _ => 3 };
        var asOf = new Option<string?>("--as-of") { Description = "Ask as of this version or ISO-8601 time; default: the head." };
        var textOnly = new Option<bool>("--text-only") { Description = "Ask without images." };
        var editEvery = new Option<int>("--edit-every-ms") { Description = "Propose an edit every N ms during each run (0: none); needs --proposer-key.", DefaultValueFactory = _ => 0 };
        var proposerKey = new Option<string?>("--proposer-key") { Description = "API key that proposes the edits of --edit-every-ms." };
        var seed = new Option<int>("--seed") { Description = "Seed of the probe questions (SynthWorld evaluation split).", DefaultValueFactory = _ => 101 };
        var command = new Command("query", "Timed HTTP queries against a running host: throughput and latency percentiles.")
        {
            queries, warmup, clients, runs, asOf, textOnly, editEvery, proposerKey, seed,
        };
        host.AddTo(command);
        command.SetAction(async (parse, ct) => await HostOptions.RunAsync("bench query", async () =>
        {
            using var probe = host.Client(parse);
            var settings = new Settings(
                Math.Clamp(parse.GetValue(queries), 1, 1_000_000), Math.Clamp(parse.GetValue(warmup), 0, 10_000),
                Math.Clamp(parse.GetValue(clients), 1, 256), Math.Clamp(parse.GetValue(runs), 1, 100), parse.GetValue(asOf),
                parse.GetValue(textOnly), Math.Max(0, parse.GetValue(editEvery)), parse.GetValue(seed));
            HostClient? proposer = null;
            if (settings.EditEveryMs > 0)
            {
                var key = parse.GetValue(proposerKey);
                if (string.IsNullOrWhiteSpace(key)) throw new HostCallException("--edit-every-ms needs --proposer-key");
                proposer = probe.As(key);
            }
            using (proposer) await RunAsync(probe, proposer, settings, ct);
        }));
        return command;
    }

    private sealed record Settings(int Queries, int Warmup, int Clients, int Runs, string? AsOf, bool TextOnly, int EditEveryMs, int Seed);

    private static async Task RunAsync(HostClient client, HostClient? proposer, Settings s, CancellationToken ct)
    {
        var world = new SynthWorld(WorldConfig.Default);
        var probes = world.EditCases(EditSplit.EditorEval, 200, seed: s.Seed)
            .Select(c => (Png: s.TextOnly ? null : c.ImageGenerality.Image!.ToPng(), c.ImageGenerality.Prompt)).ToArray();
        var edits = s.EditEveryMs > 0 ? world.EditCases(EditSplit.EditorEval, 10_000, seed: s.Seed + 1) : [];
        var proposed = 0;
        AnsiConsole.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"bench query: {client.BaseAddress}, {s.Queries} queries x {s.Runs} runs, {s.Clients} client(s), warm-up {s.Warmup}, as of {s.AsOf ?? "head"}{(s.TextOnly ? ", text only" : "")}{(s.EditEveryMs > 0 ? $", an edit every {s.EditEveryMs} ms" : "")}"));
        for (var run = 1; run <= s.Runs; run++)
        {
            for (var i = 0; i < s.Warmup; i++)
            {
                var p = probes[i % probes.Length];
                await client.QueryAsync(p.Png, p.Prompt, s.AsOf, ct);
            }

            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var editing = proposer is null ? Task.CompletedTask : Task.Run(async () =>
            {
                using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(s.EditEveryMs));
                while (proposed < edits.Count && await timer.WaitForNextTickAsync(stop.Token).ConfigureAwait(false))
                {
                    var c = edits[proposed++];
                    await proposer.ProposeAsync(c.Edit.Image!.ToPng(), "edit.png", c.Edit.Prompt, c.NewTarget, "bench query load", null, null, stop.Token);
                }
            }, stop.Token);

            var latencies = new double[s.Queries];
            var versions = new long[s.Queries];
            var errors = 0;
            var next = -1;
            var clock = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, s.Clients).Select(_ => Task.Run(async () =>
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) < s.Queries)
                {
                    var p = probes[(s.Warmup + i) % probes.Length];
                    var watch = Stopwatch.StartNew();
                    try
                    {
                        var answer = await client.QueryAsync(p.Png, p.Prompt, s.AsOf, ct);
                        versions[i] = answer["version"]?.GetValue<long>() ?? -1;
                    }
                    catch (HostCallException)
                    {
                        Interlocked.Increment(ref errors);
                        versions[i] = -1;
                    }
                    latencies[i] = watch.Elapsed.TotalMilliseconds;
                }
            }, ct)));
            var seconds = clock.Elapsed.TotalSeconds;
            await stop.CancelAsync();
            try { await editing; } catch (OperationCanceledException) { }

            Array.Sort(latencies);
            double P(double q) => latencies[Math.Min(latencies.Length - 1, (int)Math.Ceiling(q * latencies.Length) - 1)];
            var seen = versions.Where(v => v >= 0).DefaultIfEmpty(-1).ToArray();
            AnsiConsole.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"run {run}: {s.Queries / seconds:F1} queries/s, p50 {P(0.50):F1} ms, p99 {P(0.99):F1} ms, max {latencies[^1]:F1} ms, errors {errors}, versions {seen.Min()}..{seen.Max()}{(proposer is null ? "" : $", edits proposed so far {proposed}")}"));
        }
    }
}
