using LiveEdit.Inference.Auth.People;
using LiveEdit.Inference.Errors;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Edits;
using LiveEdit.Ledger.Versions;

namespace LiveEdit.Inference.Web;

/// <summary>What a decision form posts: the reason, and the signature's user name, password and meaning.</summary>
public sealed record DecisionForm(string? Reason, string? UserName, string? Password, string? Meaning);

/// <summary>
/// Approve, reject and retract from a page: the ledger's own commands, each signed. The signer gives user name and
/// password again (<see cref="DecisionSigning"/>: the signed-in person only, with the role the decision needs), and the
/// signature is bound to the edit as the ledger holds it when the decision is appended.
/// </summary>
internal static class Decisions
{
    public static string Reason(string? reason) =>
        string.IsNullOrWhiteSpace(reason) ? throw new RequestInputException("missing_reason", "a 'reason' is required")
        : Endpoints.Forms.Text("reason", reason, EditLimits.MaxRationaleLength, allowedControls: "\n\r\t");

    public static async Task<EditCommandResult> DecideAsync(HttpContext http, EditLedger ledger, LedgerOptions options, IPeopleDirectory people,
        Guid id, SignedDecision decision, DecisionForm form, CancellationToken ct)
    {
        var reason = decision == SignedDecision.Approve ? null : Reason(form.Reason);
        // An empty form field is no signature at all: the person is told it is required, naming the field.
        var request = new SignatureRequest(form.UserName ?? "", form.Password ?? "", string.IsNullOrWhiteSpace(form.Meaning) ? null : form.Meaning);
        var signer = await DecisionSigning.IdentifyAsync(http, people, request, decision, ct);
        var actor = http.User.Identity!.Name!;
        for (var attempt = 0; ; attempt++)
        {
            // Bound to the edit as it is now, and appended only at that version: a concurrent write (a worker recording the
            // expert) means a new binding on the new state, never a signature bound to a state the edit has left.
            var (state, version) = await ledger.LoadAsync(id, ct);
            var signature = signer.Sign(state, options.ServedModels, options.Clock.GetUtcNow());
            try
            {
                return decision switch
                {
                    SignedDecision.Approve => await ledger.ApproveAsync(new ApproveEdit(id, actor, signature), version, ct),
                    SignedDecision.Reject => await ledger.RejectAsync(new RejectEdit(id, actor, reason!, signature), version, ct),
                    _ => await ledger.RetractAsync(new RetractEdit(id, actor, reason!, signature), version, ct),
                };
            }
            catch (LiveEdit.Ledger.Errors.ConcurrencyConflictException) when (attempt < 4)
            {
            }
        }
    }
}
