using LiveEdit.Hosting.Serving;
using LiveEdit.Inference.Auth;
using LiveEdit.Inference.Errors;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Edits;

namespace LiveEdit.Inference.Endpoints;

/// <summary>Ask the edited model, now or as of a past version or time.</summary>
public static class QueryEndpoints
{
    public sealed record QueryResponse(string Answer, long Version, string AsOf, IReadOnlyList<FiredEdit> Experts);

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
                RequireRoomToAnswer(runtime, prompt, withImage: image is not null);
                var result = await server.QueryAsync(image, prompt, asOf, ct: ct);
                return Results.Ok(new QueryResponse(result.Answer, result.Version, asOfText ?? "head", result.Experts));
            })
            .RequireAuthorization(Policies.Read).DisableAntiforgery().WithTags("Query")
            .WithSummary("Answer a question about an image (multipart: image, prompt, asOf = version or ISO-8601 time with Z or offset)");
    }

    /// <summary>The model reads vision tokens, the prompt and the answer in one sequence; a prompt that leaves no room is refused.</summary>
    private static void RequireRoomToAnswer(ModelRuntime runtime, string prompt, bool withImage)
    {
        var config = runtime.Model.Config;
        var room = config.MaxLength - (withImage ? config.VisionTokens : 0) - 1;
        var tokens = runtime.Model.Tokenizer.Encode(prompt).Length;
        if (tokens > room)
            throw new RequestInputException("prompt_too_long",
                $"'prompt' is {tokens} tokens; the model reads at most {room} prompt tokens {(withImage ? "with an image" : "without an image")}");
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
