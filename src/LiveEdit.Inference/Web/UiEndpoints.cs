using LiveEdit.Inference.Auth;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Errors;

namespace LiveEdit.Inference.Web;

/// <summary>The UI's non-page endpoints: an edit's image, served from the blob store to those who may read the edit.</summary>
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
