using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using LiveEdit.Testing;
using Shouldly;
using Xunit;

namespace LiveEdit.Infra.Tests;

/// <summary>`infra/services up` on a port another process holds stops and says which process, and which variable picks another port.</summary>
public sealed class a_taken_port : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("liveedit-taken-port-").FullName;

    [Fact]
    public async Task names_the_process_that_holds_it_and_the_variable_that_moves_it()
    {
        using var squatter = new TcpListener(IPAddress.Loopback, 0);
        squatter.Start();
        var port = ((IPEndPoint)squatter.LocalEndpoint).Port;
        var start = new ProcessStartInfo("bash", [Path.Combine(RepositoryRoot.Path, "infra", "services"), "up"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment["LIVEEDIT_SERVICES_DIR"] = _folder;
        start.Environment["LIVEEDIT_PG_PORT"] = port.ToString();

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromMinutes(2)).Token);

        process.ExitCode.ShouldNotBe(0);
        var said = await stderr;
        said.ShouldContain($"port {port}");
        said.ShouldContain($"pid {Environment.ProcessId}", Case.Sensitive, "the holder's process id");
        said.ShouldContain("LIVEEDIT_PG_PORT=<port>");
        (await stdout).ShouldNotContain("export ");
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
