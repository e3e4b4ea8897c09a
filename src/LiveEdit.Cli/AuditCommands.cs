using System.CommandLine;
using System.Diagnostics;
using JasperFx;
using LiveEdit.Hosting.Audit;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Audit;
using Npgsql;

namespace LiveEdit.Cli;

/// <summary>
/// <c>liveedit audit export</c>: an audit report of a range of the ledger as JSON, HTML or PDF (docs/audit.md), read
/// directly from the database with <c>ConnectionStrings__Ledger</c>, <c>Ledger__Schema</c> and the chain key.
/// </summary>
internal static class AuditCommands
{
    /// <summary>The <c>audit</c> command group.</summary>
    public static Command Create()
    {
        var group = new Command("audit", "Audit reports of the ledger.");
        group.Subcommands.Add(CreateExport());
        return group;
    }

    private static Command CreateExport()
    {
        var from = new Option<string?>("--from") { Description = "First version, or a date/time (ISO-8601; UTC without an offset). Default: the start." };
        var to = new Option<string?>("--to") { Description = "Last version, or a date (the whole day) or time. Default: the head." };
        var output = new Option<string>("--out") { Description = "File to write; its extension (.json, .html, .pdf) chooses the format.", Required = true };
        var format = new Option<string?>("--format") { Description = "json, html or pdf (instead of the file's extension)." };
        var by = new Option<string?>("--by") { Description = "Name recorded as who made the report (default: the operating-system user)." };
        var schema = LedgerCommands.SchemaOption();
        var checkpoints = CheckpointCommands.CheckpointsOption();
        checkpoints.Description = "Folder of signed checkpoints: the report shows the last one and whether the ledger still extends it.";
        var publicKey = CheckpointCommands.PublicKeyOption();
        var command = new Command("export", "Write an audit report (JSON, HTML or PDF): edits with their history and signatures, checks of the chain and every blob.")
        {
            from, to, output, format, by, schema, checkpoints, publicKey,
        };
        command.SetAction(async (parse, ct) =>
        {
            var path = parse.GetValue(output)!;
            if (ChooseFormat(parse.GetValue(format), path) is not { } chosen)
            {
                Console.Error.WriteLine($"liveedit audit export: --format must be json, html or pdf, or --out must end in .json, .html or .pdf (got '{path}')");
                return 2;
            }
            var connection = Environment.GetEnvironmentVariable("ConnectionStrings__Ledger");
            if (string.IsNullOrWhiteSpace(connection))
            {
                Console.Error.WriteLine("liveedit audit export: ConnectionStrings__Ledger is not set; run: eval \"$(infra/services env)\"");
                return 2;
            }
            CheckpointPublicKey? key = null;
            try
            {
                if (parse.GetValue(publicKey) is { } keyFile) key = CheckpointPublicKey.FromPemFile(keyFile);
                await using var store = LedgerStore.Create(connection, parse.GetValue(schema)!, o => o.AutoCreateSchemaObjects = AutoCreate.None);
                var ledger = new EditLedger(store, new LedgerOptions { ChainKey = LedgerCommands.ChainKeyFromEnvironment() });
                var clock = Stopwatch.StartNew();
                var export = await new AuditExporter(ledger).ExportAsync(new AuditExportRequest(parse.GetValue(from), parse.GetValue(to),
                    parse.GetValue(by) ?? $"{Environment.UserName} (liveedit audit export)", parse.GetValue(checkpoints), key), ct);
                var built = clock.Elapsed;
                await WriteAsync(export, chosen, path, ct);
                Console.WriteLine($"wrote {path} ({chosen}): {export.Edits.Count} edits, versions {export.Range.FromVersion} to {export.Range.ToVersion}; " +
                    $"{clock.Elapsed.TotalSeconds:0.0} s ({built.TotalSeconds:0.0} s reading and checking)");
                // The file's hash, to note down or hand to whoever keeps the copy: a later change to the file shows.
                await using (var written = File.OpenRead(path))
                    Console.WriteLine($"sha256 {Convert.ToHexStringLower(await System.Security.Cryptography.SHA256.HashDataAsync(written, ct))}");
                if (export.Status == AuditStatus.Passed)
                {
                    Console.WriteLine("checks: PASSED (hash chain intact, every blob re-hashed; expert regeneration not run: liveedit verify --experts)");
                    return 0;
                }
                Console.Error.WriteLine($"checks: FAILED ({export.Checks.Failures.Count}); the report leads with them:");
                foreach (var failure in export.Checks.Failures.Take(20)) Console.Error.WriteLine("  " + failure);
                return 1;
            }
            catch (AuditRangeException e)
            {
                Console.Error.WriteLine($"liveedit audit export: --{e.Parameter}: {e.Message}");
                return 2;
            }
            catch (Exception e) when (e is CheckpointKeyException or AuditPdfFontException or InvalidOperationException or IOException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"liveedit audit export: {e.Message}");
                return 2;
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
            {
                Console.Error.WriteLine($"liveedit audit export: there is no ledger in that schema ({e.MessageText})");
                return 2;
            }
            catch (NpgsqlException e)
            {
                Console.Error.WriteLine($"liveedit audit export: cannot read the ledger: {e.Message}");
                return 2;
            }
            finally
            {
                key?.Dispose();
            }
        });
        return command;
    }

    /// <summary>json, html or pdf: <paramref name="format"/> when given, else the extension of <paramref name="path"/>; null when neither names one.</summary>
    internal static string? ChooseFormat(string? format, string path)
    {
        var name = (format ?? Path.GetExtension(path).TrimStart('.')).ToLowerInvariant();
        return name is "json" or "html" or "pdf" ? name : null;
    }

    /// <summary>Writes the report next to <paramref name="path"/> first and moves it into place: never half a report.</summary>
    private static async Task WriteAsync(AuditExport export, string format, string path, CancellationToken ct)
    {
        var full = Path.GetFullPath(path);
        var temporary = full + $".{Environment.ProcessId}.tmp";
        try
        {
            await using (var file = File.Create(temporary))
            {
                switch (format)
                {
                    case "json":
                        await file.WriteAsync(System.Text.Encoding.UTF8.GetBytes(AuditReportJson.Write(export)), ct);
                        break;
                    case "html":
                        await file.WriteAsync(System.Text.Encoding.UTF8.GetBytes(AuditReportHtml.Write(export)), ct);
                        break;
                    default:
                        AuditReportPdf.Write(export, file);
                        break;
                }
            }
            File.Move(temporary, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temporary)) File.Delete(temporary);
        }
    }
}
