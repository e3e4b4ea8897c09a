using System.CommandLine;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Audit;
using Npgsql;

namespace LiveEdit.Cli;

/// <summary>
/// Signed checkpoints of the ledger's hash chain, kept outside the database: <c>liveedit ledger keygen</c>,
/// <c>liveedit ledger checkpoint</c>, and the <c>--checkpoints</c>/<c>--public-key</c> part of <c>liveedit verify</c>.
/// </summary>
internal static class CheckpointCommands
{
    /// <summary>A <c>ledger</c> command group holding only the checkpoint commands (for a CLI without another one).</summary>
    public static Command CreateLedgerGroup()
    {
        var ledger = new Command("ledger", "Commands on the ledger itself, run by its operator.");
        AttachTo(ledger);
        return ledger;
    }

    /// <summary>Adds <c>keygen</c> and <c>checkpoint</c> to a <c>ledger</c> command group.</summary>
    public static void AttachTo(Command ledgerGroup)
    {
        ledgerGroup.Subcommands.Add(Keygen());
        ledgerGroup.Subcommands.Add(Checkpoint());
    }

    private static Command Keygen()
    {
        var privateKey = new Option<string>("--private") { Description = "New file for the private key (PKCS#8 PEM, mode 0600). Keep it off the database server.", Required = true };
        var publicKey = new Option<string>("--public") { Description = "New file for the public key (SPKI PEM), for whoever verifies.", Required = true };
        var command = new Command("keygen", "Make an ECDSA P-256 key pair for signing checkpoints; never overwrites a file.") { privateKey, publicKey };
        command.SetAction((parse, _) => Run("ledger keygen", () =>
        {
            var keyId = CheckpointKeys.GenerateFiles(parse.GetValue(privateKey)!, parse.GetValue(publicKey)!);
            Console.WriteLine($"private key: {parse.GetValue(privateKey)} (owner read/write only)");
            Console.WriteLine($"public key:  {parse.GetValue(publicKey)}");
            Console.WriteLine($"key id:      {keyId}");
            return Task.FromResult(0);
        }));
        return command;
    }

    private static Command Checkpoint()
    {
        var key = new Option<string?>("--key") { Description = $"Private key file (PKCS#8 PEM); without it the PEM text in {CheckpointSigner.EnvironmentVariable}." };
        var output = new Option<string>("--out") { Description = "Folder for checkpoint files (created if missing); one the database owner cannot write.", Required = true };
        var schema = SchemaOption();
        var command = new Command("checkpoint", "Sign the hash chain's head and write it as checkpoint-<schema>-<sequence>.json; prints a line for an outside notary.")
        {
            key, output, schema,
        };
        command.SetAction((parse, ct) => Run("ledger checkpoint", async () =>
        {
            using var signer = parse.GetValue(key) is { } path ? CheckpointSigner.FromPemFile(path) : CheckpointSigner.FromEnvironment();
            if (ConnectionString("ledger checkpoint") is not { } connection) return 2;
            await using var store = LedgerStore.Create(connection, parse.GetValue(schema)!);
            var checkpoints = new LedgerCheckpoints(new EditLedger(store, new LedgerOptions { ChainKey = LedgerCommands.ChainKeyFromEnvironment() }));
            var checkpoint = await checkpoints.CreateAsync(signer, ct: ct);
            var written = await LedgerCheckpoints.WriteAsync(checkpoint, parse.GetValue(output)!, ct);
            if (written.AlreadyExisted)
            {
                Console.WriteLine($"{written.Path} already exists (the chain has not grown since); kept it");
                Console.WriteLine(LedgerCheckpoint.Parse(await File.ReadAllTextAsync(written.Path, ct)).NotaryLine);
                return 0;
            }
            Console.WriteLine($"wrote {written.Path}");
            Console.WriteLine(checkpoint.NotaryLine);
            return 0;
        }));
        return command;
    }

