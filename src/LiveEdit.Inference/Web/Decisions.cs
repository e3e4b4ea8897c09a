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
        OnFreshStateAsync(() => ledger.ApproveAsync(new ApproveEdit(id, actor), null, ct));

    public static Task<EditCommandResult> RejectAsync(EditLedger ledger, Guid id, string actor, string? reason, CancellationToken ct)
    {
        var why = Reason(reason);
        return OnFreshStateAsync(() => ledger.RejectAsync(new RejectEdit(id, actor, why), null, ct));
    }

    public static Task<EditCommandResult> RetractAsync(EditLedger ledger, Guid id, string actor, string? reason, CancellationToken ct)
    {
        var why = Reason(reason);
        return OnFreshStateAsync(() => ledger.RetractAsync(new RetractEdit(id, actor, why), null, ct));
    }

    /// <summary>
    /// As the API without If-Match: a concurrent write to the edit (a worker recording its expert) is not the person's
    /// conflict, so the decision is made again on the new state, a few times; one the new state forbids fails with its own error.
    /// </summary>
    private static async Task<EditCommandResult> OnFreshStateAsync(Func<Task<EditCommandResult>> command)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await command();
            }
            catch (LiveEdit.Ledger.Errors.ConcurrencyConflictException) when (attempt < 4)
            {
            }
        }
    }
}
