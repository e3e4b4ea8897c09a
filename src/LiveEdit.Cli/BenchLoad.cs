using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using LiveEdit.Research.World;
using Spectre.Console;

namespace LiveEdit.Cli;

/// <summary>
/// <c>liveedit bench load</c>: N queries from C concurrent clients over loopback HTTP against the embedded system
/// while edits are being proposed, approved and activated; reports throughput, latency percentiles and errors.
/// Bounded in count and time; loopback only.
/// </summary>
internal static class BenchLoad
{
    public static Command Create()
    {
        var queries = new Option<int>("--queries") { Description = "Total queries.", DefaultValueFactory = _ => 1000 };
        var clients = new Option<int>("--clients") { Description = "Concurrent clients.", DefaultValueFactory = _ => 8 };
        var editEvery = new Option<int>("--edit-every-ms") { Description = "Propose an edit every N ms during the run.", DefaultValueFactory = _ => 250 };
        var schema = new Option<string?>("--schema") { Description = BenchRun.SchemaDescription + " A fresh one is dropped at the end." };
        var command = new Command("load", "Query load on loopback while edits are proposed (embedded system, a schema of its own).") { queries, clients, editEvery, schema };
        command.SetAction(async (parse, ct) =>
        {
            var total = Math.Clamp(parse.GetValue(queries), 1, 100_000);
            var clientCount = Math.Clamp(parse.GetValue(clients), 1, 64);
            try
            {
                await RunAsync(total, clientCount, TimeSpan.FromMilliseconds(Math.Max(10, parse.GetValue(editEvery))), parse.GetValue(schema), ct);
                return 0;
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException or Npgsql.NpgsqlException)
            {
                Console.Error.WriteLine($"liveedit bench load: {e.Message}");
                return 2;
            }
        });
        return command;
    }

    private static async Task RunAsync(int total, int clients, TimeSpan editEvery, string? schema, CancellationToken ct)
    {
        await using var system = await EmbeddedSystem.StartAsync("bench_load", "AutoApprove", ct, schema: schema, dropWhenDone: true, log: Console.Out);
        var world = new SynthWorld(WorldConfig.Default);
        var probes = world.EditCases(EditSplit.EditorEval, 200, seed: 101).Select(c => (Png: c.ImageGenerality.Image!.ToPng(), c.ImageGenerality.Prompt)).ToArray();
        var edits = world.EditCases(EditSplit.EditorEval, 2_000, seed: 102);
        using var proposer = system.Client("dev-proposer-key");

        // Warm up: the first query builds caches and JIT-compiles the path.
        using (var warm = system.Client("dev-auditor-key")) await warm.QueryAsync(probes[0].Png, probes[0].Prompt, null, ct);

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var proposed = 0;
        var editing = Task.Run(async () =>
        {
            using var timer = new PeriodicTimer(editEvery);
            while (proposed < edits.Count && await timer.WaitForNextTickAsync(stop.Token).ConfigureAwait(false))
            {
                var c = edits[proposed];
                await proposer.ProposeAsync(c.Edit.Image!.ToPng(), "edit.png", c.Edit.Prompt, c.NewTarget, "load test", null, null, stop.Token);
                proposed++;
            }
        }, stop.Token);

        var latencies = new double[total];
        var errors = 0;
        var next = -1;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(_ => Task.Run(async () =>
        {
            using var client = system.Client("dev-auditor-key");
            int i;
            while ((i = Interlocked.Increment(ref next)) < total)
            {
                var probe = probes[i % probes.Length];
                var watch = Stopwatch.StartNew();
                try
                {
                    await client.QueryAsync(probe.Png, probe.Prompt, null, ct);
                }
                catch (HostCallException)
                {
                    Interlocked.Increment(ref errors);
                }
                latencies[i] = watch.Elapsed.TotalMilliseconds;
            }
        }, ct)));
        var seconds = clock.Elapsed.TotalSeconds;
        stop.Cancel();
        try { await editing; } catch (OperationCanceledException) { }

        using var auditor = system.Client("dev-auditor-key");
        var active = (await auditor.ListAsync("active", 10_000, ct)).AsArray().Count;
        Array.Sort(latencies);
        double P(double q) => latencies[Math.Min(latencies.Length - 1, (int)Math.Ceiling(q * latencies.Length) - 1)];
        var line = string.Create(CultureInfo.InvariantCulture,
            $"{total} queries, {clients} clients, {seconds:F1} s: {total / seconds:F1} queries/s, p50 {P(0.50):F1} ms, p99 {P(0.99):F1} ms, max {latencies[^1]:F1} ms, errors {errors}; edits proposed during the run {proposed}, active at the end {active}");
        AnsiConsole.WriteLine(line);
    }
}
