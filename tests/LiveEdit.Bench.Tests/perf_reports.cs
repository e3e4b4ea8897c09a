using LiveEdit.Bench.Perf;
using Shouldly;
using Xunit;

namespace LiveEdit.Bench.Tests;

/// <summary>perf.json and perf.md of <c>liveedit bench perf</c>, and the settings it accepts; no system runs here.</summary>
public sealed class perf_reports : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    // perf.json and perf.md as bench perf wrote them on 2026-11-25 (runs/bench-perf-v3, before the bench moved into the library).
    private const string RealJson = """
        {
          "command": "liveedit bench perf --edits 50 --transports InMemory,RabbitMq --latency 0,1000,10000,100000 --queries 30 --seed 1",
          "date": "2026-11-25T18:57:41Z",
          "machine": {
            "nproc": 2,
            "cpu": "AMD EPYC",
            "memoryGiB": 23.5,
            "os": "Unix 6.18.44.595",
            "loadAverage": "2.42 1.92 2.67"
          },
          "threads": 1,
          "generation": {
            "edits": 50,
            "meanMs": 2.789944,
            "p50Ms": 2.7469
          },
          "editLatency": [
            {
              "transport": "InMemory",
              "edits": 50,
              "p50Ms": 118.5011,
              "p99Ms": 145.1093,
              "maxMs": 145.1093
            },
            {
              "transport": "RabbitMq",
              "edits": 50,
              "p50Ms": 114.7113,
              "p99Ms": 122.3076,
              "maxMs": 122.3076
            }
          ],
          "queryLatency": [
            {
              "experts": 0,
              "medianMs": 3.4614,
              "p95Ms": 5.1449
            },
            {
              "experts": 1000,
              "medianMs": 4.4196,
              "p95Ms": 6.2811
            },
            {
              "experts": 10000,
              "medianMs": 6.9542,
              "p95Ms": 8.7835
            },
            {
              "experts": 100000,
              "medianMs": 24.007,
              "p95Ms": 40.2517
            }
          ],
          "rebuild": {
            "head": 204,
            "points": [
              {
                "version": 104,
                "edits": 25,
                "activeExperts": 26,
                "coldMedianMs": 20.7028,
                "coldMaxMs": 60.9951,
                "warmMedianMs": 8.1604
              },
              {
                "version": 204,
                "edits": 50,
                "activeExperts": 51,
                "coldMedianMs": 30.1798,
                "coldMaxMs": 40.705,
                "warmMedianMs": 7.8614
              }
            ]
          }
        }

        """;

    // The header's lines end in two spaces (markdown line breaks), which an editor trimming trailing spaces would eat from a raw string.
    private const string RealMarkdown =
        "**Command:** `liveedit bench perf --edits 50 --transports InMemory,RabbitMq --latency 0,1000,10000,100000 --queries 30 --seed 1`  \n" +
        "**Date:** 2026-11-25T18:57:41Z  \n" +
        "**Machine:** nproc 2, AMD EPYC, 23.5 GiB, Unix 6.18.44.595; load average at start 2.42 1.92 2.67; 1 torch thread(s)\n\n" + """
        Expert generation, one edit at a time over 50 edits: mean **2.79 ms**, p50 2.75 ms.

        | propose → active (HTTP, worker, ledger) | edits | p50 ms | p99 ms | max ms |
        |---|---:|---:|---:|---:|
        | InMemory | 50 | 118.5 | 145.1 | 145.1 |
        | RabbitMq | 50 | 114.7 | 122.3 | 122.3 |

        Greedy answer to one image query (`--queries` timed per point; per point the pass with the lower median of two):

        | active experts | query median ms | p95 ms | × base |
        |---:|---:|---:|---:|
        | 0 | 3.46 | 5.14 | 1.0 |
        | 1,000 | 4.42 | 6.28 | 1.3 |
        | 10,000 | 6.95 | 8.78 | 2.0 |
        | 100,000 | 24.01 | 40.25 | 6.9 |

        Past-version rebuild (ledger head v204); cold = first query as of the version on a new server, warm = the same query again:

        | as of version | edits replayed | active experts | cold median ms | cold max ms | warm median ms |
        |---:|---:|---:|---:|---:|---:|
        | 104 | 25 | 26 | 20.7 | 61.0 | 8.16 |
        | 204 | 50 | 51 | 30.2 | 40.7 | 7.86 |

        """;

    [Fact]
    public void a_report_of_an_earlier_run_reads_back_to_the_same_json_and_renders_the_markdown_it_came_with()
    {
        var report = PerfReport.FromJson(RealJson);

        report.ToJson().ShouldBe(RealJson);
        PerfMarkdown.Render(report).ShouldBe(RealMarkdown);
    }

    [Fact]
    public void figures_not_measured_leave_their_sections_out_and_without_a_zero_point_there_is_no_base_ratio()
    {
        var report = new PerfReport("liveedit bench perf", "2026-01-02T03:04:05Z", new MachineInfo(4, "Test CPU", 8, "Unix", "0.10 0.20 0.30"), 2,
            Generation: null, EditLatency: [], QueryLatency: [new QueryLatency(1000, 4.5, 6.25), new QueryLatency(20000, 9, 12)], Rebuild: null);

        PerfMarkdown.Render(report).ShouldBe(
            "**Command:** `liveedit bench perf`  \n**Date:** 2026-01-02T03:04:05Z  \n" +
            "**Machine:** nproc 4, Test CPU, 8 GiB, Unix; load average at start 0.10 0.20 0.30; 2 torch thread(s)\n\n" + """
            Greedy answer to one image query (`--queries` timed per point; per point the pass with the lower median of two):

            | active experts | query median ms | p95 ms | × base |
            |---:|---:|---:|---:|
            | 1,000 | 4.50 | 6.25 | – |
            | 20,000 | 9.00 | 12.00 | – |


            """);
    }

    [Fact]
    public void paired_query_timings_give_the_ratio_to_the_base_on_the_same_queries_and_per_decoding_step()
    {
        var report = new PerfReport("liveedit bench perf", "2026-01-02T03:04:05Z", new MachineInfo(4, "Test CPU", 8, "Unix", "0.10 0.20 0.30"), 1,
            Generation: null, EditLatency: [],
            QueryLatency: [new QueryLatency(0, 4, 5, 4, 2, 2), new QueryLatency(10000, 6, 7.5, 4, 3, 2)], Rebuild: null);

        PerfMarkdown.Render(report).ShouldContain("""
            | active experts | query median ms | p95 ms | base median ms (same queries) | × base | decoding steps (base) | × base per step |
            |---:|---:|---:|---:|---:|---:|---:|
            | 0 | 4.00 | 5.00 | 4.00 | 1.00 | 2.00 (2.00) | 1.00 |
            | 10,000 | 6.00 | 7.50 | 4.00 | 1.50 | 3.00 (2.00) | 1.00 |
            """);
        var back = PerfReport.FromJson(report.ToJson());
        back.QueryLatency.ShouldBe(report.QueryLatency);
        report.ToJson().ShouldContain("\"baseMedianMs\": 4");
    }

    [Fact]
    public void decoding_figures_read_back_and_give_both_speed_ups()
    {
        var report = new PerfReport("liveedit bench perf", "2026-01-02T03:04:05Z", new MachineInfo(4, "Test CPU", 8, "Unix", "0.10 0.20 0.30"), 1,
            Generation: null, EditLatency: [], QueryLatency: [], Rebuild: null) { Decoding = new DecodingTimes(40, 12, 4, 8, 10, 30, 0) };

        PerfMarkdown.Render(report).ShouldContain(
            "full recompute 12.00 ms, KV cache **4.00 ms** (3.00× faster); 8 queries as one batch 10.00 ms against 30.00 ms one at a time (3.00×); 0 answers differed.");
        PerfReport.FromJson(report.ToJson()).Decoding.ShouldBe(report.Decoding);
        (report with { Decoding = null }).ToJson().ShouldNotContain("decoding", Case.Insensitive, "earlier reports read and write as before");
    }

    [Fact]
    public void routing_is_reported_apart_from_fusion_with_fusion_per_survivor()
    {
        var report = new PerfReport("liveedit bench perf", "2026-01-02T03:04:05Z", new MachineInfo(4, "Test CPU", 8, "Unix", "0.10 0.20 0.30"), 1,
            Generation: null, EditLatency: [], QueryLatency: [], Rebuild: null)
        {
            Routing = [new RoutingLatency(100000, 0.75, 0.5, 0.25, 0.6, 1800, 700, 0.35, 1.05, 0.002, 5.5, 3)],
        };

        PerfMarkdown.Render(report).ShouldContain(
            "| 100,000 | 0.750 | 0.500 | 1800 | 0.250 | 0.600 | 700.0 | 0.350 | 1.050 | 0.0020 | 5.50 (3.00) |\n");
        var back = PerfReport.FromJson(report.ToJson());
        back.Routing.ShouldBe(report.Routing);
        report.ToJson().ShouldContain("\"fusionPerSurvivorMs\": 0.002");
        PerfReport.FromJson(RealJson).ToJson().ShouldNotContain("\"routing\"");
    }

    [Fact]
    public void write_to_creates_the_folder_and_writes_both_files()
    {
        var report = PerfReport.FromJson(RealJson);
        var folder = _temp["out/perf"];

        var written = report.WriteTo(folder);

        written.ShouldBe([Path.Combine(folder, "perf.json"), Path.Combine(folder, "perf.md")]);
        File.ReadAllText(written[0]).ShouldBe(RealJson);
        File.ReadAllText(written[1]).ShouldBe(RealMarkdown);
        File.ReadAllBytes(written[0]).Take(3).ShouldNotBe(new byte[] { 0xEF, 0xBB, 0xBF }, "no byte order mark");
    }

    [Fact]
    public void settings_name_transports_as_reports_do_and_take_latency_counts_distinct_and_ascending()
    {
        var settings = PerfSettings.Parse(5, " rabbitmq ,INMEMORY", "20, 0,-1,20", queries: 1, seed: 7);

        settings.Transports.ShouldBe(["RabbitMq", "InMemory"]);
        settings.LatencyCounts.ShouldBe([0, 20]);
        settings.Queries.ShouldBe(PerfSettings.MinQueries);
        settings.Command.ShouldBe("liveedit bench perf --edits 5 --transports RabbitMq,InMemory --latency 0,20 --queries 3 --seed 7");
    }

    [Theory]
    [InlineData(1, "InMemory", "0", "--edits must be at least 2")]
    [InlineData(3, "InMemory,Kafka", "0", "unknown transport 'Kafka'")]
    [InlineData(3, " , ", "0", "--transports names no transport")]
    [InlineData(3, "InMemory", "0,ten", "--latency: 'ten' is not a whole number")]
    public void bad_settings_are_refused_with_a_message_that_names_the_problem(int edits, string transports, string latency, string message)
    {
        Should.Throw<ArgumentException>(() => PerfSettings.Parse(edits, transports, latency, 3, 1)).Message.ShouldContain(message);
    }
}