    /// <summary><c>--checkpoints DIR</c> of <c>liveedit verify</c>.</summary>
    public static Option<string?> CheckpointsOption() =>
        new("--checkpoints") { Description = "Also prove the ledger still extends every signed checkpoint in this folder (needs --public-key)." };

    /// <summary><c>--public-key FILE</c> of <c>liveedit verify</c>.</summary>
    public static Option<string?> PublicKeyOption() =>
        new("--public-key") { Description = "Public key (SPKI PEM) the checkpoints must be signed with." };

    /// <summary>
    /// The checkpoint part of <c>liveedit verify</c>: one line per problem, one summary line. Returns false on any
    /// problem or when the checkpoints cannot be checked (the reason printed as one line).
    /// </summary>
    /// <param name="chainWalk">The chain walk <c>verify</c> has just done (so it is not done twice).</param>
    public static async Task<bool> VerifyAsync(EditLedger ledger, LedgerVerification chainWalk, string? folder, string? publicKeyPath, CancellationToken ct)
    {
        if (folder is null && publicKeyPath is null) return true;
        var code = await Run("verify", async () =>
        {
            if (folder is null || publicKeyPath is null)
            {
                Console.Error.WriteLine("liveedit verify: --checkpoints and --public-key go together");
                return 2;
            }
            using var key = CheckpointPublicKey.FromPemFile(publicKeyPath);
            var result = await new LedgerCheckpoints(ledger).VerifyCheckpointsAsync(folder, key, chainWalk, ct);
            foreach (var p in result.Problems)
                Console.WriteLine(Printable(p.Sequence is { } s
                    ? $"checkpoint {p.File} (sequence {s}): {p.Message}"
                    : $"checkpoint {p.File}: {p.Message}"));
            if (!result.Chain.IsIntact)
                Console.WriteLine("checkpoints: the hash chain walk is broken (see above), so the ledger does not extend them");
            var others = result.OtherSchemas > 0 ? $"; {result.OtherSchemas} of other schemas not checked" : "";
            var range = result.Verified.Count > 0 ? $" (sequences {result.Verified[0].Sequence}..{result.Verified[^1].Sequence})" : "";
            Console.WriteLine(result.IsIntact
                ? $"checkpoints: {result.Verified.Count} verified{range}, signed by key {key.KeyId[..16]}…; the ledger extends every one{others}"
                : $"checkpoints: {result.Verified.Count} verified{range}, {result.Problems.Count} problem(s){others}");
            return result.IsIntact ? 0 : 1;
        });
        return code == 0;
    }

    // A file name in the folder is not ours to trust: never send its control characters to the terminal.
    private static string Printable(string text) => LiveEdit.Model.Text.Printable.Escape(text);

    private static Option<string> SchemaOption() => LedgerCommands.SchemaOption();

    private static string? ConnectionString(string name)
    {
        var connection = Environment.GetEnvironmentVariable("ConnectionStrings__Ledger");
        if (!string.IsNullOrWhiteSpace(connection)) return connection;
        Console.Error.WriteLine($"liveedit {name}: ConnectionStrings__Ledger is not set; run: eval \"$(infra/services env)\"");
        return null;
    }

    // Expected failures are one line on stderr and a non-zero exit, never a stack trace.
    private static async Task<int> Run(string name, Func<Task<int>> body)
    {
        try
        {
            return await body();
        }
        catch (Exception e) when (e is CheckpointKeyException or CheckpointException or CheckpointFormatException)
        {
            Console.Error.WriteLine($"liveedit {name}: {e.Message}");
            return 1;
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            Console.Error.WriteLine($"liveedit {name}: there is no ledger in that schema ({e.MessageText})");
            return 2;
        }
        catch (NpgsqlException e)
        {
            Console.Error.WriteLine($"liveedit {name}: cannot read the ledger: {e.Message}");
            return 2;
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"liveedit {name}: {e.Message}");
            return 2;
        }
    }
}
