using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;

namespace LiveEdit.Cli;

/// <summary>
/// The root's help lists the user's commands first and the research commands (training and evaluation of the
/// committed models) in a section of their own, after them.
/// </summary>
public static class CliHelp
{
    /// <summary>The heading of the research section.</summary>
    public const string ResearchHeading = "Research commands (the lab that trained and evaluated the committed models):";

    /// <summary>Groups <paramref name="research"/> apart in <paramref name="root"/>'s help.</summary>
    public static void GroupResearch(RootCommand root, IReadOnlyCollection<Command> research)
    {
        var help = root.Options.OfType<HelpOption>().Single();
        if (help.Action is not HelpAction inner) throw new InvalidOperationException("the root's help option has no help action");
        help.Action = new GroupedHelp(inner, root, research);
    }

    private sealed class GroupedHelp(HelpAction inner, RootCommand root, IReadOnlyCollection<Command> research) : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parse)
        {
            if (parse.CommandResult.Command != root) return inner.Invoke(parse);
            // The default layout lists every visible subcommand: hide the research ones while it writes.
            foreach (var c in research) c.Hidden = true;
            int rc;
            try { rc = inner.Invoke(parse); }
            finally { foreach (var c in research) c.Hidden = false; }
            var output = parse.InvocationConfiguration.Output;
            var width = research.Max(c => c.Name.Length) + 4;
            output.WriteLine(ResearchHeading);
            foreach (var c in research) output.WriteLine($"  {c.Name.PadRight(width)}{c.Description}");
            output.WriteLine();
            return rc;
        }
    }
}
