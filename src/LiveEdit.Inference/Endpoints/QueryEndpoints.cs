using LiveEdit.Hosting.Serving;
using LiveEdit.Inference.Auth;
using LiveEdit.Inference.Errors;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Edits;
using LiveEdit.Model.Text;
using Microsoft.AspNetCore.Http.HttpResults;

namespace LiveEdit.Inference.Endpoints;

/// <summary>Ask the edited model, now or as of a past version or time.</summary>
public static class QueryEndpoints
{
    /// <param name="Warnings">One line per active expert left out of this answer (its blob is missing or corrupt).</param>
    /// <param name="SkippedExperts">Those experts' edits, hashes and problem.</param>
    public sealed record QueryResponse(string Answer, long Version, string AsOf, IReadOnlyList<ExpertInAnswer> Experts,
        IReadOnlyList<string> Warnings, IReadOnlyList<SkippedExpert> SkippedExperts)
    {
        /// <summary>SHA-256 of the routing policy the answer was routed with (GET /routing-policy lists them).</summary>
        public string RoutingPolicySha256 { get; init; } = "";
    }


    /// <summary>The multipart form of <c>POST /query</c> (read by the handler itself, field by field, with its own errors).</summary>
    /// <param name="Image">The picture the question is about (optional: a text-only question).</param>
    /// <param name="Prompt">The question.</param>
    /// <param name="AsOf">A past ledger version (a number) or time (ISO-8601 with Z or an offset); the head when left out.</param>
    /// <param name="MinVersion">At the head only: answer with the head model at this ledger version or later (read-your-writes
    /// after seeing an edit become active at it); the host waits for its head to get there, up to a bound (then 503 with
    /// Retry-After). A version after the ledger's head is 422.</param>
    public sealed record QueryForm(IFormFile Image, string Prompt, string? AsOf = null, long? MinVersion = null);

    private static readonly IReadOnlySet<string> Fields = new HashSet<string>(["prompt", "asOf", "minVersion"], StringComparer.Ordinal);

    /// <summary>The query endpoint's name (its OpenAPI operation, and how <see cref="QueryPathWarmUp"/> finds it).</summary>
    public const string Name = "Query";

    // Set only by QueryPathWarmUp on a request it builds in process; no client request can carry an item.
    internal const string WarmUpItem = "liveedit.query-warm-up";

    /// <summary>True for the host's own warm-up request (<see cref="QueryPathWarmUp"/>, in process or over HTTP), which is no client's query.</summary>
    internal static bool IsWarmUp(HttpContext http) => http.Items.ContainsKey(WarmUpItem) || http.User.IsInRole(Roles.WarmUp);

