using System.CommandLine;
using LiveEdit.Bench.Reports;
using Spectre.Console;

namespace LiveEdit.Cli;

/// <summary><c>liveedit bench report</c>: one table and one plot per metric from several methods' results files.</summary>
internal static class BenchReportCommand
{
    public static Command Create()
    {
        var inputs = new Option<string>("--inputs")
        {
            Description = "name=path pairs, comma-separated: metrics.json of bench run / bench baselines or editor-eval.json of eval editor.",
            Required = true,
        };
        var output = new Option<string>("--out") { Description = "Folder for report.md and the PNGs.", DefaultValueFactory = _ => "runs/report" };
        var command = new Command("report", "Table (method × checkpoint, five metrics and their mean) and one PNG per metric against the number of edits.") { inputs, output };
        command.SetAction(parse =>
        {
            try
            {
                var methods = BenchReport.ParseInputs(parse.GetValue(inputs)!).Select(i => BenchReport.Read(i.Name, i.Path)).ToList();
                var written = BenchReport.Write(methods, parse.GetValue(output)!);
                AnsiConsole.WriteLine(BenchReport.Markdown(methods));
                foreach (var path in written) AnsiConsole.MarkupLineInterpolated($"wrote [bold]{path}[/]");
                return 0;
            }
            catch (Exception e) when (e is ArgumentException or IOException or InvalidDataException)
            {
                Console.Error.WriteLine($"liveedit bench report: {e.Message}");
                return 2;
            }
        });
        return command;
    }
}
