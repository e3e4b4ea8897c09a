using LiveEdit.Inference.Auth;
using LiveEdit.Inference.Errors;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Audit;
using LiveEdit.Ledger.Versions;
using Microsoft.AspNetCore.Http.HttpResults;

namespace LiveEdit.Inference.Endpoints;

/// <summary>Versions, diffs and the audit of the ledger.</summary>
public static class LedgerEndpoints
{
    /// <summary>The ledger's head.</summary>
    /// <param name="Version">The newest version: the sequence number of the latest event in the ledger (0 when empty).</param>
    public sealed record LedgerHead(long Version);

    public static void MapLedgerEndpoints(this WebApplication app)
    {
        var ledger = app.MapGroup("/ledger").WithTags("Ledger");
        ledger.MapGet("/head", async Task<Ok<LedgerHead>> (EditLedger l, CancellationToken ct) => TypedResults.Ok(new LedgerHead(await l.GetHeadAsync(ct))))
            .RequireKey(Policies.Read).WithName("GetLedgerHead").WithSummary("The ledger's newest version");
        ledger.MapGet("/versions", async Task<Ok<IReadOnlyList<LedgerVersion>>> (long? after, int? limit, bool? modelChangesOnly, EditLedger l, CancellationToken ct) =>
                TypedResults.Ok(await l.ListVersionsAsync(after ?? 0, limit ?? 1_000, modelChangesOnly ?? false, ct)))
            .RequireKey(Policies.ReadAll).WithName("ListLedgerVersions").WithSummary("Versions and what changed at each")
            .WithDescription("Versions after `after` (default 0), at most `limit` (default 1000); `modelChangesOnly` keeps the versions that changed the served model.")
            .ProducesProblems(StatusCodes.Status400BadRequest);
        ledger.MapGet("/diff", async Task<Ok<VersionDiff>> (long? from, long? to, EditLedger l, CancellationToken ct) =>
                TypedResults.Ok(await l.DiffAsync(from ?? throw new RequestInputException("missing_from", "'from' is required"),
                    to ?? await l.GetHeadAsync(ct), ct)))
            .RequireKey(Policies.ReadAll).WithName("DiffLedgerVersions").WithSummary("Edits that became active or left the model between two versions")
            .WithDescription("`from` is required; `to` defaults to the head. A version outside 0..head is 404 version_out_of_range.")
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound);
        ledger.MapGet("/active", async Task<Ok<ActiveExpertSet>> (long? version, EditLedger l, CancellationToken ct) =>
                TypedResults.Ok(version is { } v ? await l.GetActiveExpertsAsync(v, ct) : await l.GetActiveExpertsAsync(ct)))
            .RequireKey(Policies.ReadAll).WithName("GetActiveExperts").WithSummary("The active expert set at a version (default: head)")
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound);
        ledger.MapGet("/verify", async Task<Ok<LedgerVerification>> (EditLedger l, CancellationToken ct) => TypedResults.Ok(await l.VerifyAsync(ct)))
            .RequireKey(Policies.Audit).WithName("VerifyLedger").WithSummary("Audit the ledger")
            .WithDescription("Walks the hash chain and the read models; lists every break and every acknowledged incident.");
    }
}
