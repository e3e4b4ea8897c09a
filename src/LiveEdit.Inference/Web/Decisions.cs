using LiveEdit.Inference.Errors;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Edits;
using LiveEdit.Ledger.Versions;

namespace LiveEdit.Inference.Web;

/// <summary>Approve, reject and retract from a page: the ledger's own commands, with the API's checks of the reason.</summary>
internal static class Decisions
{
    public static string Reason(string? reason) =>
        string.IsNullOrWhiteSpace(reason) ? throw new RequestInputException("missing_reason", "a 'reason' is required")
        : Endpoints.Forms.Text("reason", reason, EditLimits.MaxRationaleLength, allowedControls: "\n\r\t");

    public static Task<EditCommandResult> ApproveAsync(EditLedger ledger, Guid id, string actor, CancellationToken ct) =>
        ledger.ApproveAsync(new ApproveEdit(id, actor), null, ct);

    public static Task<EditCommandResult> RejectAsync(EditLedger ledger, Guid id, string actor, string? reason, CancellationToken ct) =>
        ledger.RejectAsync(new RejectEdit(id, actor, Reason(reason)), null, ct);

    public static Task<EditCommandResult> RetractAsync(EditLedger ledger, Guid id, string actor, string? reason, CancellationToken ct) =>
        ledger.RetractAsync(new RetractEdit(id, actor, Reason(reason)), null, ct);
}
