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
        var development = new Option<bool>("--development")
        {
            Description = "A development run on this machine: with no keys configured, the development keys (dev-proposer-key, …) are accepted.",
        };
        var command = new Command("serve", "Run the inference host (HTTP API; workers in-process unless Workers__InProcess=false).") { urls, development };
        command.SetAction(async (parse, ct) =>
        {
            string[] args = parse.GetValue(development) ? ["--urls", parse.GetValue(urls)!, "--environment", "Development"] : ["--urls", parse.GetValue(urls)!];
            return await RunGuardedAsync("serve", () => InferenceApp.RunAsync(InferenceApp.Build(args), ct));
        });
        return command;
    }

    public static Command CreateWorker()
    {
        var command = new Command("worker", "Run an expert worker (RabbitMQ transport by default; settings from the environment).");
        command.SetAction(async (parse, ct) =>
        {
            var host = WorkerApp.Build([]);
            return await RunGuardedAsync("worker", () => WorkerApp.RunAsync(host, ct));
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
