using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.Json;

namespace LiveEdit.Hosting;

/// <summary>
/// Each host ships its defaults in a file of its own name (<c>inference.settings.json</c>,
/// <c>worker.settings.json</c>) next to its binaries, so a process that carries both hosts (the CLI, the tests)
/// gets the right defaults for each. The file is the lowest-precedence source: environment variables and
/// command-line arguments override it.
/// </summary>
public static class SettingsFile
{
    public static void AddDefaults(IConfigurationManager configuration, string fileName)
    {
        var path = Path.Combine(AppContext.BaseDirectory, fileName);
        if (!File.Exists(path)) throw new FileNotFoundException($"{fileName} is missing next to the binaries ({AppContext.BaseDirectory})", path);
        var source = new JsonConfigurationSource { Path = path, Optional = false, ReloadOnChange = false };
        source.ResolveFileProvider();
        configuration.Sources.Insert(0, source);
    }
}
