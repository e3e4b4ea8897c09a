using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using LiveEdit.Research.Editing;
using ScottPlot;

namespace LiveEdit.Bench.Reports;

/// <summary>
/// <c>bench report</c>: the lifelong rows of several results files (metrics.json of <c>bench run</c> and
/// <c>bench baselines</c>, editor-eval.json of <c>eval editor</c>: all hold <c>{"metrics": [EditMetrics…]}</c>)
/// as one markdown table (method × checkpoint: the five paper metrics and their mean) and one PNG per metric
/// against the number of edits (log x axis, one line per method).
/// </summary>
public static class BenchReport
{
    /// <summary>The report's file name inside the output folder.</summary>
    public const string ReportFile = "report.md";

    /// <summary>The five paper metrics: column title, PNG file name, value.</summary>
    public static IReadOnlyList<(string Title, string File, Func<EditMetrics, double> Value)> Metrics { get; } =
    [
        ("Rel", "rel.png", m => m.Rel),
        ("T-Gen", "t-gen.png", m => m.TGen),
        ("M-Gen", "m-gen.png", m => m.MGen),
        ("T-Loc", "t-loc.png", m => m.TLoc),
        ("M-Loc", "m-loc.png", m => m.MLoc),
    ];

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNameCaseInsensitive = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>Mean of the five metrics (those that are not NaN: M-Loc is NaN when every locality question was left out).</summary>
    public static double Average(EditMetrics m)
    {
        var values = Metrics.Select(x => x.Value(m)).Where(v => !double.IsNaN(v)).ToList();
        return values.Count == 0 ? double.NaN : values.Average();
    }

    /// <summary>Parses <c>name=path,name=path</c>; throws <see cref="ArgumentException"/> on a part without a name or path, or a repeated name.</summary>
    public static IReadOnlyList<(string Name, string Path)> ParseInputs(string spec)
    {
        var result = new List<(string, string)>();
        foreach (var part in spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = part.IndexOf('=');
            if (eq <= 0 || eq == part.Length - 1)
                throw new ArgumentException($"report input '{part}' is not name=path (for example liveedit=runs/run/metrics.json)");
            var name = part[..eq].Trim();
            if (result.Any(r => r.Item1 == name)) throw new ArgumentException($"report input name '{name}' is given twice");
            result.Add((name, part[(eq + 1)..].Trim()));
        }
        if (result.Count == 0) throw new ArgumentException("no report inputs; give --inputs name=path/metrics.json,...");
        return result;
    }

    /// <summary>
    /// The lifelong rows of a results file, ordered by edits. Throws <see cref="FileNotFoundException"/> when the file
    /// is missing and <see cref="InvalidDataException"/> when it holds no lifelong metrics rows.
    /// </summary>
    public static MethodResults Read(string name, string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"report input '{name}': {path} does not exist (expected a metrics.json or editor-eval.json)", path);
        MetricsFile? file;
        try
        {
            file = JsonSerializer.Deserialize<MetricsFile>(File.ReadAllText(path), JsonOptions);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"report input '{name}': {path} is not a metrics file ({e.Message})", e);
        }
        var rows = (file?.Metrics ?? []).Where(m => m.Protocol.StartsWith("lifelong", StringComparison.Ordinal) && m.Edits > 0)
            .OrderBy(m => m.Edits).ToList();
        if (rows.Count == 0) throw new InvalidDataException($"report input '{name}': {path} holds no lifelong metrics rows");
        return new MethodResults(name, path, rows);
    }

    /// <summary>The markdown table: one row per method and checkpoint.</summary>
    public static string Markdown(IReadOnlyList<MethodResults> methods)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| method | edits | measured | Rel | T-Gen | M-Gen | T-Loc | M-Loc | mean |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var method in methods)
            foreach (var m in method.Rows)
                sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                    $"| {method.Name} | {m.Edits} | {m.Cases} | {m.Rel:F2} | {m.TGen:F2} | {m.MGen:F2} | {m.TLoc:F2} | {m.MLoc:F2} | {Average(m):F2} |"));
        return sb.ToString();
    }

    /// <summary>Writes report.md and one PNG per metric into <paramref name="folder"/>; returns the paths written.</summary>
    public static IReadOnlyList<string> Write(IReadOnlyList<MethodResults> methods, string folder)
    {
        Directory.CreateDirectory(folder);
        var written = new List<string>();
        var md = new StringBuilder("# Lifelong editing: methods compared\n\n");
        md.AppendLine("Token accuracy on the new target (Rel, T-Gen, M-Gen) and agreement with the pre-edit model (T-Loc, M-Loc), in %; ");
        md.AppendLine("mean = mean of the five. Sources:\n");
        foreach (var m in methods) md.AppendLine($"- {m.Name}: `{m.Source}`");
        md.AppendLine().Append(Markdown(methods)).AppendLine();
        foreach (var (title, file, value) in Metrics)
        {
            var path = Path.Combine(folder, file);
            Plot(methods, title, value, path);
            written.Add(path);
            md.AppendLine($"![{title}]({file})");
        }
        var report = Path.Combine(folder, ReportFile);
        File.WriteAllText(report, md.ToString(), new UTF8Encoding(false));
        written.Insert(0, report);
        return written;
    }

    /// <summary>One metric against the number of edits (log10 x axis, labelled in edits), one line per method.</summary>
    private static void Plot(IReadOnlyList<MethodResults> methods, string title, Func<EditMetrics, double> value, string path)
    {
        var plot = new Plot();
        foreach (var method in methods)
        {
            var rows = method.Rows.Where(r => !double.IsNaN(value(r))).ToList();
            if (rows.Count == 0) continue;
            var line = plot.Add.Scatter(rows.Select(r => Math.Log10(r.Edits)).ToArray(), rows.Select(value).ToArray());
            line.LegendText = method.Name;
            line.MarkerSize = 7;
            line.LineWidth = 2;
        }
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic
        {
            MinorTickGenerator = new ScottPlot.TickGenerators.LogMinorTickGenerator(),
            IntegerTicksOnly = true,
            LabelFormatter = x => Math.Pow(10, x).ToString("N0", CultureInfo.InvariantCulture),
        };
        plot.Title($"{title} against the number of edits (lifelong)");
        plot.XLabel("edits (log scale)");
        plot.YLabel($"{title} (%)");
        plot.Axes.SetLimitsY(0, 105);
        plot.ShowLegend(Alignment.LowerLeft);
        plot.SavePng(path, 800, 500);
    }

    private sealed record MetricsFile(List<EditMetrics>? Metrics);
}
