using System.Collections.Concurrent;
using System.Diagnostics;

namespace LiveEdit.System.Tests;

/// <summary>A real worker host process (workers/LiveEdit.Workers), configured through its environment.</summary>
public sealed class WorkerProcess : IDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _lines = new();

    private WorkerProcess(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) _lines.Enqueue(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) _lines.Enqueue(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public IReadOnlyCollection<string> Output => _lines.ToArray();

    public bool HasExited => _process.HasExited;

    /// <summary>The exit code, once <see cref="HasExited"/>.</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>Starts the worker with <paramref name="environment"/> set and the variables named in <paramref name="unset"/> removed.</summary>
    public static WorkerProcess Start(IDictionary<string, string> environment, IEnumerable<string>? unset = null)
    {
        var dll = BuiltProgram.Worker;
        var start = new ProcessStartInfo("dotnet", [dll])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(dll)!,
        };
        start.Environment["LIVEEDIT_ROOT"] = LiveEdit.Testing.RepositoryRoot.Path;
        start.Environment["DOTNET_ENVIRONMENT"] = "Production";
        start.Environment["Logging__Console__FormatterName"] = "simple";
        start.Environment["Ledger__ChainKey"] = LiveEdit.Testing.TestChainKey.Base64;
        foreach (var (key, value) in environment) start.Environment[key] = value;
        foreach (var key in unset ?? []) start.Environment.Remove(key);
        return new WorkerProcess(Process.Start(start)!);
    }

    /// <summary>Waits for an output line containing <paramref name="text"/>.</summary>
    public async Task WaitForLineAsync(string text, TimeSpan patience)
    {
        var deadline = DateTime.UtcNow + patience;
        while (!_lines.Any(l => l.Contains(text, StringComparison.Ordinal)))
        {
            if (_process.HasExited) throw new InvalidOperationException($"worker exited ({_process.ExitCode}) before printing '{text}':\n{string.Join('\n', _lines)}");
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"worker did not print '{text}' within {patience.TotalSeconds:0} s:\n{string.Join('\n', _lines)}");
            await Task.Delay(50);
        }
    }

    /// <summary>Kills the process (and its children) at once, as a crash would.</summary>
    public void Kill()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.WaitForExit(10_000);
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();
    }
}
