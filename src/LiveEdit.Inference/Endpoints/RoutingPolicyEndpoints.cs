using System.Globalization;
using LiveEdit.Hosting.Serving;
using LiveEdit.Inference.Auth;
using LiveEdit.Inference.Errors;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Edits;
using LiveEdit.Ledger.Policies;
using LiveEdit.Model.Editor;
using LiveEdit.Model.Text;
using Microsoft.AspNetCore.Http.HttpResults;

namespace LiveEdit.Inference.Endpoints;

/// <summary>The routing policy in force (docs/routing-policy.md): read it, and (admin) set it as a chained ledger event.</summary>
public static class RoutingPolicyEndpoints
{
    /// <summary>A recorded policy: the version of its event, its values and SHA-256, who set it and why.</summary>
    public sealed record PolicyEntry(long? Version, RoutingPolicy Policy, string Sha256, string? SetBy, string? Reason, bool Inception, DateTimeOffset? SetAt);

    /// <summary>The policy in force at <see cref="AtVersion"/>, every recorded one, and the editor folder's default.</summary>
    public sealed record PolicyState(long AtVersion, PolicyEntry InForce, IReadOnlyList<PolicyEntry> History, PolicyEntry EditorDefault);

    /// <summary>Body of <c>PUT /routing-policy</c>; an absent value is 0 (the paper's).</summary>
    public sealed record SetPolicyBody(double? Margin, double? Band, double? HubnessWeight, int? HubnessTopK, string? FilterBankSha256, string? Reason);

    /// <summary>Answer of <c>PUT /routing-policy</c>: the version from which the policy is in force.</summary>
    public sealed record PolicySetResponse(long Version, string Sha256, bool Replayed);

    public static void MapRoutingPolicyEndpoints(this WebApplication app)
    {
        var group = app.MapGroup("/routing-policy").WithTags("Routing policy");
        group.MapGet("", async (long? version, HttpContext http, EditLedger ledger, RoutingPolicies policies, ModelRuntime runtime, CancellationToken ct) =>
            {
                var head = await ledger.GetHeadAsync(ct);
                var at = version ?? head;
                if (at < 0 || at > head)
                    throw new RequestInputException("bad_version", $"'version' {at} is not a version of the ledger (0..{head})");
                var history = await ledger.ListRoutingPoliciesAsync(ct);
                var inForce = await policies.AtAsync(at, ct);
                var recorded = EditLedger.PolicyAt(history, at);
                http.Response.Headers.ETag = ETag(history.Count == 0 ? 0 : history[^1].Version);
                return TypedResults.Ok(new PolicyState(at,
                    recorded is null ? new PolicyEntry(null, inForce.Policy, inForce.Sha256, null, "none recorded: the inception rule", true, null) : Entry(recorded),
                    history.Select(Entry).ToList(),
                    new PolicyEntry(null, runtime.Editor.DefaultPolicy, runtime.Editor.DefaultPolicy.Sha256, null, "the editor folder's default", false, null)));
            })
            .RequireKey(Policies.ReadAll).WithName("GetRoutingPolicy").WithSummary("The routing policy in force at a version")
            .WithDescription("At a version (default: head): the policy in force, every recorded one and the editor's default. ETag: the version of the last policy event (\"0\" when none). Approver, auditor or admin.")
            .ProducesProblems(StatusCodes.Status400BadRequest);

        group.MapPut("", SetAsync).RequireKey(Policies.SetRoutingPolicy).WithName("SetRoutingPolicy").WithSummary("Set the routing policy")
            .WithDescription("Admin only. From the next version on; past versions keep the policy they were served with. JSON: margin, band, hubnessWeight, hubnessTopK, filterBankSha256 (absent: 0), reason. A bad value is 400 invalid_routing_policy naming the field.")
            .DocumentsHeader("If-Match", "The ETag of GET /routing-policy (a strong tag, e.g. \"12\"): the policy is set only if the last policy event is still that one, else 412 with the current version.")
            .DocumentsHeader(EditEndpoints.IdempotencyKeyHeader, "1 to 200 printable ASCII characters without spaces: a retry with the same key and the same policy answers as the first attempt (replayed: true); with another policy, 409.")
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status409Conflict, StatusCodes.Status412PreconditionFailed, StatusCodes.Status415UnsupportedMediaType);
    }

    private static async Task<Results<Ok<PolicySetResponse>, ProblemHttpResult>> SetAsync(SetPolicyBody? body, HttpContext http, EditLedger ledger, RoutingPolicies policies, ModelRuntime runtime, CancellationToken ct)
    {
        if (body is null) throw new RequestInputException("missing_body", "send the policy as a JSON object");
        var reason = string.IsNullOrWhiteSpace(body.Reason) ? throw new RequestInputException("missing_reason", "a 'reason' is required")
            : Forms.Text("reason", body.Reason, EditLimits.MaxRationaleLength, allowedControls: "\n\r\t");
        RoutingPolicy policy;
        try
        {
            policy = new RoutingPolicy(body.Margin ?? 0, body.Band ?? 0, body.HubnessWeight ?? 0, body.HubnessTopK ?? 0, body.FilterBankSha256).RequireFits(runtime.Editor);
        }
        catch (InvalidRoutingPolicyException e)
        {
            throw new RequestInputException("invalid_routing_policy", e.Message, extensions: new Dictionary<string, object> { ["field"] = e.Field });
        }
        long? expected = null;
        var ifMatch = http.Request.Headers.IfMatch;
        if (ifMatch.Count > 0)
        {
            var text = ifMatch.ToString().Trim();
            if (text.StartsWith("W/", StringComparison.Ordinal) || !long.TryParse(text.Trim('"'), NumberStyles.None, CultureInfo.InvariantCulture, out var v))
                throw new RequestInputException("bad_if_match", $"If-Match '{Printable.Excerpt(ifMatch.ToString())}' is not the strong ETag of GET /routing-policy (e.g. \"12\")");
            expected = v;
        }
        Guid? requestId = EditEndpoints.ReadIdempotencyKey(http.Request) is { } key ? EditEndpoints.IdempotentEditId(http.Actor() + "\nrouting-policy", key) : null;
        // What was served before this change is pinned first: a ledger with no policy event gets its inception policy.
        await policies.EnsureRecordedAsync(ct);
        try
        {
            var result = await ledger.SetRoutingPolicyAsync(RoutingPolicies.ToRecorded(policy), policy.Sha256, http.Actor(), reason, expected, requestId, ct);
            http.Response.Headers.ETag = ETag(result.Version);
            return TypedResults.Ok(new PolicySetResponse(result.Version, result.Event.PolicySha256, result.Replayed));
        }
        catch (RoutingPolicyVersionMismatchException e)
        {
            // Answered here, not thrown: the exception handler clears ETag from error responses.
            http.Response.Headers.ETag = ETag(e.Current);
            return TypedResults.Problem(statusCode: StatusCodes.Status412PreconditionFailed, title: "The routing policy has changed", detail: e.Message,
                type: "https://liveedit.local/problems/version_mismatch",
                extensions: new Dictionary<string, object?> { ["code"] = "version_mismatch", ["currentVersion"] = e.Current });
        }
    }

    private static PolicyEntry Entry(RoutingPolicyVersion v) =>
        new(v.Version, RoutingPolicies.FromRecorded(v.Event.Policy), v.Event.PolicySha256, v.Event.SetBy, v.Event.Reason, v.Event.Inception, v.Event.SetAt);

    private static string ETag(long version) => $"\"{version}\"";
}
