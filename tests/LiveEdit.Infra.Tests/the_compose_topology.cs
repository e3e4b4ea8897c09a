using System.Text.Json;
using System.Text.RegularExpressions;
using LiveEdit.Testing;
using Shouldly;
using Xunit;
using YamlDotNet.RepresentationModel;

namespace LiveEdit.Infra.Tests;

/// <summary>
/// There is no Docker engine here, so docker-compose.yml is checked for consistency instead: every service
/// it builds has a Dockerfile that publishes a real project, and every configuration key it sets is one
/// that project declares in appsettings.json and reads in its code.
/// </summary>
public sealed partial class the_compose_topology
{
    private static readonly YamlMappingNode Services = LoadServices();

    private static YamlMappingNode LoadServices()
    {
        var yaml = new YamlStream();
        using var reader = new StreamReader(Path.Combine(RepositoryRoot.Path, "docker-compose.yml"));
        yaml.Load(reader);
        var root = (YamlMappingNode)yaml.Documents[0].RootNode;
        return (YamlMappingNode)root.Children[new YamlScalarNode("services")];
    }

    private static IEnumerable<(string Name, YamlMappingNode Body)> All() =>
        Services.Children.Select(kv => (((YamlScalarNode)kv.Key).Value!, (YamlMappingNode)kv.Value));

    [Fact]
    public void names_the_scaled_out_services()
    {
        All().Select(s => s.Name).ShouldBe(["postgres", "rabbitmq", "migrate", "inference", "worker"], ignoreOrder: true);
    }

    [Fact]
    public void depends_only_on_services_it_defines()
    {
        var names = All().Select(s => s.Name).ToHashSet();
        foreach (var (name, body) in All())
        {
            if (!body.Children.TryGetValue(new YamlScalarNode("depends_on"), out var deps)) continue;
            foreach (var dep in ((YamlMappingNode)deps).Children.Keys.Cast<YamlScalarNode>())
            {
                names.ShouldContain(dep.Value!, $"service {name} depends on unknown service {dep.Value}");
            }
        }
    }

    [Fact]
    public void builds_every_app_from_a_dockerfile_that_publishes_an_existing_project()
    {
        foreach (var (name, project) in BuiltServices())
        {
            File.Exists(Path.Combine(RepositoryRoot.Path, project)).ShouldBeTrue($"service {name}: project {project} does not exist");
        }
        BuiltServices().Count().ShouldBe(3);
    }

    [Fact]
    public void sets_only_configuration_keys_the_apps_declare_and_read()
    {
        foreach (var (name, project) in BuiltServices())
        {
            var projectDir = Path.GetDirectoryName(Path.Combine(RepositoryRoot.Path, project))!;
            var settingsFile = Directory.GetFiles(projectDir, "*.settings.json").ShouldHaveSingleItem($"{project} has one *.settings.json");
            using var settings = JsonDocument.Parse(File.ReadAllText(settingsFile));
            var source = string.Join('\n', ProjectAndReferences(Path.Combine(RepositoryRoot.Path, project))
                .SelectMany(dir => Directory.EnumerateFiles(dir, "*.cs", SearchOption.AllDirectories))
                .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}"))
                .Select(File.ReadAllText));

            var body = All().Single(s => s.Name == name).Body;
            var environment = (YamlMappingNode)body.Children[new YamlScalarNode("environment")];
            environment.Children.Count.ShouldBeGreaterThan(0);
            foreach (var key in environment.Children.Keys.Cast<YamlScalarNode>().Select(k => k.Value!))
            {
                var path = key.Split("__");
                HasPath(settings.RootElement, path).ShouldBeTrue($"service {name} sets {key}, which {project} does not declare in its settings file");
                var read = path[0] == "ConnectionStrings"
                    ? source.Contains($"GetConnectionString(\"{path[1]}\")")
                    : source.Contains($"\"{string.Join(':', path)}\"") || IsBoundOption(source, path);
                read.ShouldBeTrue($"service {name} sets {key}, which {project} never reads");
            }
        }
    }

    [Fact]
    public void points_the_apps_at_the_compose_postgres_and_rabbitmq()
    {
        foreach (var (name, _) in BuiltServices())
        {
            var environment = (YamlMappingNode)All().Single(s => s.Name == name).Body.Children[new YamlScalarNode("environment")];
            string Value(string key) => ((YamlScalarNode)environment.Children[new YamlScalarNode(key)]).Value!;
            if (name == "migrate")
            {
                Value("ConnectionStrings__LedgerOwner").ShouldContain("Host=postgres;");
                Value("ConnectionStrings__LedgerOwner").ShouldContain("Username=liveedit_owner;");
                continue;
            }
            Value("ConnectionStrings__Ledger").ShouldContain("Host=postgres;");
            Value("ConnectionStrings__Ledger").ShouldContain("Username=liveedit_app;", Case.Sensitive, $"service {name} connects as the application role");
            Value("ConnectionStrings__RabbitMq").ShouldContain("@rabbitmq:");
        }
    }

    private static IEnumerable<(string Name, string Project)> BuiltServices()
    {
        foreach (var (name, body) in All())
        {
            if (!body.Children.TryGetValue(new YamlScalarNode("build"), out var build)) continue;
            var dockerfile = ((YamlScalarNode)((YamlMappingNode)build).Children[new YamlScalarNode("dockerfile")]).Value!;
            var dockerfilePath = Path.Combine(RepositoryRoot.Path, dockerfile);
            File.Exists(dockerfilePath).ShouldBeTrue($"service {name}: {dockerfile} does not exist");
            var match = PublishLine().Match(File.ReadAllText(dockerfilePath));
            match.Success.ShouldBeTrue($"{dockerfile} has no `dotnet publish <project>.csproj` line");
            yield return (name, match.Groups[1].Value);
        }
    }

    /// <summary>A key read by binding a section to an options class: the section is bound and the class has the property.</summary>
    private static bool IsBoundOption(string source, string[] path)
    {
        var section = string.Join(':', path[..^1]);
        var bound = source.Contains($"Section = \"{section}\"") || source.Contains($"GetSection(\"{section}\")");
        return bound && Regex.IsMatch(source, $@"public \S+ {Regex.Escape(path[^1])} {{ get; set; }}");
    }

    /// <summary>The project's folder and those of every project it references, transitively.</summary>
    private static IEnumerable<string> ProjectAndReferences(string csproj)
    {
        var seen = new HashSet<string>();
        var pending = new Stack<string>([Path.GetFullPath(csproj)]);
        while (pending.TryPop(out var current))
        {
            if (!seen.Add(current)) continue;
            yield return Path.GetDirectoryName(current)!;
            foreach (Match m in ProjectReference().Matches(File.ReadAllText(current)))
                pending.Push(Path.GetFullPath(Path.Combine(Path.GetDirectoryName(current)!, m.Groups[1].Value)));
        }
    }

    private static bool HasPath(JsonElement element, string[] path)
    {
        foreach (var part in path)
        {
            if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(part, out element)) return false;
        }
        return true;
    }

    [GeneratedRegex(@"<ProjectReference Include=""([^""]+)""")]
    private static partial Regex ProjectReference();

    [GeneratedRegex(@"dotnet publish (\S+\.csproj)")]
    private static partial Regex PublishLine();
}
