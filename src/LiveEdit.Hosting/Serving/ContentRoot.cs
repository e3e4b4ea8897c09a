namespace LiveEdit.Hosting.Serving;

/// <summary>Where relative model folders are resolved: the first folder holding <c>models/</c>, from the working directory or the binaries upwards.</summary>
public static class ContentRoot
{
    /// <summary>The folder, or the working directory when none holds <c>models/</c>.</summary>
    public static string Find()
    {
        if (Environment.GetEnvironmentVariable("LIVEEDIT_ROOT") is { Length: > 0 } fromEnvironment) return fromEnvironment;
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (Directory.Exists(Path.Combine(dir.FullName, "models"))) return dir.FullName;
            }
        }
        return Environment.CurrentDirectory;
    }
}
