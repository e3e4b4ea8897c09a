using System.Xml.Linq;
using LiveEdit.Testing;
using Shouldly;
using Xunit;

namespace LiveEdit.Infra.Tests;

/// <summary>
/// The hosts (inference host and worker) load the serving core only: no project they reference, directly or
/// through another project, is the lab (LiveEdit.Research) or the benchmark harness (LiveEdit.Bench), and no source
/// file they compile names the lab's namespace.
/// </summary>
public sealed class the_hosts_project_references
{
    private static readonly string[] Hosts = ["src/LiveEdit.Inference/LiveEdit.Inference.csproj", "workers/LiveEdit.Workers/LiveEdit.Workers.csproj"];
    private static readonly string[] Lab = ["LiveEdit.Research", "LiveEdit.Bench"];

    [Theory]
    [InlineData("src/LiveEdit.Inference/LiveEdit.Inference.csproj")]
    [InlineData("workers/LiveEdit.Workers/LiveEdit.Workers.csproj")]
    public void reach_no_research_project(string host)
    {
        var closure = Closure(host);
        closure.ShouldContain(p => Path.GetFileNameWithoutExtension(p) == "LiveEdit.Model");   // the serving core is there
        closure.Select(p => Path.GetFileNameWithoutExtension(p)).Intersect(Lab).ShouldBeEmpty();
    }

    [Fact]
    public void compile_no_source_that_names_the_lab()
    {
        var offending = Hosts.SelectMany(Closure).Distinct()
            .SelectMany(p => Directory.EnumerateFiles(Path.GetDirectoryName(p)!, "*.cs", SearchOption.AllDirectories))
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") && !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"))
            .Where(f => File.ReadAllText(f).Contains("LiveEdit.Research", StringComparison.Ordinal))
            .Select(f => Path.GetRelativePath(RepositoryRoot.Path, f)).ToList();
        offending.ShouldBeEmpty();
    }

    [Fact]
    public void the_check_sees_the_lab_where_it_is_referenced()
    {
        // The command line does load the lab (train, eval): the closure must name it, or the checks above prove nothing.
        Closure("src/LiveEdit.Cli/LiveEdit.Cli.csproj").Select(p => Path.GetFileNameWithoutExtension(p)).ShouldContain("LiveEdit.Research");
    }

    /// <summary>Every project reachable from <paramref name="project"/> by ProjectReference, itself included (full paths).</summary>
    private static IReadOnlyCollection<string> Closure(string project)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var todo = new Stack<string>([Path.GetFullPath(Path.Combine(RepositoryRoot.Path, project))]);
        while (todo.TryPop(out var current))
        {
            if (!seen.Add(current)) continue;
            File.Exists(current).ShouldBeTrue($"{current} is referenced but does not exist");
            var folder = Path.GetDirectoryName(current)!;
            foreach (var reference in XDocument.Load(current).Descendants("ProjectReference"))
                todo.Push(Path.GetFullPath(Path.Combine(folder, reference.Attribute("Include")!.Value.Replace('\\', '/'))));
        }
        return seen;
    }
}
