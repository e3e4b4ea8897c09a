using System.Globalization;
using LiveEdit.Hosting.Audit;
using LiveEdit.Inference.Auth;
using LiveEdit.Inference.Errors;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Audit;
using LiveEdit.Ledger.Queries;
using LiveEdit.Model.Text;
using Microsoft.AspNetCore.Http.HttpResults;

namespace LiveEdit.Inference.Endpoints;

/// <summary>The auditor's reads: the per-query records and the audit export (docs/audit.md).</summary>
public static class AuditEndpoints
{
    public static void MapAuditEndpoints(this WebApplication app)
    {
        var audit = app.MapGroup("/audit").WithTags("Audit");
        audit.MapGet("/queries", async Task<Ok<IReadOnlyList<QueryRecord>>> (string? from, string? to, string? imageSha256, string? editId, string? user, string? take,
                IQueryRecords records, CancellationToken ct) =>
                TypedResults.Ok(await records.FindAsync(Filter(from, to, imageSha256, editId, user, take), ct)))
            .RequireKey(Policies.Audit).WithName("FindQueryRecords").WithSummary("Recorded queries, newest first")
            .WithDescription("Every answered query is recorded (time, user, version, SHA-256 of image and prompt, answer, experts with weights). " +
                "Filters: `from` and `to` (ISO-8601 times or dates, UTC when no offset; `from` inclusive, `to` exclusive), `imageSha256`, `editId` (its expert fired), " +
                "`user`, `take` (1 to 1000, default 100). A bad parameter is 400 naming it.")
            .ProducesProblems(StatusCodes.Status400BadRequest);
        audit.MapGet("/edits/{editId}/firing", async Task<Ok<ExpertFiring>> (string editId, IQueryRecords records, CancellationToken ct) =>
                TypedResults.Ok(await records.FiringAsync(ParseGuid(editId, "editId")!.Value, ct)))
            .RequireKey(Policies.ReadAll).WithName("GetExpertFiring").WithSummary("How often and how strongly an edit's expert fired in the recorded queries")
            .ProducesProblems(StatusCodes.Status400BadRequest);
        audit.MapGet("/export", async Task<FileContentHttpResult> (HttpContext http, string? from, string? to, string? format, AuditExporter exporter,
                QueryAuditSettings settings, IConfiguration configuration, CancellationToken ct) =>
            {
                var chosen = (format ?? "json") is "json" or "html" or "pdf" ? format ?? "json"
                    : throw Bad("format", $"'format' '{Excerpt(format!)}' must be json, html or pdf");
                if (!Exports.Wait(0)) throw new RequestInputException("export_running", "an audit export is already being made on this host; try again when it is done",
                    StatusCodes.Status429TooManyRequests, new Dictionary<string, string> { ["Retry-After"] = "10" });
                try
                {
                    AuditExport export;
                    using (var key = settings.CheckpointPublicKeyFile is { } file ? CheckpointPublicKey.FromPemFile(file) : null)
                    {
                        try
                        {
                            export = await exporter.ExportAsync(new AuditExportRequest(from, to, http.Actor(), configuration["Checkpoints:Folder"], key), ct);
                        }
                        catch (AuditRangeException e)
                        {
                            throw Bad(e.Parameter, Printable.Escape(e.Message));
                        }
                    }
                    http.Response.Headers["X-Audit-Status"] = export.Status.ToString();
                    var name = $"audit-{export.Schema}-{export.Range.FromVersion}-{export.Range.ToVersion}.{chosen}";
                    return chosen switch
                    {
                        "json" => TypedResults.File(System.Text.Encoding.UTF8.GetBytes(AuditReportJson.Write(export)), "application/json", name),
                        "html" => TypedResults.File(System.Text.Encoding.UTF8.GetBytes(AuditReportHtml.Write(export)), "text/html; charset=utf-8", name),
                        _ => TypedResults.File(Pdf(export), "application/pdf", name),
                    };
                }
                finally
                {
                    Exports.Release();
                }
            })
            .RequireKey(Policies.Audit).WithName("ExportAudit").WithSummary("An audit report of a range of the ledger (JSON, HTML or PDF)")
            .WithDescription("`from` and `to`: a version or an ISO-8601 date or time (default: the whole ledger; a date alone as `to` is the whole day); " +
                "`format`: json (default), html or pdf. Per edit in range: content, history with who, when, why and signatures, expert SHA-256, active versions; " +
                "routing-policy changes; chain head and last signed checkpoint; the hash chain walked and every blob re-hashed now (expert regeneration not run). " +
                "A failed check leads the report and sets `X-Audit-Status: Failed`. One export at a time per host (429).")
            .Produces(StatusCodes.Status200OK, contentType: "application/json", additionalContentTypes: ["text/html", "application/pdf"])
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status429TooManyRequests, StatusCodes.Status503ServiceUnavailable);
    }

    private static readonly SemaphoreSlim Exports = new(1, 1);

    private static byte[] Pdf(AuditExport export)
    {
        try
        {
            return AuditReportPdf.Write(export);
        }
        catch (AuditPdfFontException e)
        {
            throw new RequestInputException("pdf_unavailable", $"this host cannot write PDF: {e.Message}", StatusCodes.Status503ServiceUnavailable);
        }
    }

    /// <summary>The query parameters of <c>GET /audit/queries</c> as a filter; a 400 naming the first bad one.</summary>
    internal static QueryRecordFilter Filter(string? from, string? to, string? imageSha256, string? editId, string? user, string? take)
    {
        var filter = new QueryRecordFilter(ParseTime(from, "from"), ParseTime(to, "to"), ParseGuid(editId, "editId"),
            imageSha256 is null ? null : Sha256Hex.IsValid(imageSha256) ? imageSha256
                : throw Bad("imageSha256", $"'imageSha256' '{Excerpt(imageSha256)}' is not a SHA-256 (64 lower-case hex characters)"),
            user, take is null ? 100 : int.TryParse(take, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n
                : throw Bad("take", $"'take' '{Excerpt(take)}' is not a whole number from 1 to {QueryRecordLimits.MaxTake}"));
        try
        {
            QueryRecordStore.Validate(filter);
        }
        catch (LiveEdit.Ledger.Errors.InvalidEditInputException e)
        {
            throw Bad(e.Parameter, $"'{e.Parameter}' {e.Message[(e.Parameter.Length + 2)..]}");
        }
        return filter;
    }

    /// <summary>An ISO-8601 time with Z or an offset, or a date (midnight UTC); null when absent.</summary>
    internal static DateTimeOffset? ParseTime(string? text, string name)
    {
        if (text is null) return null;
        if (text.Length <= 40 && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var at))
            return at;
        throw Bad(name, $"'{name}' '{Excerpt(text)}' is not a time (ISO-8601, e.g. 2026-03-03 or 2026-03-03T12:00:00Z)");
    }

    private static Guid? ParseGuid(string? text, string name) =>
        text is null ? null : Guid.TryParseExact(text, "D", out var id) ? id : throw Bad(name, $"'{name}' '{Excerpt(text)}' is not an edit id (a GUID)");

    private static RequestInputException Bad(string name, string message) =>
        new($"bad_{ToSnake(name)}", message);

    private static string ToSnake(string name) =>
        string.Concat(name.Select((c, i) => char.IsUpper(c) && i > 0 ? "_" + char.ToLowerInvariant(c) : char.ToLowerInvariant(c).ToString()));

    private static string Excerpt(string text) => Printable.Escape(text.Length > 40 ? text[..40] + "…" : text);
}
