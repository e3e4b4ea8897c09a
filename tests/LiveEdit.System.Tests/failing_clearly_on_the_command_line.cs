using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Shouldly;
using Xunit;

namespace LiveEdit.System.Tests;

/// <summary>Expected failures on the command line are one line on stderr and a non-zero exit code, never a stack trace.</summary>
public sealed class failing_clearly_on_the_command_line
{
    [Fact]
    public async Task verify_with_the_database_unreachable_says_so_in_one_line()
    {
        var port = ClosedPort();
        var (exit, _, error) = await RunAsync(new() { ["ConnectionStrings__Ledger"] = $"Host=127.0.0.1;Port={port};Username=x;Password=y;Database=z;Timeout=2" },
            "verify");

        exit.ShouldBe(2, error);
        error.Trim().Split('\n').ShouldHaveSingleItem(error);
        error.ShouldStartWith("liveedit verify: the ledger database is unreachable");
        error.ShouldNotContain("   at ");
    }

    [Fact]
    public async Task bench_import_names_the_record_whose_target_the_model_cannot_answer()
    {
        var folder = Directory.CreateTempSubdirectory("liveedit-import-");
        try
        {
            Directory.CreateDirectory(Path.Combine(folder.FullName, "images"));
            var image = Settings.Cases(1, seed: 71)[0].Edit.Image!;
            image.SavePng(Path.Combine(folder.FullName, "images", "a.png"));
            var record = new Dictionary<string, string>
            {
                ["src"] = "what is this creature called?", ["rephrase"] = "what name does this creature go by?",
                ["alt"] = string.Join(' ', Enumerable.Repeat("the red golem of the north", 7)),
                ["image"] = "a.png", ["image_rephrase"] = "a.png", ["loc"] = "what is the capital of ora?", ["loc_ans"] = "vel",
                ["m_loc"] = "a.png", ["m_loc_q"] = "who owns this thing?", ["m_loc_a"] = "mira",
            };
            var input = Path.Combine(folder.FullName, "in.json");
            await File.WriteAllTextAsync(input, JsonSerializer.Serialize(new[] { record }));

            var (exit, output, error) = await RunAsync([], "bench", "import", "--input", input, "--images", Path.Combine(folder.FullName, "images"),
                "--out", Path.Combine(folder.FullName, "out"));

            exit.ShouldBe(2, output + error);
            error.ShouldContain("record 1: 'target' is 42 tokens; the model answers with at most 8");
            Directory.Exists(Path.Combine(folder.FullName, "out")).ShouldBeFalse("nothing is written");
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    private static int ClosedPort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private static async Task<(int Exit, string Out, string Error)> RunAsync(Dictionary<string, string> environment, params string[] args)
    {
        var result = await CliProcess.RunAsync(args, environment.ToDictionary(kv => kv.Key, kv => (string?)kv.Value),
            workingDirectory: LiveEdit.Testing.RepositoryRoot.Path, patience: TimeSpan.FromSeconds(90));
        return (result.ExitCode, result.Out, result.Error);
    }
}
