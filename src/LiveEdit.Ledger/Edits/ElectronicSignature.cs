using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using LiveEdit.Ledger.Errors;

namespace LiveEdit.Ledger.Edits;

/// <summary>What a signer declares by signing (21 CFR Part 11 §11.50(a)(3)): the values of <see cref="ElectronicSignature.Meaning"/>.</summary>
public static class SignatureMeanings
{
    public const string Approval = "approval", Rejection = "rejection", Retraction = "retraction", Review = "review", Responsibility = "responsibility";

    /// <summary>Every meaning a signature can carry.</summary>
    public static readonly IReadOnlyList<string> All = [Approval, Rejection, Retraction, Review, Responsibility];

    /// <summary>The meanings a signature on an approval may carry; the first is the one given when none is asked for.</summary>
    public static readonly IReadOnlyList<string> ForApproval = [Approval, Review, Responsibility];

    /// <summary>The meanings a signature on a rejection may carry; the first is the default.</summary>
    public static readonly IReadOnlyList<string> ForRejection = [Rejection, Review, Responsibility];

    /// <summary>The meanings a signature on a retraction may carry; the first is the default.</summary>
    public static readonly IReadOnlyList<string> ForRetraction = [Retraction, Responsibility];
}

/// <summary>How the signer was identified when signing: the values of <see cref="ElectronicSignature.Method"/>.</summary>
public static class SignatureMethods
{
    /// <summary>A person gave both identification components (user name and password) again for this signature.</summary>
    public const string Password = "password";

    /// <summary>A machine authenticated with its API key; the signer is the key's name.</summary>
    public const string ApiKey = "api-key";

    /// <summary>Every method.</summary>
    public static readonly IReadOnlyList<string> All = [Password, ApiKey];
}

/// <summary>
/// What a signature is bound to: the edit's content (<see cref="EditContent.Sha256"/>) and the SHA-256 of the generator
/// (editor) and base model the ledger serves the edit with, and of the edit's expert when it already has one (null before).
/// </summary>
public sealed record SignatureBinding(string EditContentSha256, string? GeneratorSha256, string? BaseModelSha256, string? ExpertSha256);

/// <summary>
/// An electronic signature recorded inside a chained decision event (<see cref="EditApproved"/>, <see cref="EditRejected"/>,
/// <see cref="EditRetracted"/>): who signed (user name and printed name), what it means, how the signer was identified,
/// what it is bound to and when. Being part of the event's data, it is covered by the event's hash-chain entry.
/// </summary>
/// <param name="SignerUserName">The signer's unique user name (a person's account, or an API key's name).</param>
/// <param name="SignerName">The signer's printed (display) name at the time of signing.</param>
/// <param name="Meaning">One of <see cref="SignatureMeanings"/>.</param>
/// <param name="Method">One of <see cref="SignatureMethods"/>.</param>
public sealed record ElectronicSignature(string SignerUserName, string SignerName, string Meaning, string Method, SignatureBinding Binding, DateTimeOffset SignedAt);

/// <summary>The models a ledger serves edits with, which a signature's binding names when the edit has no expert yet.</summary>
/// <param name="GeneratorSha256">The editor's (expert generator's) SHA-256.</param>
/// <param name="BaseModelSha256">The base model's weights SHA-256.</param>
public sealed record SignatureModels(string GeneratorSha256, string BaseModelSha256);

/// <summary>The canonical content of a proposal and its SHA-256, which signatures bind to (docs/signatures.md).</summary>
public static class EditContent
{
    /// <summary>First line of the encoding; a later encoding gets another.</summary>
    public const string Version = "liveedit-edit-content/v1";

    /// <summary>
    /// The canonical bytes of <paramref name="proposal"/>: <see cref="Version"/> and a line feed, then each field as
    /// <c>name ':' byteLength ':' UTF-8 bytes '\n'</c> in a fixed order (editId, imageSha256, prompt, target, rationale,
    /// proposedBy, tags, supersedes); tags as their count followed by each tag length-prefixed the same way.
    /// Length prefixes make the encoding unambiguous whatever the text holds.
    /// </summary>
    public static byte[] Canonical(EditProposed proposal)
    {
        ArgumentNullException.ThrowIfNull(proposal);
        var buffer = new MemoryStream();
        void Raw(string text)
        {
            var bytes = Encoding.UTF8.GetBytes(text);
            buffer.Write(bytes);
        }
        void Field(string name, string value)
        {
            var bytes = Encoding.UTF8.GetBytes(value);
            Raw(string.Create(CultureInfo.InvariantCulture, $"{name}:{bytes.Length}:"));
            buffer.Write(bytes);
            Raw("\n");
        }
        Raw(Version + "\n");
        Field("editId", proposal.EditId.ToString("D"));
        Field("imageSha256", proposal.ImageSha256.ToLowerInvariant());
        Field("prompt", proposal.Prompt);
        Field("target", proposal.Target);
        Field("rationale", proposal.Rationale ?? "");
        Field("proposedBy", proposal.ProposedBy);
        var tags = proposal.Tags ?? [];
        Raw(string.Create(CultureInfo.InvariantCulture, $"tags:{tags.Count}:\n"));
        foreach (var tag in tags) Field("tag", tag);
        Field("supersedes", proposal.Supersedes?.ToString("D") ?? "");
        return buffer.ToArray();
    }

