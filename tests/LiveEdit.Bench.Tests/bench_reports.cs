using LiveEdit.Bench.Reports;
using Shouldly;
using Xunit;

namespace LiveEdit.Bench.Tests;

public sealed class bench_reports : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private static string Row(string protocol, int edits, double rel, string mloc = "90") => $$"""
        { "Protocol": "{{protocol}}", "Edits": {{edits}}, "ActiveExperts": {{edits}}, "Cases": {{edits}},
          "Rel": {{rel}}, "TGen": 80, "MGen": 70, "TLoc": 100, "MLoc": {{mloc}},
          "RelExact": "NaN", "TGenExact": "NaN", "MGenExact": "NaN",
          "FilterPrecision": "NaN", "FilterRecall": "NaN", "MeanSurvivors": "NaN", "MLocExcluded": 0 }
        """;

    private string MetricsFile(string name, params string[] rows)
    {
        var path = _temp[name];
        File.WriteAllText(path, $$"""{ "metrics": [ {{string.Join(",\n", rows)}} ], "cost": null }""");
        return path;
    }

    [Fact]
    public void writes_a_table_and_one_png_per_metric_from_two_metrics_files()
    {
        var a = MetricsFile("a.json", Row("lifelong@1", 1, 100), Row("lifelong@10", 10, 90), Row("lifelong@100", 100, 60));
        // editor-eval.json of `eval editor` also holds chunk rows: the report keeps the lifelong ones.
        var b = MetricsFile("b.json", Row("lifelong@10 (ledger v12)", 10, 95, "\"NaN\""), Row("lifelong@100", 100, 85), Row("chunks T=10", 10, 99));
        var methods = BenchReport.ParseInputs($"ft-l={a}, liveedit={b}").Select(i => BenchReport.Read(i.Name, i.Path)).ToList();

        var written = BenchReport.Write(methods, _temp["report"]);

        var report = File.ReadAllText(_temp["report/report.md"]);
        report.ShouldContain("| ft-l | 10 | 10 | 90.00 | 80.00 | 70.00 | 100.00 | 90.00 | 86.00 |");
        report.ShouldContain("| liveedit | 10 | 10 | 95.00 | 80.00 | 70.00 | 100.00 | NaN | 86.25 |", customMessage: "a NaN metric is left out of the mean");
        report.ShouldContain("| liveedit | 100 | 100 | 85.00 |");
        report.ShouldNotContain("| 99.00 |", customMessage: "chunk rows are not lifelong rows");
        foreach (var png in new[] { "rel.png", "t-gen.png", "m-gen.png", "t-loc.png", "m-loc.png" })
        {
            var bytes = File.ReadAllBytes(_temp[$"report/{png}"]);
            bytes.Take(8).ShouldBe(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, $"{png} is a PNG");
            bytes.Length.ShouldBeGreaterThan(5_000);
            report.ShouldContain($"]({png})");
        }
        written.Count.ShouldBe(6);
    }

    [Fact]
    public void a_missing_input_file_is_named_in_the_error()
    {
        var missing = _temp["nowhere/metrics.json"];
        var error = Should.Throw<FileNotFoundException>(() => BenchReport.Read("grace", missing));
        error.Message.ShouldContain(missing);
        error.Message.ShouldContain("'grace'");
    }

    [Fact]
    public void an_input_without_a_name_or_without_lifelong_rows_is_rejected()
    {
        Should.Throw<ArgumentException>(() => BenchReport.ParseInputs("runs/a/metrics.json")).Message.ShouldContain("name=path");
        Should.Throw<ArgumentException>(() => BenchReport.ParseInputs("a=x.json,a=y.json")).Message.ShouldContain("twice");
        var chunksOnly = MetricsFile("c.json", Row("chunks T=10", 10, 99));
        Should.Throw<InvalidDataException>(() => BenchReport.Read("c", chunksOnly)).Message.ShouldContain("no lifelong");
        File.WriteAllText(_temp["bad.json"], "not json");
        Should.Throw<InvalidDataException>(() => BenchReport.Read("bad", _temp["bad.json"])).Message.ShouldContain("not a metrics file");
    }
}
