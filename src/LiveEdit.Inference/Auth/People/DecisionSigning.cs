using LiveEdit.Inference.Errors;
using LiveEdit.Ledger.Edits;

namespace LiveEdit.Inference.Auth.People;

/// <summary>The <c>signature</c> member of a decision's JSON body: both identification components, given again, and the meaning.</summary>
/// <param name="UserName">The signer's user name.</param>
/// <param name="Password">The signer's password.</param>
/// <param name="Meaning">One of <see cref="SignatureMeanings"/> allowed for the decision; the decision's own when left out.</param>
public sealed record SignatureRequest(string? UserName, string? Password, string? Meaning = null);

/// <summary>The decisions a signature can be given for, with the meanings and roles each takes.</summary>
public enum SignedDecision
{
    Approve,
    Reject,
    Retract,
}

/// <summary>Who signs a decision and how, once identified; the binding is added per attempt (<see cref="Sign"/>).</summary>
public sealed record Signer(string UserName, string Name, string Method, string Meaning)
{
    /// <summary>The signature on an edit in <paramref name="state"/>, bound as the ledger will check it.</summary>
    public ElectronicSignature Sign(Edit state, SignatureModels? served, DateTimeOffset now) =>
        new(UserName, Name, Meaning, Method, SignatureRules.BindingFor(state, served), now);
}

/// <summary>
/// Identifies the signer of a decision made over HTTP (21 CFR Part 11 §11.200(a)(1)): a person gives user name and password
/// again in <c>signature</c>, checked with <see cref="IPeopleDirectory.VerifyAsync"/> (a failure counts toward lockout and
/// nothing is appended); a machine's API key without <c>signature</c> signs as the key's name. A person signed in by cookie
/// must sign and may sign only as themselves; the signer must hold a role the decision needs.
/// </summary>
public static class DecisionSigning
{
    /// <summary>The meanings a signature on <paramref name="decision"/> may carry; the first is the default.</summary>
    public static IReadOnlyList<string> Meanings(SignedDecision decision) => decision switch
    {
        SignedDecision.Approve => SignatureMeanings.ForApproval,
        SignedDecision.Reject => SignatureMeanings.ForRejection,
        _ => SignatureMeanings.ForRetraction,
    };

    /// <summary>The roles of which the signer of <paramref name="decision"/> must hold one (as the endpoint's policy asks of the caller).</summary>
    public static IReadOnlyList<string> RolesFor(SignedDecision decision) =>
        decision == SignedDecision.Retract ? [Roles.Admin] : [Roles.Approver, Roles.Admin];

    /// <summary>The signer of a decision, or a 400/403 problem naming the <c>signature</c> field at fault.</summary>
    public static async Task<Signer> IdentifyAsync(HttpContext http, IPeopleDirectory people, SignatureRequest? request, SignedDecision decision, CancellationToken ct)
    {
        var meanings = Meanings(decision);
        if (request is null)
        {
            if (http.IsPerson())
                throw Problem("signature_required", "signature", StatusCodes.Status400BadRequest,
                    "a person signs each decision by giving user name and password again: send {\"signature\": {\"userName\": …, \"password\": …, \"meaning\": …}}");
            var key = http.Actor();
            return new Signer(key, key, SignatureMethods.ApiKey, meanings[0]);
        }
        var meaning = request.Meaning is null ? meanings[0] : request.Meaning.Trim().ToLowerInvariant();
        if (!meanings.Contains(meaning, StringComparer.Ordinal))
            throw Problem("bad_signature_meaning", "signature.meaning", StatusCodes.Status400BadRequest,
                $"must be one of {string.Join(", ", meanings)} for this decision, got '{LiveEdit.Model.Text.Printable.Excerpt(request.Meaning)}'");
        if (string.IsNullOrWhiteSpace(request.UserName))
            throw Problem("missing_signature_user", "signature.userName", StatusCodes.Status400BadRequest, "the signer's user name is required");
        if (string.IsNullOrEmpty(request.Password))
            throw Problem("missing_signature_password", "signature.password", StatusCodes.Status400BadRequest, "the signer's password is required: a signature asks for it again");
        if (http.IsPerson() && !string.Equals(request.UserName.Trim(), http.Actor(), StringComparison.OrdinalIgnoreCase))
            throw Problem("signer_not_caller", "signature.userName", StatusCodes.Status403Forbidden, "a person signs only as themselves: it must be the signed-in user");
        var person = await people.VerifyAsync(request.UserName.Trim(), request.Password, ct)
            ?? throw Problem("signature_rejected", "signature.password", StatusCodes.Status403Forbidden,
                "the user name and password do not identify an enabled account that is not locked; nothing was recorded, and the failure counts toward the account's lockout");
        var roles = RolesFor(decision);
        if (!roles.Any(person.Roles.Contains))
            throw Problem("signer_lacks_role", "signature.userName", StatusCodes.Status403Forbidden,
                $"'{person.UserName}' may not sign this decision: it needs the role {string.Join(" or ", roles)}");
        return new Signer(person.UserName, person.DisplayName, SignatureMethods.Password, meaning);
    }

    private static RequestInputException Problem(string code, string field, int status, string message) =>
        new(code, $"{field}: {message}", status, extensions: new Dictionary<string, object> { ["field"] = field });
}
