using LiveEdit.Inference.Errors;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Edits;
using LiveEdit.Ledger.Errors;
using LiveEdit.Ledger.Versions;

namespace LiveEdit.Inference.Auth.People;

/// <summary>
/// Approve, reject and retract, signed and appended the same way whether they come from the HTTP API or a page: the
/// reason checked, the signer identified (<see cref="DecisionSigning"/>), the signature bound to the edit as it is when
/// the decision is appended, and the decision appended only at that version.
/// </summary>
public static class SignedDecisions
{
    /// <summary>The reason of a rejection or retraction, checked: a 400 <c>missing_reason</c> when blank, naming <c>reason</c> when bad.</summary>
    public static string RequireReason(string? reason) =>
        string.IsNullOrWhiteSpace(reason) ? throw new RequestInputException("missing_reason", "a 'reason' is required")
        : Endpoints.Forms.Text("reason", reason, EditLimits.MaxRationaleLength, allowedControls: "\n\r\t");

    /// <summary>
    /// Signs and appends <paramref name="decision"/> on the edit as it is now: the binding is made from the state just read,
    /// and the decision is appended only at that state's version (<paramref name="expected"/>, when given, must be it), so a
    /// change in between is a <see cref="ConcurrencyConflictException"/>, never a signature bound to a state the edit has left.
    /// </summary>
    /// <param name="reason">Required for a rejection or retraction (<see cref="RequireReason"/>); ignored for an approval.</param>
    public static async Task<EditCommandResult> AppendAsync(EditLedger ledger, LedgerOptions options, SignedDecision decision, Guid id, string actor,
        string? reason, Signer signer, long? expected, CancellationToken ct)
    {
        var (state, version) = await ledger.LoadAsync(id, ct);
        if (expected is { } wanted && wanted != version) throw new ConcurrencyConflictException(id, wanted, version);
        var signature = signer.Sign(state, options.ServedModels, options.Clock.GetUtcNow());
        return decision switch
        {
            SignedDecision.Approve => await ledger.ApproveAsync(new ApproveEdit(id, actor, signature), version, ct),
            SignedDecision.Reject => await ledger.RejectAsync(new RejectEdit(id, actor, reason!, signature), version, ct),
            _ => await ledger.RetractAsync(new RetractEdit(id, actor, reason!, signature), version, ct),
        };
    }

    /// <summary>
    /// For a caller that named no version: a concurrent write to the edit (typically a worker recording its expert) is not
    /// their conflict, so the decision is made again on the edit's new state, a few times. A decision that the new state
    /// forbids still fails with its own error.
    /// </summary>
    public static async Task<EditCommandResult> OnFreshStateAsync(Func<Task<EditCommandResult>> command)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await command();
            }
            catch (ConcurrencyConflictException) when (attempt < 4)
            {
            }
        }
    }
}
