using System.CommandLine;
using System.Diagnostics;

namespace LiveEdit.Cli;

/// <summary><c>liveedit services up|down|status|env</c>: runs the repository's infra/services script.</summary>
internal static class ServicesCommand
{
    public static Command Create()
    {
        var services = new Command("services", "Start, stop or inspect the local PostgreSQL and RabbitMQ (infra/services).");
        foreach (var (verb, help) in new[]
                 {
                     ("up", "Install what is missing, start PostgreSQL and RabbitMQ on 127.0.0.1, print the settings."),
                     ("down", "Stop the services this project started."),
                     ("status", "Say what runs."),
                     ("env", "Print the connection settings the apps read."),
                 })
        {
            var command = new Command(verb, help);
            command.SetAction(_ => Run(verb));
            services.Subcommands.Add(command);
        }
        return services;
    }

    private static int Run(string verb)
    {
        var script = FindScript();
        if (script is null)
        {
            Console.Error.WriteLine("liveedit: infra/services not found; run liveedit from inside the repository.");
            return 2;
        }
        using var process = Process.Start(new ProcessStartInfo("bash", [script, verb]) { UseShellExecute = false })!;
        process.WaitForExit();
        return process.ExitCode;
    }

    internal static string? FindScript()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "infra", "services");
                if (File.Exists(candidate)) return candidate;
            }
        }
        return null;
    }
}
