using LiveEdit.Inference.Auth;
using LiveEdit.Inference.Errors;
using LiveEdit.Ledger;

namespace LiveEdit.Inference.Endpoints;

/// <summary>Versions, diffs and the audit of the ledger.</summary>
public static class LedgerEndpoints
{
    public static void MapLedgerEndpoints(this WebApplication app)
    {
        var ledger = app.MapGroup("/ledger").WithTags("Ledger");
        ledger.MapGet("/head", async (EditLedger l, CancellationToken ct) => Results.Ok(new { version = await l.GetHeadAsync(ct) }))
            .RequireAuthorization(Policies.Read);
        ledger.MapGet("/versions", async (long? after, int? limit, bool? modelChangesOnly, EditLedger l, CancellationToken ct) =>
                Results.Ok(await l.ListVersionsAsync(after ?? 0, limit ?? 1_000, modelChangesOnly ?? false, ct)))
            .RequireAuthorization(Policies.ReadAll).WithSummary("Versions and what changed at each");
        ledger.MapGet("/diff", async (long? from, long? to, EditLedger l, CancellationToken ct) =>
                Results.Ok(await l.DiffAsync(from ?? throw new RequestInputException("missing_from", "'from' is required"),
                    to ?? await l.GetHeadAsync(ct), ct)))
            .RequireAuthorization(Policies.ReadAll).WithSummary("Edits that became active or left the model between two versions");
        ledger.MapGet("/active", async (long? version, EditLedger l, CancellationToken ct) =>
                Results.Ok(version is { } v ? await l.GetActiveExpertsAsync(v, ct) : await l.GetActiveExpertsAsync(ct)))
            .RequireAuthorization(Policies.ReadAll).WithSummary("The active expert set at a version (default: head)");
        ledger.MapGet("/verify", async (EditLedger l, CancellationToken ct) => Results.Ok(await l.VerifyAsync(ct)))
            .RequireAuthorization(Policies.Audit).WithSummary("Walk the hash chain and the read models; list every break and every acknowledged incident");
    }
}
