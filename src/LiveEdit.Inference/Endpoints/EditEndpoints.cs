using LiveEdit.Contracts;
using LiveEdit.Hosting.Messaging;
using LiveEdit.Hosting.Serving;
using LiveEdit.Inference.Auth;
using LiveEdit.Inference.Auth.People;
using LiveEdit.Inference.Errors;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Edits;
using LiveEdit.Ledger.Projections;
using LiveEdit.Ledger.Versions;
using LiveEdit.Model.Text;
using MassTransit;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.ModelBinding;

namespace LiveEdit.Inference.Endpoints;

/// <summary>Propose, approve, reject, retract, read and list edits.</summary>
public static class EditEndpoints
{
    public sealed record EditAccepted(Guid EditId, long Version, string Status, string ImageSha256);
    /// <param name="Reason">Why (required to reject or retract).</param>
    /// <param name="Signature">A person's signature: user name and password given again, and the meaning.</param>
    public sealed record DecisionBody(string? Reason, SignatureRequest? Signature = null);
    public sealed record CommandResponse(Guid EditId, long Version, IReadOnlyList<string> Events);
    public sealed record HistoryEntry(long Version, long StreamVersion, DateTimeOffset Timestamp, string Type, object Event);
    /// <param name="ProjectionMismatch">True when the stored summary row disagrees with the chain (the values shown are the chain's).</param>
    /// <param name="MismatchedFields">The summary's fields that disagree with the chain, when any do.</param>
    /// <param name="Signatures">Every electronic signature in the history, oldest first, with the version and event that hold it.</param>
    public sealed record EditWithHistory(EditSummary Edit, IReadOnlyList<HistoryEntry> History, bool ProjectionMismatch = false, IReadOnlyList<string>? MismatchedFields = null,
        IReadOnlyList<SignedEntry>? Signatures = null);

    /// <summary>One signature of an edit's history: the version and type of the chained event that holds it.</summary>
    public sealed record SignedEntry(long Version, string Type, ElectronicSignature Signature);

    /// <summary>The signature a decision event holds, or null.</summary>
    public static ElectronicSignature? SignatureOf(object @event) => @event switch
    {
        EditApproved e => e.Signature,
        EditRejected e => e.Signature,
        EditRetracted e => e.Signature,
        _ => null,
    };

    /// <summary>Request header that makes <c>POST /edits</c> safe to retry.</summary>
    public const string IdempotencyKeyHeader = "Idempotency-Key";

    private static readonly IReadOnlySet<string> ProposeFields = new HashSet<string>(["prompt", "target", "rationale", "tags", "supersedes"], StringComparer.Ordinal);

    /// <summary>The multipart form of <c>POST /edits</c> (read by the handler itself, field by field, with its own errors).</summary>
    /// <param name="Image">The picture the edit is about (PNG, JPEG or BMP).</param>
    /// <param name="Prompt">The question, as the model will be asked it.</param>
    /// <param name="Target">The answer the model should give from now on.</param>
    /// <param name="Rationale">Why the model should change.</param>
    /// <param name="Tags">Comma-separated tags (the field may also be repeated).</param>
    /// <param name="Supersedes">The id of an earlier edit this one replaces.</param>
    public sealed record ProposeEditForm(IFormFile Image, string Prompt, string Target, string? Rationale = null, string? Tags = null, Guid? Supersedes = null);

