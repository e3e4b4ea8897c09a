namespace LiveEdit.System.Tests;

/// <summary>Programs the System tests run as processes, built in the test's own configuration (bin/&lt;Configuration&gt;/net10.0).</summary>
internal static class BuiltProgram
{
    /// <summary>The worker host, workers/LiveEdit.Workers.</summary>
    public static string Worker => Find("workers/LiveEdit.Workers", "LiveEdit.Workers.dll", "worker host");

    /// <summary>The command line, src/LiveEdit.Cli.</summary>
    public static string Cli => Find("src/LiveEdit.Cli", "liveedit.dll", "command line");

    private static string Find(string project, string dllName, string what)
    {
        var configuration = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name;
        var dll = Path.Combine(LiveEdit.Testing.RepositoryRoot.Path, project, "bin", configuration, "net10.0", dllName);
        if (!File.Exists(dll)) throw new FileNotFoundException($"the {what} is not built at {dll}");
        return dll;
    }
}
