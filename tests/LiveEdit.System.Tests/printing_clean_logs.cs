using System.Diagnostics;
using System.Runtime.Versioning;
using System.Text.RegularExpressions;
using Shouldly;
using Xunit;

namespace LiveEdit.System.Tests;

/// <summary>
/// What the demo and a benchmark run print into a pipe, as a log collects it: no native library's warnings, on a CPU
/// that NNPACK does not support, and no line or table row wrapped at 80 columns.
/// </summary>
/// <remarks>
/// A CPU without NNPACK support is played by a stand-in <c>nnp_initialize</c> (preloaded, so libtorch calls it
/// instead of its own) that answers as NNPACK does on such a CPU: unsupported hardware. Building it needs a C compiler.
/// </remarks>
[Collection(SystemCollection.Name)]
[SupportedOSPlatform("linux")]
public sealed partial class printing_clean_logs : IDisposable
{
    private readonly DirectoryInfo _folder = Directory.CreateTempSubdirectory("liveedit-clean-logs-");

    [Fact]
    public async Task the_demo_prints_no_native_warning_and_no_wrapped_row()
    {
        var demo = await CliProcess.RunAsync(["demo", "--edits", "2", "--out", Path.Combine(_folder.FullName, "demo")],
            WithoutNnpackSupport(), patience: TimeSpan.FromMinutes(4));

        demo.ExitCode.ShouldBe(0, demo.ToString());
        NativeWarnings(demo).ShouldBeEmpty(demo.ToString());
        var lines = Lines(demo.Out);
        // Two tables (before and after the edits), each a header and one row per edit: a wrapped cell adds rows.
        lines.Count(l => l.StartsWith('│')).ShouldBe(2 * (1 + 2), demo.Out);
        lines.ShouldContain(l => l.StartsWith('│') && l.Contains("neighbour (must not change)") && l.Contains("experts that fired") && l.Length > 80, demo.Out);
        lines.ShouldContain(l => l.StartsWith("PostgreSQL and RabbitMQ are up; the demo ledger lives in schema demo_") && l.EndsWith("dropped at the end)."), demo.Out);
        lines.ShouldContain(l => l.StartsWith("The demo ledger was in a fresh schema") && l.EndsWith("--api-key dev-auditor-key"), demo.Out);
    }

    [Fact]
    public async Task a_benchmark_run_prints_no_native_warning_and_no_wrapped_line()
    {
        var stream = Path.Combine(_folder.FullName, "stream");
        var make = await CliProcess.RunAsync(["bench", "make", "--cases", "3", "--seed", "3", "--out", stream]);
        make.ExitCode.ShouldBe(0, make.ToString());

        var run = await CliProcess.RunAsync(["bench", "run", "--stream", stream, "--out", Path.Combine(_folder.FullName, "run"),
            "--checkpoints", "1,3", "--max-eval", "3"], WithoutNnpackSupport(), patience: TimeSpan.FromMinutes(4));

        run.ExitCode.ShouldBe(0, run.ToString());
        NativeWarnings(run).ShouldBeEmpty(run.ToString());
        var checkpoints = Lines(run.Out).Where(l => l.StartsWith("lifelong@", StringComparison.Ordinal)).ToList();
        checkpoints.Count.ShouldBe(2, run.Out);
        checkpoints.ShouldAllBe(l => l.Length > 80 && l.Contains(" | EM ") && l.Contains("inputs with an other-entity survivor"), run.Out);
    }

    /// <summary>
    /// Lines in the shape native libraries warn in: glog/c10 (<c>[W1206 02:33:40.98 NNPACK.cpp:56] …</c>), older c10
    /// (<c>[W NNPACK.cpp:80] …</c>), or anything naming NNPACK.
    /// </summary>
    private static List<string> NativeWarnings(CliResult result) =>
        Lines(result.Out).Concat(Lines(result.Error)).Where(l => NativeWarning().IsMatch(l) || l.Contains("NNPACK", StringComparison.OrdinalIgnoreCase)).ToList();

    [GeneratedRegex(@"^\[[IWEF](\d{4} \d\d:\d\d:\d\d| [^\]\s]+:\d+\])")]
    private static partial Regex NativeWarning();

    private static List<string> Lines(string text) => text.Split('\n').Select(l => l.TrimEnd('\r')).ToList();

    /// <summary>The environment of a process on a CPU NNPACK does not support.</summary>
    private Dictionary<string, string?> WithoutNnpackSupport()
    {
        // Readable by everyone: infra/services runs some of its commands as other users, and they inherit LD_PRELOAD.
        _folder.UnixFileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                               | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;
        var source = Path.Combine(_folder.FullName, "nnpack-unsupported.c");
        var library = Path.Combine(_folder.FullName, "libnnpack-unsupported.so");
        // nnp_status_unsupported_hardware (nnpack.h) is 51.
        File.WriteAllText(source, "int nnp_initialize(void) { return 51; }\n");
        var start = new ProcessStartInfo("cc", ["-shared", "-fPIC", "-o", library, source]) { RedirectStandardError = true, UseShellExecute = false };
        Process compiler;
        try
        {
            compiler = Process.Start(start)!;
        }
        catch (global::System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("this test needs a C compiler (cc) to play a CPU that NNPACK does not support", e);
        }
        using (compiler)
        {
            var errors = compiler.StandardError.ReadToEnd();
            compiler.WaitForExit();
            compiler.ExitCode.ShouldBe(0, errors);
        }
        return new Dictionary<string, string?> { ["LD_PRELOAD"] = library };
    }

    public void Dispose() => _folder.Delete(recursive: true);
}
