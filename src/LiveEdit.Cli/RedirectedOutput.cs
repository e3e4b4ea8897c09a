using System.Runtime.CompilerServices;
using Spectre.Console;

namespace LiveEdit.Cli;

/// <summary>
/// Output into a pipe or a file has no width, and Spectre.Console then assumes 80 columns: it wraps every longer line
/// and squeezes table cells onto several lines, so the tables of the demo, the benchmarks and the research commands
/// arrive broken in logs, and <c>liveedit edit list | grep &lt;id&gt;</c> finds nothing. Redirected output gets a width
/// no row reaches; a terminal keeps its own width.
/// </summary>
internal static class RedirectedOutput
{
    /// <summary>The width redirected output is laid out for: wider than any row a command prints.</summary>
    public const int Width = 1_000;

    /// <summary>How wide a heading rule is drawn in redirected output (a rule fills whatever width it is given).</summary>
    public const int RuleWidth = 80;

    // Before any command runs, so that every command's output is laid out the same way.
    [ModuleInitializer]
    internal static void Unwrap()
    {
        if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = Width;
    }

    /// <summary>Writes a heading rule: as wide as the terminal, or <see cref="RuleWidth"/> columns when redirected.</summary>
    public static void WriteRule(Rule rule)
    {
        var width = AnsiConsole.Profile.Width;
        if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = Math.Min(width, RuleWidth);
        try
        {
            AnsiConsole.Write(rule);
        }
        finally
        {
            AnsiConsole.Profile.Width = width;
        }
    }
}
