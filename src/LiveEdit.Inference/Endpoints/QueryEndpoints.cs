using LiveEdit.Hosting.Serving;
using LiveEdit.Inference.Auth;
using LiveEdit.Inference.Errors;
using LiveEdit.Ledger.Edits;

namespace LiveEdit.Inference.Endpoints;

/// <summary>Ask the edited model, now or as of a past version or time.</summary>
public static class QueryEndpoints
{
    /// <param name="Warnings">One line per active expert left out of this answer (its blob is missing or corrupt).</param>
    /// <param name="SkippedExperts">Those experts' edits, hashes and problem.</param>
    public sealed record QueryResponse(string Answer, long Version, string AsOf, IReadOnlyList<FiredEdit> Experts,
        IReadOnlyList<string> Warnings, IReadOnlyList<SkippedExpert> SkippedExperts);

    public static void MapQueryEndpoints(this WebApplication app)
    {
        app.MapPost("/query", async (HttpContext http, EditedModelServer server, ModelRuntime runtime, CancellationToken ct) =>
            {
                var form = await Forms.ReadFormAsync(http.Request, ct);
                var prompt = Forms.Required(form, "prompt", EditLimits.MaxPromptLength);
                var asOfText = Forms.Optional(form, "asOf", 64);
                if (!AsOf.TryParse(asOfText, out var asOf, out var problem)) throw new RequestInputException("bad_as_of", problem!);
                var bytes = await Forms.ImageAsync(form, required: false, ct);
                var image = bytes is null ? null : runtime.ReadImage(bytes, "the uploaded image");
                if (runtime.TextLimits.CheckQuery(prompt, image is not null) is { } tooLong)
                    throw new RequestInputException(tooLong.Code, tooLong.Message, StatusCodes.Status422UnprocessableEntity);
                var result = await server.QueryAsync(image, prompt, asOf, ct: ct);
                return Results.Ok(new QueryResponse(result.Answer, result.Version, asOfText ?? "head", result.Experts, result.Warnings, result.Skipped));
            })
            .RequireAuthorization(Policies.Read).DisableAntiforgery().WithTags("Query")
            .WithSummary("Answer a question about an image (multipart: image, prompt, asOf = version or ISO time)");
    }
}
