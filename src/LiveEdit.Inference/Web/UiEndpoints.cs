using System.Text;
using LiveEdit.Hosting.Audit;
using LiveEdit.Inference.Auth;
using LiveEdit.Inference.Errors;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Audit;
using LiveEdit.Ledger.Errors;
using LiveEdit.Model.Text;

namespace LiveEdit.Inference.Web;

/// <summary>The UI's non-page endpoints: an edit's image (to those who may read the edit) and the audit export (to auditors).</summary>
internal static class UiEndpoints
{
    public static void MapUiEndpoints(this WebApplication app)
    {
        app.MapGet(WebUi.PathBase + "/edits/{id:guid}/image", async (Guid id, HttpContext http, EditLedger ledger, CancellationToken ct) =>
            {
                var proposal = await ledger.GetProposalAsync(id, ct);
                if (!http.ReadsAll() && proposal.ProposedBy != http.Actor()) throw new EditNotFoundException(id);
                var bytes = await ledger.Blobs.GetAsync(proposal.ImageSha256, ct); // hashed on read: a changed blob is an error, not an image
                http.Response.Headers.ContentDisposition = "inline";
                return Results.File(bytes, ImageContentType(bytes));
            })
            .RequireAuthorization(Policies.Read).ExcludeFromDescription();

        // The auditor's "Export" button: the same report as GET /audit/export, for a signed-in person.
        app.MapGet(WebUi.PathBase + "/export", async (HttpContext http, string? from, string? to, string? format, AuditExporter exporter,
                QueryAuditSettings settings, IConfiguration configuration, CancellationToken ct) =>
            {
                var chosen = string.IsNullOrWhiteSpace(format) ? "html" : format;
                if (chosen is not ("json" or "html" or "pdf"))
                    throw new RequestInputException("bad_format", $"'format' '{Printable.Excerpt(chosen)}' must be json, html or pdf");
                if (!Exports.Wait(0))
                    throw new RequestInputException("export_running", "an audit export is already being made from the UI of this host; try again when it is done",
                        StatusCodes.Status429TooManyRequests, new Dictionary<string, string> { ["Retry-After"] = "10" });
                try
                {
                    AuditExport export;
                    using (var key = settings.CheckpointPublicKeyFile is { } file ? CheckpointPublicKey.FromPemFile(file) : null)
                    {
                        try
                        {
                            export = await exporter.ExportAsync(new AuditExportRequest(Blank(from), Blank(to), http.Actor(), configuration["Checkpoints:Folder"], key), ct);
                        }
                        catch (AuditRangeException e)
                        {
                            throw new RequestInputException("bad_" + e.Parameter, Printable.Escape(e.Message));
                        }
                    }
                    http.Response.Headers["X-Audit-Status"] = export.Status.ToString();
                    var name = $"audit-{export.Schema}-{export.Range.FromVersion}-{export.Range.ToVersion}.{chosen}";
                    return chosen switch
                    {
                        "json" => Results.File(Encoding.UTF8.GetBytes(AuditReportJson.Write(export)), "application/json", name),
                        // The report is a document of its own, self-contained and escaped; it is downloaded, not shown under the UI's origin.
                        "html" => Results.File(Encoding.UTF8.GetBytes(AuditReportHtml.Write(export)), "text/html; charset=utf-8", name),
                        _ => Results.File(Pdf(export), "application/pdf", name),
                    };
                }
                finally
                {
                    Exports.Release();
                }
            })
            .RequireAuthorization(Policies.Audit).ExcludeFromDescription();
    }

    private static readonly SemaphoreSlim Exports = new(1, 1);

    private static string? Blank(string? text) => string.IsNullOrWhiteSpace(text) ? null : text.Trim();

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

    /// <summary>The content type from the image's first bytes (what the host accepted: PNG, JPEG, BMP); anything else is served as bytes.</summary>
    public static string ImageContentType(ReadOnlySpan<byte> bytes) => bytes switch
    {
        [0x89, (byte)'P', (byte)'N', (byte)'G', ..] => "image/png",
        [0xFF, 0xD8, 0xFF, ..] => "image/jpeg",
        [(byte)'B', (byte)'M', ..] => "image/bmp",
        _ => "application/octet-stream",
    };
}
