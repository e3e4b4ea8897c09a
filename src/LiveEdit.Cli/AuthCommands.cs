using System.CommandLine;
using LiveEdit.Inference.Auth;

namespace LiveEdit.Cli;

/// <summary><c>liveedit auth hash-key</c>: the SHA-256 an API key is configured by.</summary>
internal static class AuthCommands
{
    public static Command Create()
    {
        var key = new Argument<string?>("key") { Description = "The key; read from standard input when left out (keeps it out of the shell history).", Arity = ArgumentArity.ZeroOrOne };
        var hash = new Command("hash-key", "Print the SHA-256 of an API key, for Auth:Keys:N:Sha256 or a keys file.") { key };
        hash.SetAction(parse =>
        {
            var secret = parse.GetValue(key) ?? Console.In.ReadLine() ?? "";
            secret = secret.TrimEnd('\r', '\n');
            if (secret.Length < 16)
            {
                Console.Error.WriteLine("liveedit auth hash-key: a key needs at least 16 characters (e.g. `openssl rand -hex 32`)");
                return 2;
            }
            Console.WriteLine(ApiKeyOptions.Hash(secret));
            return 0;
        });
        return new Command("auth", "API keys.") { hash };
    }
}
