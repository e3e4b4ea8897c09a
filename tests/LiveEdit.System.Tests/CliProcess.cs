using System.Diagnostics;

namespace LiveEdit.System.Tests;

/// <summary>What one run of the command line printed and how it exited.</summary>
internal sealed record CliResult(IReadOnlyList<string> Args, int ExitCode, string Out, string Error)
{
    public override string ToString() => $"liveedit {string.Join(' ', Args)} → exit {ExitCode}\nstdout:\n{Out}\nstderr:\n{Error}";
}

/// <summary>Runs the built command line (<c>dotnet liveedit.dll args</c>) as a process, as a user would.</summary>
internal static class CliProcess
{
    /// <param name="arguments">Everything after <c>liveedit</c>.</param>
    /// <param name="shownArgs">What the result reports as the command (default: <paramref name="arguments"/>).</param>
    /// <param name="environment">Changes to the inherited environment (a null value removes the variable).</param>
    /// <param name="standardInput">Written to the program's standard input, which is then closed (none when null).</param>
    public static async Task<CliResult> RunAsync(IReadOnlyList<string> arguments, IReadOnlyDictionary<string, string?>? environment = null,
        IReadOnlyList<string>? shownArgs = null, string? workingDirectory = null, TimeSpan? patience = null, string? standardInput = null)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = standardInput is not null, UseShellExecute = false,
        };
        if (workingDirectory is not null) start.WorkingDirectory = workingDirectory;
        start.ArgumentList.Add(BuiltProgram.Cli);
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        foreach (var (key, value) in environment ?? new Dictionary<string, string?>())
        {
            if (value is null) start.Environment.Remove(key);
            else start.Environment[key] = value;
        }
        using var process = Process.Start(start)!;
        if (standardInput is not null)
        {
            await process.StandardInput.WriteAsync(standardInput);
            process.StandardInput.Close();
        }
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        var limit = patience ?? TimeSpan.FromSeconds(60);
        using var timeout = new CancellationTokenSource(limit);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"liveedit {string.Join(' ', arguments)} did not exit within {limit.TotalSeconds:0} s:\n{await stdout}\n{await stderr}");
        }
        return new CliResult(shownArgs ?? arguments, process.ExitCode, await stdout, await stderr);
    }
}
