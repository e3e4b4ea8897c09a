using LiveEdit.Bench.Perf;
using LiveEdit.Testing;
using Shouldly;
using Xunit;

namespace LiveEdit.System.Tests;

/// <summary>
/// <c>liveedit bench perf</c> on a tiny configuration against the real host and PostgreSQL: both files written, every
/// figure measured over what was asked for, and the rebuild points are versions the ledger holds with the active
/// sets it reports. Speed is never asserted.
/// </summary>
[Collection(SystemCollection.Name)]
public sealed class measuring_performance(PostgresFixture postgres) : SchemaPerClass(postgres), IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("liveedit-perf-").FullName;

    [Fact]
    public async Task a_tiny_run_writes_both_files_with_every_figure_and_rebuild_points_the_ledger_agrees_with()
    {
        var settings = PerfSettings.Parse(edits: 3, "InMemory", latency: "20,0", queries: 3, seed: 1);
        RunningHost? host = null;
        var started = new List<string>();
        // The bench disposes what it is given; the host stays up here so the ledger can be checked after the run.
        var bench = new PerfBench(settings, async (transport, _) =>
        {
            started.Add(transport);
            host = await RunningHost.StartAsync(Settings.InMemory(Postgres, Schema));
            return new PerfSystem(host.Address, host.App.Services, new KeptRunning(), RunningHost.ProposerKey, RunningHost.AuditorKey);
        }) { Patience = TimeSpan.FromSeconds(60) };

        try
        {
            var report = await bench.RunAsync();
            var written = report.WriteTo(Path.Combine(_folder, "perf"));

            started.ShouldBe(["InMemory"]);
            File.ReadAllText(written[0]).ShouldBe(report.ToJson());
            PerfReport.FromJson(File.ReadAllText(written[0])).ToJson().ShouldBe(report.ToJson(), "perf.json reads back");
            var markdown = File.ReadAllText(written[1]);
            markdown.ShouldBe(PerfMarkdown.Render(report));

            report.Command.ShouldBe("liveedit bench perf --edits 3 --transports InMemory --latency 0,20 --queries 3 --seed 1");
            DateTimeOffset.TryParse(report.Date, out _).ShouldBeTrue(report.Date);
            report.Machine.Nproc.ShouldBeGreaterThan(0);
            report.Machine.Cpu.ShouldNotBeNullOrWhiteSpace();
            report.Threads.ShouldBe(host!.Runtime.Threads);

            var latency = report.EditLatency.ShouldHaveSingleItem();
            latency.Transport.ShouldBe("InMemory");
            latency.Edits.ShouldBe(3);
            latency.P50Ms.ShouldBeGreaterThan(0);
            latency.P50Ms.ShouldBeLessThanOrEqualTo(latency.P99Ms);
            latency.P99Ms.ShouldBeLessThanOrEqualTo(latency.MaxMs);
            markdown.ShouldContain("| InMemory | 3 |");

            var generation = report.Generation.ShouldNotBeNull();
            generation.Edits.ShouldBe(3);
            generation.MeanMs.ShouldBeGreaterThan(0);
            generation.P50Ms.ShouldBeGreaterThan(0);

            report.QueryLatency.Select(q => q.Experts).ShouldBe([0, 20], "the requested counts, ascending");
            report.QueryLatency.ShouldAllBe(q => q.MedianMs > 0 && q.MedianMs <= q.P95Ms);
            report.QueryLatency.ShouldAllBe(q => q.BaseMedianMs > 0 && q.Steps >= 1 && q.BaseSteps >= 1, "each point is timed in pairs with the base model");
            var zero = report.QueryLatency[0];
            zero.Steps.ShouldBe(zero.BaseSteps, "with no expert active the answers are the base model's");
            markdown.ShouldContain("| 0 |");
            markdown.ShouldContain("base median ms (same queries)");

            var decoding = report.Decoding.ShouldNotBeNull();
            decoding.Disagreements.ShouldBe(0, "the KV cache and batching change no answer");
            decoding.CachedMedianMs.ShouldBeGreaterThan(0);
            decoding.BatchSize.ShouldBe(8);
            markdown.ShouldContain("KV cache");

            // Rebuilds as of half (1 of 3) and all of the replayed edits; the ledger also holds the untimed warm-up edit.
            var rebuild = report.Rebuild.ShouldNotBeNull();
            var ledger = host.Ledger;
            rebuild.Head.ShouldBe(await ledger.GetHeadAsync());
            rebuild.Points.Select(p => p.Edits).ShouldBe([1, 3]);
            var edits = await ledger.ListEditsAsync(null, 0, 100);
            edits.Count.ShouldBe(4);
            var activations = edits.Select(e => e.ActivatedAtVersion.ShouldNotBeNull()).Order().ToList();
            foreach (var point in rebuild.Points)
            {
                activations.ShouldContain(point.Version, $"v{point.Version} activated an edit");
                activations.Count(v => v <= point.Version).ShouldBe(point.Edits + 1, $"v{point.Version} is the version of the {point.Edits}th replayed edit");
                (await ledger.GetActiveExpertsAsync(point.Version)).Experts.Count.ShouldBe(point.ActiveExperts, $"active experts as of v{point.Version}");
                point.ColdMedianMs.ShouldBeGreaterThan(0);
                point.ColdMedianMs.ShouldBeLessThanOrEqualTo(point.ColdMaxMs);
                point.WarmMedianMs.ShouldBeGreaterThan(0);
            }
            rebuild.Points[^1].Version.ShouldBe(activations[^1], "the last point is as of the last edit");
        }
        finally
        {
            if (host is not null) await host.DisposeAsync();
        }
    }

    [Fact]
    public async Task a_system_that_cannot_start_stops_the_run_and_no_figure_is_made_up()
    {
        var bench = new PerfBench(PerfSettings.Parse(2, "RabbitMq", "0", 3, 1),
            (transport, _) => throw new InvalidOperationException($"no broker for {transport}"));

        (await Should.ThrowAsync<InvalidOperationException>(() => bench.RunAsync())).Message.ShouldBe("no broker for RabbitMq");
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private sealed class KeptRunning : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}
