using System.CommandLine;

namespace LiveEdit.Cli;

/// <summary>The options every command that talks to the host shares: <c>--url</c> and <c>--api-key</c>.</summary>
internal sealed class HostOptions
{
    public Option<string> Url { get; } = new("--url")
    {
        Description = "Inference host address (env LIVEEDIT_URL).",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("LIVEEDIT_URL") ?? HostClient.DefaultUrl,
    };

    public Option<string> ApiKey { get; } = new("--api-key")
    {
        Description = "Your API key (env LIVEEDIT_API_KEY); the ledger records your name from it.",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("LIVEEDIT_API_KEY") ?? "",
    };

    public void AddTo(Command command)
    {
        command.Options.Add(Url);
        command.Options.Add(ApiKey);
    }

    public HostClient Client(ParseResult parse)
    {
        var key = parse.GetValue(ApiKey);
        if (string.IsNullOrWhiteSpace(key)) throw new HostCallException("no API key: pass --api-key or set LIVEEDIT_API_KEY");
        return new HostClient(new Uri(parse.GetValue(Url)!), key);
    }

    /// <summary>Runs a host call, printing one line and returning a non-zero exit code on failure.</summary>
    public static async Task<int> RunAsync(string name, Func<Task> body)
    {
        try
        {
            await body();
            return 0;
        }
        catch (HostCallException e)
        {
            Console.Error.WriteLine($"liveedit {name}: {e.Message}");
            return e.Status is >= 400 and < 500 ? 2 : 1;
        }
    }
}
