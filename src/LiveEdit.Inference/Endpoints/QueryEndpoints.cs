using LiveEdit.Model.Text;
using LiveEdit.Hosting.Serving;
using LiveEdit.Inference.Auth;
using LiveEdit.Inference.Errors;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Edits;

namespace LiveEdit.Inference.Endpoints;

/// <summary>Ask the edited model, now or as of a past version or time.</summary>
public static class QueryEndpoints
{
    /// <param name="Warnings">One line per active expert left out of this answer (its blob is missing or corrupt).</param>
    /// <param name="SkippedExperts">Those experts' edits, hashes and problem.</param>
    public sealed record QueryResponse(string Answer, long Version, string AsOf, IReadOnlyList<FiredEdit> Experts,
        IReadOnlyList<string> Warnings, IReadOnlyList<SkippedExpert> SkippedExperts)
    {
        /// <summary>SHA-256 of the routing policy the answer was routed with (GET /routing-policy lists them).</summary>
        public string RoutingPolicySha256 { get; init; } = "";
    }

    private static readonly IReadOnlySet<string> Fields = new HashSet<string>(["prompt", "asOf"], StringComparer.Ordinal);

    public static void MapQueryEndpoints(this WebApplication app)
    {
        app.MapPost("/query", async (HttpContext http, EditedModelServer server, ModelRuntime runtime, ImageGate images, EditLedger ledger, CancellationToken ct) =>
            {
                var form = await Forms.ReadFormAsync(http.Request, Fields, ct);
                var prompt = Forms.Required(form, "prompt", EditLimits.MaxPromptLength);
                var asOfText = Forms.Optional(form, "asOf", 64);
                if (!AsOf.TryParse(asOfText, out var asOf, out var problem)) throw new RequestInputException("bad_as_of", Printable.Escape(problem!));
                if (asOf is not AsOf.Head)
                {
                    // Past versions show what the model knew and when: readers of the whole ledger only.
                    if (!http.ReadsAll())
                        throw new RequestInputException("forbidden_as_of", "'asOf' needs an approver, auditor or admin key; a proposer queries the head", StatusCodes.Status403Forbidden);
                    await RequireReachedAsync(asOf, ledger, ct);
                }
                var bytes = await Forms.ImageAsync(form, required: false, ct);
                var image = bytes is null ? null : await images.DecodeAsync(runtime, bytes, "the uploaded image", ct);
                if (runtime.TextLimits.CheckQuery(prompt, image is not null) is { } tooLong)
                    throw new RequestInputException(tooLong.Code, tooLong.Message, StatusCodes.Status422UnprocessableEntity);
                var result = await server.QueryAsync(image, prompt, asOf, ct: ct);
                return Results.Ok(new QueryResponse(result.Answer, result.Version, asOfText ?? "head", result.Experts, result.Warnings, result.Skipped)
                    { RoutingPolicySha256 = result.RoutingPolicySha256 });
            })
            .RequireAuthorization(Policies.Read).DisableAntiforgery().WithTags("Query")
            .WithSummary("Answer a question about an image (multipart: image, prompt, asOf = version or ISO-8601 time with Z or offset)");
    }

    /// <summary>An <c>asOf</c> the ledger has not reached yet is refused, not answered from the head.</summary>
    private static async Task RequireReachedAsync(AsOf asOf, EditLedger ledger, CancellationToken ct)
    {
        switch (asOf)
        {
            case AsOf.Sequence { Version: var version }:
                var head = await ledger.GetHeadAsync(ct);
                if (version > head)
                    throw new RequestInputException("as_of_in_future", $"'asOf' version {version} is after the ledger's head {head}", StatusCodes.Status422UnprocessableEntity);
                break;
            case AsOf.Timestamp { Moment: var moment } when moment > DateTimeOffset.UtcNow:
                throw new RequestInputException("as_of_in_future", $"'asOf' {moment:O} is in the future", StatusCodes.Status422UnprocessableEntity);
        }
    }
}
