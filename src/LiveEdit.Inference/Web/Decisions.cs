using LiveEdit.Inference.Auth;
using LiveEdit.Inference.Auth.People;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Versions;

namespace LiveEdit.Inference.Web;

/// <summary>What a decision form posts: the reason, and the signature's user name, password and meaning.</summary>
public sealed record DecisionForm(string? Reason, string? UserName, string? Password, string? Meaning);

/// <summary>
/// Approve, reject and retract from a page: the ledger's own commands, each signed as over HTTP (<see cref="SignedDecisions"/>).
/// The signer gives user name and password again (<see cref="DecisionSigning"/>: the signed-in person only, with the role
/// the decision needs), and the signature is bound to the edit as the ledger holds it when the decision is appended.
/// </summary>
internal static class Decisions
{
    public static async Task<EditCommandResult> DecideAsync(HttpContext http, EditLedger ledger, LedgerOptions options, IPeopleDirectory people,
        Guid id, SignedDecision decision, DecisionForm form, CancellationToken ct)
    {
        var reason = decision == SignedDecision.Approve ? null : SignedDecisions.RequireReason(form.Reason);
        // An empty form field is no signature at all: the person is told it is required, naming the field.
        var request = new SignatureRequest(form.UserName ?? "", form.Password ?? "", string.IsNullOrWhiteSpace(form.Meaning) ? null : form.Meaning);
        var signer = await DecisionSigning.IdentifyAsync(http, people, request, decision, ct);
        var actor = http.Actor();
        return await SignedDecisions.OnFreshStateAsync(() => SignedDecisions.AppendAsync(ledger, options, decision, id, actor, reason, signer, expected: null, ct));
    }
}