    public static void MapEditEndpoints(this WebApplication app)
    {
        var edits = app.MapGroup("/edits").WithTags("Edits");

        edits.MapPost("/", ProposeAsync).RequireKey(Policies.Propose).DisableAntiforgery()
            .WithName("ProposeEdit").WithSummary("Propose an edit")
            .WithDescription("Multipart form: image, prompt, target, rationale, tags, supersedes. The edit is recorded in the ledger and its expert is generated " +
                "in the background: 202 with the edit's id and ledger version. The same Idempotency-Key from the same caller answers as the first attempt did.")
            .DescribesForm<ProposeEditForm, RouteHandlerBuilder>()
            .DocumentsHeader(IdempotencyKeyHeader, "1 to 200 printable ASCII characters without spaces: a retry with the same key and the same proposal answers as the first attempt; with another proposal, 409.")
            .ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound, StatusCodes.Status409Conflict, StatusCodes.Status413PayloadTooLarge,
                StatusCodes.Status415UnsupportedMediaType, StatusCodes.Status422UnprocessableEntity);
        edits.MapPost("/{id:guid}/approve", (Guid id, [FromBody(EmptyBodyBehavior = EmptyBodyBehavior.Allow)] DecisionBody? body, HttpContext http,
                EditLedger ledger, IPeopleDirectory people, LedgerOptions options, CancellationToken ct) =>
                SignedDecisionAsync(SignedDecision.Approve, id, body, http, ledger, people, options, ct))
            .RequireKey(Policies.Approve).WithName("ApproveEdit").WithSummary("Approve an edit")
            .WithDescription("Four-eyes: not one's own proposal, nor signed by its proposer. An optional JSON body {\"signature\": {\"userName\", \"password\", \"meaning\"}} " +
                "signs with a person's account (both components asked again; required of a signed-in person); an API key without it signs as the key. " +
                "With If-Match (the ETag of GET /edits/{id}) the decision holds only on that version (else 412).")
            .DocumentsHeader("If-Match", IfMatchDescription).DecisionProblems().ProducesProblems(StatusCodes.Status415UnsupportedMediaType);
        edits.MapPost("/{id:guid}/reject", (Guid id, DecisionBody body, HttpContext http, EditLedger ledger, IPeopleDirectory people, LedgerOptions options,
                CancellationToken ct) => SignedDecisionAsync(SignedDecision.Reject, id, body, http, ledger, people, options, ct))
            .RequireKey(Policies.Approve).WithName("RejectEdit").WithSummary("Reject an edit that is not active")
            .WithDescription("JSON body with the reason and, optionally, the signature (as for approve). With If-Match (the ETag of GET /edits/{id}) the decision holds only on that version (else 412).")
            .DocumentsHeader("If-Match", IfMatchDescription).DecisionProblems().ProducesProblems(StatusCodes.Status415UnsupportedMediaType);
        edits.MapPost("/{id:guid}/retract", (Guid id, DecisionBody body, HttpContext http, EditLedger ledger, IPeopleDirectory people, LedgerOptions options,
                CancellationToken ct) => SignedDecisionAsync(SignedDecision.Retract, id, body, http, ledger, people, options, ct))
            .RequireKey(Policies.Retract).WithName("RetractEdit").WithSummary("Retract an edit")
            .WithDescription("The model is again what it was without the edit. JSON body with the reason and, optionally, the signature (as for approve). With If-Match (the ETag of GET /edits/{id}) the decision holds only on that version (else 412).")
            .DocumentsHeader("If-Match", IfMatchDescription).DecisionProblems().ProducesProblems(StatusCodes.Status415UnsupportedMediaType);
        edits.MapGet("/{id:guid}", async Task<Ok<EditWithHistory>> (Guid id, HttpContext http, EditLedger ledger, CancellationToken ct) =>
            {
                // What a reviewer decides on comes from the chain, not from the summary row (which the application role
                // can update): the proposal's text, image hash, proposer, tags and supersedes, and the folded status.
                // Proposal, state and history from one read of the edit's chained stream.
                var (proposal, state, _, history) = await ledger.GetChainedEditAsync(id, ct);
                // A proposer reads its own edits only; to anyone else the edit does not exist.
                if (!http.ReadsAll() && proposal.ProposedBy != http.Actor()) throw new LiveEdit.Ledger.Errors.EditNotFoundException(id);
                var summary = await ledger.GetEditAsync(id, ct);
                var (shown, mismatched) = FromChain(summary, proposal, state);
                http.Response.Headers.ETag = ETag(history[^1].StreamVersion);
                var signatures = history.Where(h => SignatureOf(h.Event) is not null)
                    .Select(h => new SignedEntry(h.Version, h.Event.GetType().Name, SignatureOf(h.Event)!)).ToList();
                return TypedResults.Ok(new EditWithHistory(shown, history.Select(h => new HistoryEntry(h.Version, h.StreamVersion, h.Timestamp, h.Event.GetType().Name, h.Event)).ToList(),
                    mismatched.Count > 0, mismatched.Count > 0 ? mismatched : null, signatures));
            })
            .RequireKey(Policies.Read).WithName("GetEdit").WithSummary("An edit with its full history")
            .WithDescription("The proposal and status as the chain holds them; the ETag header is the edit's stream version, for If-Match. A proposer reads its own edits only (404 for others).")
            .ProducesProblems(StatusCodes.Status404NotFound);
        edits.MapGet("/", async Task<Ok<IReadOnlyList<EditSummary>>> (string? status, int? skip, int? take, HttpContext http, EditLedger ledger, CancellationToken ct) =>
            {
                EditStatus? wanted = null;
                if (!string.IsNullOrEmpty(status))
                {
                    if (!Enum.TryParse<EditStatus>(status, ignoreCase: true, out var parsed) || !Enum.IsDefined(parsed))
                        throw new RequestInputException("bad_status", $"status '{Printable.Excerpt(status)}' is not one of {string.Join(", ", Enum.GetNames<EditStatus>())}");
                    wanted = parsed;
                }
                var proposedBy = http.ReadsAll() ? null : http.Actor();
                return TypedResults.Ok(await ledger.ListEditsAsync(wanted, proposedBy, skip ?? 0, take ?? 100, ct));
            })
            .RequireKey(Policies.Read).WithName("ListEdits").WithSummary("Edits, newest first")
            .WithDescription("Filtered by status when given, paged by skip and take. A proposer sees its own edits.")
            .ProducesProblems(StatusCodes.Status400BadRequest);
    }

    private const string IfMatchDescription = "The edit's ETag from GET /edits/{id} (a strong tag, e.g. \"3\"): the decision is made only if the edit is still at that version, else 412 with its current version.";

    /// <summary>What a decision on an edit can be refused with besides the key's own answers.</summary>
    private static RouteHandlerBuilder DecisionProblems(this RouteHandlerBuilder builder) =>
        builder.ProducesProblems(StatusCodes.Status400BadRequest, StatusCodes.Status404NotFound, StatusCodes.Status409Conflict,
            StatusCodes.Status412PreconditionFailed, StatusCodes.Status422UnprocessableEntity);

    /// <summary>The summary with the chain's values over its own, and the names of the fields where they differed.</summary>
    private static (EditSummary Shown, List<string> Mismatched) FromChain(EditSummary summary, EditProposed proposal, Edit state)
    {
        var mismatched = new List<string>();
        void Check(string field, bool same)
        {
            if (!same) mismatched.Add(field);
        }
        Check("prompt", summary.Prompt == proposal.Prompt);
        Check("target", summary.Target == proposal.Target);
        Check("rationale", summary.Rationale == proposal.Rationale);
        Check("imageSha256", summary.ImageSha256 == proposal.ImageSha256);
        Check("proposedBy", summary.ProposedBy == proposal.ProposedBy);
        Check("tags", (summary.Tags ?? []).SequenceEqual(proposal.Tags ?? []));
        Check("supersedes", summary.Supersedes == proposal.Supersedes);
        Check("status", summary.Status == state.Status);
        var shown = summary with
        {
            Prompt = proposal.Prompt, Target = proposal.Target, Rationale = proposal.Rationale, ImageSha256 = proposal.ImageSha256,
            ProposedBy = proposal.ProposedBy, Tags = proposal.Tags ?? [], Supersedes = proposal.Supersedes, Status = state.Status,
        };
        return (shown, mismatched);
    }

    private static async Task<Accepted<EditAccepted>> ProposeAsync(HttpContext http, EditLedger ledger, ModelRuntime runtime, ImageGate images, ExpertWorkDispatcher dispatcher,
        ILogger<EditAccepted> log, CancellationToken ct)
    {
        var idempotencyKey = ReadIdempotencyKey(http.Request);
        var form = await Forms.ReadFormAsync(http.Request, ProposeFields, ct);
        // Everything is checked before anything is stored: bad input leaves the ledger and the blob store as they were.
        var prompt = Forms.Required(form, "prompt", EditLimits.MaxPromptLength);
        var target = Forms.Required(form, "target", EditLimits.MaxTargetLength);
        if (runtime.CheckEditText(prompt, target) is { } textProblem)
            throw new RequestInputException(textProblem.Code, textProblem.Message, StatusCodes.Status422UnprocessableEntity);
        var rationale = Forms.Optional(form, "rationale", EditLimits.MaxRationaleLength, allowedControls: "\n\r\t") ?? "";
        var tags = form["tags"].SelectMany(t => (t ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            .Select(t => Forms.Text("tags", t, EditLimits.MaxTagLength)).ToList();
        Guid? supersedes = null;
        if (Forms.Optional(form, "supersedes", 64) is { } text)
            supersedes = Guid.TryParse(text, out var older) ? older : throw new RequestInputException("bad_supersedes", $"supersedes '{Printable.Excerpt(text)}' is not an edit id");
        var image = (await Forms.ImageAsync(form, required: true, ct))!;
        await images.DecodeAsync(runtime, image, "the uploaded image", ct); // header checks, then a bounded decode: 413/415/422/503
        var imageSha = LiveEdit.Ledger.Sha256Hex.Of(image);
        var editId = idempotencyKey is null ? Guid.NewGuid() : IdempotentEditId(http.Actor(), idempotencyKey);
        var command = new ProposeEdit(editId, imageSha, prompt, target, rationale, http.Actor(), tags, supersedes);
        EditDecisions.Handle(command, DateTimeOffset.UtcNow); // the ledger's own checks, before the blob is stored
        if (supersedes is { } id)
        {
            // The chained proposal, not the summary row. A caller who cannot read every edit supersedes only its own:
            // another user's edit answers as a missing one does (404 edit_not_found), so ids cannot be probed.
            var older = await ledger.GetProposalAsync(id, ct);
            if (!http.ReadsAll() && older.ProposedBy != http.Actor()) throw new LiveEdit.Ledger.Errors.EditNotFoundException(id);
        }
        if (idempotencyKey is not null && await ExistingProposalAsync(ledger, command, ct) is { } replay) return replay;

        await ledger.Blobs.PutAsync(image, ct);
        EditCommandResult result;
        try
        {
            result = await ledger.ProposeAsync(command, ct);
        }
        catch (LiveEdit.Ledger.Errors.EditAlreadyExistsException) when (idempotencyKey is not null)
        {
            // A retry raced its own first attempt: answer as that attempt did.
            return await ExistingProposalAsync(ledger, command, ct) ?? throw new InvalidOperationException("edit vanished after a conflict");
        }
        // The ledger is the outbox: the work is sent in the background, and the reconciler resends what did not go out.
        if (!dispatcher.Notify(result.EditId))
            log.LogWarning("Edit {EditId} recorded; the send queue is full, the reconciler will send its expert work", result.EditId);
        var status = result.Events.Any(e => e is EditApproved) ? "approved" : "proposed";
        return TypedResults.Accepted($"/edits/{result.EditId}", new EditAccepted(result.EditId, result.LedgerVersion, status, imageSha));
    }

    /// <summary>The <c>Idempotency-Key</c> header, checked (1 to 200 printable ASCII characters, given once); null when absent.</summary>
    internal static string? ReadIdempotencyKey(HttpRequest request)
    {
        var values = request.Headers[IdempotencyKeyHeader];
        if (values.Count == 0) return null;
        if (values.Count > 1) throw new RequestInputException("duplicate_field", $"'{IdempotencyKeyHeader}' is given {values.Count} times; give it once");
        var key = values[0] ?? "";
        if (key.Length is < 1 or > 200 || key.Any(c => c is < '!' or > '~'))
            throw new RequestInputException("bad_idempotency_key", $"'{IdempotencyKeyHeader}' must be 1 to 200 printable ASCII characters without spaces");
        return key;
    }

    /// <summary>
    /// The edit id an idempotency key stands for: a name-based (version 5 style) UUID from SHA-256 of the caller and the
    /// key, so a retry addresses the same stream and the ledger itself refuses a second proposal.
    /// </summary>
    public static Guid IdempotentEditId(string actor, string key)
    {
        var hash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes($"liveedit-idempotency\n{actor}\n{key}"));
        var bytes = hash[..16];
        bytes[6] = (byte)((bytes[6] & 0x0F) | 0x50);
        bytes[8] = (byte)((bytes[8] & 0x3F) | 0x80);
        return new Guid(bytes, bigEndian: true);
    }

    /// <summary>For a retried proposal: 202 with the edit it made, or 409 when the key was used for another proposal; null when none exists.</summary>
    private static async Task<Accepted<EditAccepted>?> ExistingProposalAsync(EditLedger ledger, ProposeEdit command, CancellationToken ct)
    {
        EditProposed existing;
        try
        {
            existing = await ledger.GetProposalAsync(command.EditId, ct); // the chained proposal, not the projection
        }
        catch (LiveEdit.Ledger.Errors.EditNotFoundException)
        {
            return null;
        }
        var same = existing.ImageSha256 == command.ImageSha256 && existing.Prompt == command.Prompt && existing.Target == command.Target
            && existing.Rationale == command.Rationale && existing.Supersedes == command.Supersedes
            && existing.ProposedBy == command.ProposedBy && existing.Tags.SequenceEqual(command.Tags ?? []);
        if (!same)
            throw new RequestInputException("idempotency_key_reused",
                $"this {IdempotencyKeyHeader} was used for another proposal (edit {existing.EditId}); use a new key for a new proposal", StatusCodes.Status409Conflict);
        // Answer as the first attempt did: its append held the proposal and, under auto-approval, the approval in the
        // same transaction (same timestamp); later decisions are not part of that answer.
        var history = await ledger.GetHistoryAsync(existing.EditId, ct);
        var autoApproved = history.Count > 1 && history[1].Event is EditApproved && history[1].Timestamp == history[0].Timestamp;
        var answered = autoApproved ? history[1] : history[0];
        return TypedResults.Accepted($"/edits/{existing.EditId}", new EditAccepted(existing.EditId, answered.Version, autoApproved ? "approved" : "proposed", existing.ImageSha256));
    }

    /// <summary>An edit's stream version as an entity tag.</summary>
    public static string ETag(long streamVersion) => $"\"{streamVersion}\"";

    /// <summary>
    /// Approve, reject or retract: the reason checked (reject, retract), the signer identified, then the signed decision
    /// appended on the version If-Match names or on the freshest state (<see cref="SignedDecisions"/>).
    /// </summary>
    private static async Task<Results<Ok<CommandResponse>, ProblemHttpResult>> SignedDecisionAsync(SignedDecision decision, Guid id, DecisionBody? body,
        HttpContext http, EditLedger ledger, IPeopleDirectory people, LedgerOptions options, CancellationToken ct)
    {
        var reason = decision == SignedDecision.Approve ? null : SignedDecisions.RequireReason(body?.Reason);
        var signer = await DecisionSigning.IdentifyAsync(http, people, body?.Signature, decision, ct);
        var actor = http.Actor();
        return await DecideAsync(http, ledger, id, expected => SignedDecisions.AppendAsync(ledger, options, decision, id, actor, reason, signer, expected, ct), ct);
    }

    /// <summary>
    /// Runs a state change. With <c>If-Match</c> the caller's version must be the edit's (else 412 with the current
    /// one); without it the change is decided on the freshest state (see <see cref="SignedDecisions.OnFreshStateAsync"/>).
    /// </summary>
    private static async Task<Results<Ok<CommandResponse>, ProblemHttpResult>> DecideAsync(HttpContext http, EditLedger ledger, Guid id, Func<long?, Task<EditCommandResult>> command, CancellationToken ct)
    {
        var ifMatch = http.Request.Headers.IfMatch;
        if (ifMatch.Count == 0) return Respond(await SignedDecisions.OnFreshStateAsync(() => command(null)));
        var text = ifMatch.ToString().Trim();
        // If-Match compares strongly (RFC 9110 13.1.1): a weak tag never matches, so it is answered 412 below.
        var weak = text.StartsWith("W/", StringComparison.Ordinal);
        if (weak) text = text[2..];
        if (!long.TryParse(text.Trim('"'), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var expected))
            throw new RequestInputException("bad_if_match", $"If-Match '{Printable.Excerpt(ifMatch.ToString())}' is not an edit version (the ETag of GET /edits/{id}, e.g. \"3\")");
        var (_, current) = await ledger.LoadAsync(id, ct);
        for (var attempt = 0; !weak && current == expected; attempt++)
        {
            try
            {
                return Respond(await command(expected));
            }
            catch (LiveEdit.Ledger.Errors.ConcurrencyConflictException) when (attempt < 4)
            {
                // Another writer won: usually on this edit (then it has moved on and the caller's version no longer
                // holds), but it may have been on the edit this one supersedes, and then the caller's version still holds.
                (_, current) = await ledger.LoadAsync(id, ct);
            }
        }
        // Answered here, not thrown: the exception handler clears ETag from error responses.
        http.Response.Headers.ETag = ETag(current);
        return TypedResults.Problem(statusCode: StatusCodes.Status412PreconditionFailed, title: "The edit has changed",
            detail: weak
                ? $"If-Match {Printable.Excerpt(ifMatch.ToString())} is a weak entity tag, and a decision needs a strong one: send the ETag of GET /edits/{id} as it is (edit {id} is now at version {current})"
                : $"edit {id} is at version {current}, but If-Match expected version {expected}; read it again (GET /edits/{id}) and decide on what it is now",
            type: "https://liveedit.local/problems/version_mismatch",
            extensions: new Dictionary<string, object?> { ["code"] = "version_mismatch", ["currentVersion"] = current });
    }

    // The ledger is the truth: other hosts follow it, so a decision waits for no broker.
    private static Ok<CommandResponse> Respond(EditCommandResult result)
    {
        return TypedResults.Ok(new CommandResponse(result.EditId, result.LedgerVersion, result.Events.Select(e => e.GetType().Name).ToList()));
    }
}