    /// <summary>Lower-case hex SHA-256 of <see cref="Canonical"/>.</summary>
    public static string Sha256(EditProposed proposal) => Convert.ToHexStringLower(SHA256.HashData(Canonical(proposal)));
}

/// <summary>Checks a signature against the edit it is appended to; pure, used by <see cref="EditDecisions"/>.</summary>
public static class SignatureRules
{
    /// <summary>
    /// The binding a signature on <paramref name="edit"/> must carry: its content hash; the generator and base model of its
    /// expert when it has one, else <paramref name="served"/>'s; its expert's hash when it has one.
    /// </summary>
    public static SignatureBinding BindingFor(Edit edit, SignatureModels? served)
    {
        ArgumentNullException.ThrowIfNull(edit);
        return edit.HasExpert
            ? new SignatureBinding(edit.ContentSha256, edit.GeneratorSha256, edit.BaseModelSha256, edit.ExpertSha256)
            : new SignatureBinding(edit.ContentSha256, served?.GeneratorSha256, served?.BaseModelSha256, null);
    }

    /// <summary>
    /// Throws <see cref="InvalidEditInputException"/> (nothing is appended) unless <paramref name="signature"/> is well formed,
    /// carries a meaning allowed for the decision, and is bound to <paramref name="edit"/> as <see cref="BindingFor"/> says.
    /// When the ledger knows no served models (<paramref name="served"/> null) and the edit has no expert, the binding's
    /// generator and base model are taken as given.
    /// </summary>
    public static void Check(Edit edit, ElectronicSignature signature, IReadOnlyList<string> meanings, SignatureModels? served)
    {
        ArgumentNullException.ThrowIfNull(edit);
        ArgumentNullException.ThrowIfNull(signature);
        Text(signature.SignerUserName, "signature.signerUserName");
        Text(signature.SignerName, "signature.signerName");
        if (!meanings.Contains(signature.Meaning, StringComparer.Ordinal))
            throw new InvalidEditInputException("signature.meaning", $"must be one of {string.Join(", ", meanings)} for this decision, got '{Excerpt(signature.Meaning)}'.");
        if (!SignatureMethods.All.Contains(signature.Method, StringComparer.Ordinal))
            throw new InvalidEditInputException("signature.method", $"must be one of {string.Join(", ", SignatureMethods.All)}, got '{Excerpt(signature.Method)}'.");
        if (signature.Binding is not { } binding) throw new InvalidEditInputException("signature.binding", "must be given.");
        var expected = BindingFor(edit, served);
        if (!Same(binding.EditContentSha256, expected.EditContentSha256))
            throw new InvalidEditInputException("signature.binding.editContentSha256",
                $"is {Excerpt(binding.EditContentSha256)}, but edit {edit.Id}'s content hashes to {expected.EditContentSha256}: the signature is bound to other content.");
        if (edit.HasExpert || served is not null)
        {
            if (!Same(binding.GeneratorSha256, expected.GeneratorSha256))
                throw new InvalidEditInputException("signature.binding.generatorSha256", $"is {Excerpt(binding.GeneratorSha256)}, but edit {edit.Id} is served by generator {expected.GeneratorSha256}.");
            if (!Same(binding.BaseModelSha256, expected.BaseModelSha256))
                throw new InvalidEditInputException("signature.binding.baseModelSha256", $"is {Excerpt(binding.BaseModelSha256)}, but edit {edit.Id} is served by base model {expected.BaseModelSha256}.");
        }
        else
        {
            OptionalHash(binding.GeneratorSha256, "signature.binding.generatorSha256");
            OptionalHash(binding.BaseModelSha256, "signature.binding.baseModelSha256");
        }
        if (!Same(binding.ExpertSha256, expected.ExpertSha256))
            throw new InvalidEditInputException("signature.binding.expertSha256", expected.ExpertSha256 is null
                ? $"must be null: edit {edit.Id} has no expert yet."
                : $"is {Excerpt(binding.ExpertSha256)}, but edit {edit.Id}'s expert is {expected.ExpertSha256}.");
    }

    /// <summary>The signature with its text trimmed and its hashes in lower case, as it is chained.</summary>
    public static ElectronicSignature Normalised(ElectronicSignature s) => s with
    {
        SignerUserName = s.SignerUserName.Trim(),
        SignerName = s.SignerName.Trim(),
        Binding = new SignatureBinding(s.Binding.EditContentSha256.ToLowerInvariant(), s.Binding.GeneratorSha256?.ToLowerInvariant(),
            s.Binding.BaseModelSha256?.ToLowerInvariant(), s.Binding.ExpertSha256?.ToLowerInvariant()),
    };

    private static bool Same(string? a, string? b) => string.Equals(a, b, StringComparison.OrdinalIgnoreCase);

    private static void OptionalHash(string? value, string parameter)
    {
        if (value is not null) Sha256Hex.Require(value, parameter);
    }

    private static void Text(string? value, string parameter)
    {
        if (string.IsNullOrWhiteSpace(value)) throw new InvalidEditInputException(parameter, "must not be empty.");
        if (value.Length > EditLimits.MaxActorLength) throw new InvalidEditInputException(parameter, $"must be at most {EditLimits.MaxActorLength} characters, got {value.Length}.");
    }

    private static string Excerpt(string? value) => value is null ? "null" : value.Length <= 80 ? value : value[..80] + "…";
}
