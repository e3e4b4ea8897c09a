using System.CommandLine;
using LiveEdit.Inference;
using LiveEdit.Workers;

namespace LiveEdit.Cli;

/// <summary><c>liveedit serve</c> and <c>liveedit worker</c>: the two hosts, run from the command line.</summary>
internal static class HostCommands
{
    public static Command CreateServe()
    {
        var urls = new Option<string>("--urls") { Description = "Where to listen (loopback by default).", DefaultValueFactory = _ => HostClient.DefaultUrl };
        var command = new Command("serve", "Run the inference host (HTTP API; workers in-process unless Workers__InProcess=false).") { urls };
        command.SetAction(async (parse, ct) =>
        {
            return await RunGuardedAsync("serve", () => InferenceApp.RunAsync(InferenceApp.Build(["--urls", parse.GetValue(urls)!]), ct));
        });
        return command;
    }

    public static Command CreateWorker()
    {
        var command = new Command("worker", "Run an expert worker (RabbitMQ transport by default; settings from the environment).");
        command.SetAction(async (parse, ct) =>
        {
            return await RunGuardedAsync("worker", () => WorkerApp.RunAsync(WorkerApp.Build([]), ct));
        });
        return command;
    }

    private static async Task<int> RunGuardedAsync(string name, Func<Task> run)
    {
        try
        {
            await run();
            return 0;
        }
        catch (InvalidOperationException e)
        {
            Console.Error.WriteLine($"liveedit {name}: {e.Message}");
            return 1;
        }
    }
}
