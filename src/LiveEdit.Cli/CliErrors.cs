using System.CommandLine;
using System.Net.Sockets;
using LiveEdit.Bench.Replay;
using LiveEdit.Bench.Streams;
using LiveEdit.Ledger.Errors;
using LiveEdit.Model.Images;
using LiveEdit.Model.Vlm;
using Npgsql;

namespace LiveEdit.Cli;

/// <summary>
/// The command line's last word on a failure: whatever a command did not handle itself becomes one line on stderr
/// (the command, then what went wrong, a short printable excerpt only) and a non-zero exit code — never a stack trace.
/// <c>LIVEEDIT_DEBUG=1</c> prints the full exception for a developer.
/// </summary>
internal static class CliErrors
{
    /// <summary>Exit code of an expected failure (a service unreachable, a file missing, bad input).</summary>
    public const int Expected = 2;

    /// <summary>Exit code of an unexpected failure.</summary>
    public const int Unexpected = 1;

    /// <summary>Parses and runs <paramref name="args"/>, turning any exception into one line and an exit code.</summary>
    public static async Task<int> RunAsync(RootCommand root, string[] args)
    {
        var parse = root.Parse(args);
        try
        {
            return await parse.InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine($"{Name(parse)}: cancelled");
            return 130;
        }
        catch (Exception e)
        {
            var (code, line) = Describe(e);
            Console.Error.WriteLine($"{Name(parse)}: {line}");
            if (Environment.GetEnvironmentVariable("LIVEEDIT_DEBUG") is "1" or "true") Console.Error.WriteLine(e);
            return code;
        }
    }

    /// <summary>Exit code and one line for an exception.</summary>
    public static (int Code, string Line) Describe(Exception e)
    {
        var root = Innermost(e);
        return e switch
        {
            _ when root is NpgsqlException or SocketException && e is not HttpRequestException =>
                (Expected, $"the ledger database is unreachable ({Excerpt(root.Message)}); start it with `./liveedit services up` or check ConnectionStrings__Ledger"),
            _ when root.GetType().FullName is { } type && type.StartsWith("RabbitMQ.Client.Exceptions.", StringComparison.Ordinal) =>
                (Expected, $"the broker is unreachable ({Excerpt(root.Message)}); start it with `./liveedit services up` or check ConnectionStrings__RabbitMq"),
            HttpRequestException =>
                (Expected, $"the host is unreachable ({Excerpt(root.Message)}); is `liveedit serve` running at that address?"),
            FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException or IOException
                or StreamFormatException or CheckpointException or UnreadableImageException or ReplayException or FormatException
                or LedgerException or TimeoutException or InvalidOperationException or ArgumentException =>
                (Expected, Excerpt(e.Message)),
            _ => (Unexpected, $"unexpected {e.GetType().Name}: {Excerpt(e.Message)} (LIVEEDIT_DEBUG=1 prints the details)"),
        };
    }

    private static string Excerpt(string message) => LiveEdit.Model.Text.Printable.Excerpt(message.ReplaceLineEndings(" "), 300);

    private static Exception Innermost(Exception e)
    {
        while (e.InnerException is not null) e = e.InnerException;
        return e is AggregateException { InnerExceptions.Count: > 0 } a ? Innermost(a.InnerExceptions[0]) : e;
    }

    private static string Name(ParseResult parse)
    {
        var names = new List<string>();
        for (var result = parse.CommandResult; result is not null; result = result.Parent as System.CommandLine.Parsing.CommandResult)
            names.Insert(0, result.Command.Name);
        if (names.Count > 0) names[0] = "liveedit";
        return string.Join(' ', names);
    }
}