    public static void MapQueryEndpoints(this WebApplication app)
    {
        app.MapPost("/query", async Task<Ok<QueryResponse>> (HttpContext http, EditedModelServer server, ModelRuntime runtime, ImageGate images, EditLedger ledger,
                HeadFollowingSettings following, LiveEdit.Hosting.Audit.QueryRecordWriter records, CancellationToken ct) =>
            {
                FirstQueryPhases.Mark(http, "middleware");
                var form = await Forms.ReadFormAsync(http.Request, Fields, ct);
                FirstQueryPhases.Mark(http, "form");
                var prompt = Forms.Required(form, "prompt", EditLimits.MaxPromptLength);
                var asOfText = Forms.Optional(form, "asOf", 64);
                if (!AsOf.TryParse(asOfText, out var asOf, out var problem)) throw new RequestInputException("bad_as_of", Printable.Escape(problem!));
                var minVersion = MinVersion(Forms.Optional(form, "minVersion", 24), asOf);
                if (asOf is not AsOf.Head)
                {
                    // Past versions show what the model knew and when: readers of the whole ledger only.
                    if (!http.ReadsAll())
                        throw new RequestInputException("forbidden_as_of", "'asOf' needs an approver, auditor or admin key; a proposer queries the head", StatusCodes.Status403Forbidden);
                    await RequireReachedAsync(asOf, ledger, ct);
                }
                var bytes = await Forms.ImageAsync(form, required: false, ct);
                var image = bytes is null ? null : await images.DecodeAsync(runtime, bytes, "the uploaded image", ct);
                FirstQueryPhases.Mark(http, "image");
                if (runtime.CheckQuery(prompt, image is not null) is { } tooLong)
                    throw new RequestInputException(tooLong.Code, tooLong.Message, StatusCodes.Status422UnprocessableEntity);
                if (minVersion is { } least) await AwaitHeadAsync(server, least, following.MinVersionPatience, ct);
                var result = await server.QueryAsync(image, prompt, asOf, ct: ct);
                FirstQueryPhases.Mark(http, "model");
                if (!IsWarmUp(http)) records.Record(http.Actor(), bytes, prompt, result); // queued, written off the request path (docs/audit.md)
                else await records.RehearseAsync(http.Actor(), bytes, prompt, result, ct); // writes nothing (docs/serving.md, "Ready means ready")
                FirstQueryPhases.Mark(http, "record");
                return TypedResults.Ok(new QueryResponse(result.Answer, result.Version, asOfText ?? "head", result.Experts, result.Warnings, result.Skipped)
                    { RoutingPolicySha256 = result.RoutingPolicySha256 });
            })
            .RequireKey(Policies.Query).DisableAntiforgery().WithTags("Query").WithName(Name)
            .WithSummary("Answer a question about an image")
            .WithDescription("Multipart form: image, prompt, asOf (a version, or an ISO-8601 time with Z or an offset), minVersion (at the head: at least this version). " +
                "The answer names the version it was made at and the experts that took part. " +
                "A past version needs an approver, auditor or admin key (403 forbidden_as_of for a proposer); a time before the first event is 404, a version or time after the head 422. " +
                "minVersion after the ledger's head is 422 min_version_in_future; a head model that does not reach it in time is 503 head_behind with Retry-After.")
            .DescribesForm<QueryForm, RouteHandlerBuilder>()
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound, StatusCodes.Status413PayloadTooLarge,
                StatusCodes.Status415UnsupportedMediaType, StatusCodes.Status422UnprocessableEntity);
    }

    /// <summary>The <c>minVersion</c> field: a non-negative version, for the head only.</summary>
    private static long? MinVersion(string? text, AsOf asOf)
    {
        if (text is null) return null;
        if (!long.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var version))
            throw new RequestInputException("bad_min_version", $"'minVersion' '{Printable.Escape(text.Length > 24 ? text[..24] + "…" : text)}' is not a ledger version (a whole number, 0 or more)");
        if (asOf is not AsOf.Head)
            throw new RequestInputException("min_version_with_as_of", "'minVersion' applies to the head only; 'asOf' already names the version to answer at");
        return version;
    }

    /// <summary>Read-your-writes: waits (bounded) until the head model is at <paramref name="minVersion"/> or later.</summary>
    private static async Task AwaitHeadAsync(EditedModelServer server, long minVersion, TimeSpan patience, CancellationToken ct)
    {
        switch (await server.WaitForHeadAsync(minVersion, patience, ct))
        {
            case HeadWait.LedgerBehind { LedgerHead: var head }:
                throw new RequestInputException("min_version_in_future", $"'minVersion' {minVersion} is after the ledger's head {head}", StatusCodes.Status422UnprocessableEntity);
            case HeadWait.TimedOut { HeadVersion: var at }:
                var retry = Math.Max(1, (int)Math.Ceiling(Math.Min(patience.TotalSeconds, 5)));
                throw new RequestInputException("head_behind",
                    $"this host's head model is at version {at}, below 'minVersion' {minVersion}, after {patience.TotalSeconds:0.#} s; try again shortly",
                    StatusCodes.Status503ServiceUnavailable, new Dictionary<string, string> { ["Retry-After"] = retry.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        }
    }

    /// <summary>An <c>asOf</c> the ledger has not reached yet is refused, not answered from the head.</summary>
    internal static async Task RequireReachedAsync(AsOf asOf, EditLedger ledger, CancellationToken ct)
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
