using LiveEdit.Contracts;
using LiveEdit.Hosting.Messaging;
using LiveEdit.Hosting.Serving;
using LiveEdit.Inference.Auth;
using LiveEdit.Inference.Errors;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Edits;
using LiveEdit.Ledger.Versions;
using MassTransit;

namespace LiveEdit.Inference.Endpoints;

/// <summary>Propose, approve, reject, retract, read and list edits.</summary>
public static class EditEndpoints
{
    public sealed record EditAccepted(Guid EditId, long Version, string Status, string ImageSha256);
    public sealed record DecisionBody(string? Reason);
    public sealed record CommandResponse(Guid EditId, long Version, IReadOnlyList<string> Events);
    public sealed record HistoryEntry(long Version, long StreamVersion, DateTimeOffset Timestamp, string Type, object Event);
    public sealed record EditWithHistory(object Edit, IReadOnlyList<HistoryEntry> History);

    public static void MapEditEndpoints(this WebApplication app)
    {
        var edits = app.MapGroup("/edits").WithTags("Edits");

        edits.MapPost("/", ProposeAsync).RequireAuthorization(Policies.Propose).DisableAntiforgery()
            .WithSummary("Propose an edit (multipart: image, prompt, target, rationale, tags, supersedes)");
        edits.MapPost("/{id:guid}/approve", async (Guid id, HttpContext http, EditLedger ledger, IPublishEndpoint bus, CancellationToken ct) =>
                await RespondAsync(await OnFreshStateAsync(() => ledger.ApproveAsync(new ApproveEdit(id, http.Actor()), ct: ct)), bus, ct))
            .RequireAuthorization(Policies.Approve).WithSummary("Approve an edit (four-eyes: not your own)");
        edits.MapPost("/{id:guid}/reject", async (Guid id, DecisionBody body, HttpContext http, EditLedger ledger, IPublishEndpoint bus, CancellationToken ct) =>
                await RespondAsync(await OnFreshStateAsync(() => ledger.RejectAsync(new RejectEdit(id, http.Actor(), RequireReason(body)), ct: ct)), bus, ct))
            .RequireAuthorization(Policies.Approve).WithSummary("Reject an edit that is not active");
        edits.MapPost("/{id:guid}/retract", async (Guid id, DecisionBody body, HttpContext http, EditLedger ledger, IPublishEndpoint bus, CancellationToken ct) =>
                await RespondAsync(await OnFreshStateAsync(() => ledger.RetractAsync(new RetractEdit(id, http.Actor(), RequireReason(body)), ct: ct)), bus, ct))
            .RequireAuthorization(Policies.Retract).WithSummary("Retract an edit; the model is again what it was without it");
        edits.MapGet("/{id:guid}", async (Guid id, EditLedger ledger, CancellationToken ct) =>
            {
                var summary = await ledger.GetEditAsync(id, ct);
                var history = await ledger.GetHistoryAsync(id, ct);
                return Results.Ok(new EditWithHistory(summary, history.Select(h => new HistoryEntry(h.Version, h.StreamVersion, h.Timestamp, h.Event.GetType().Name, h.Event)).ToList()));
            })
            .RequireAuthorization(Policies.Read).WithSummary("An edit with its full history");
        edits.MapGet("/", async (string? status, int? skip, int? take, EditLedger ledger, CancellationToken ct) =>
            {
                EditStatus? wanted = null;
                if (!string.IsNullOrEmpty(status))
                {
                    if (!Enum.TryParse<EditStatus>(status, ignoreCase: true, out var parsed))
                        throw new RequestInputException("bad_status", $"status '{status}' is not one of {string.Join(", ", Enum.GetNames<EditStatus>())}");
                    wanted = parsed;
                }
                return Results.Ok(await ledger.ListEditsAsync(wanted, skip ?? 0, take ?? 100, ct));
            })
            .RequireAuthorization(Policies.Read).WithSummary("Edits, newest first");
    }

    private static async Task<IResult> ProposeAsync(HttpContext http, EditLedger ledger, ModelRuntime runtime, ExpertWorkDispatcher dispatcher,
        ILogger<EditAccepted> log, CancellationToken ct)
    {
        var form = await Forms.ReadFormAsync(http.Request, ct);
        // Everything is checked before anything is stored: bad input leaves the ledger and the blob store as they were.
        var prompt = Forms.Required(form, "prompt", EditLimits.MaxPromptLength);
        var target = Forms.Required(form, "target", EditLimits.MaxTargetLength);
        if (runtime.CheckEditText(prompt, target) is { } textProblem)
            throw new RequestInputException(textProblem.Code, textProblem.Message, StatusCodes.Status422UnprocessableEntity);
        var rationale = Forms.Optional(form, "rationale", EditLimits.MaxRationaleLength) ?? "";
        var tags = form["tags"].SelectMany(t => (t ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
        Guid? supersedes = null;
        if (Forms.Optional(form, "supersedes", 64) is { } text)
            supersedes = Guid.TryParse(text, out var older) ? older : throw new RequestInputException("bad_supersedes", $"supersedes '{text}' is not an edit id");
        var image = (await Forms.ImageAsync(form, required: true, ct))!;
        runtime.ReadImage(image, "the uploaded image"); // throws UnreadableImageException → 422
        if (supersedes is { } id) await ledger.GetEditAsync(id, ct);

        var imageSha = await ledger.Blobs.PutAsync(image, ct);
        var result = await ledger.ProposeAsync(new ProposeEdit(Guid.NewGuid(), imageSha, prompt, target, rationale, http.Actor(), tags, supersedes), ct);
        // The ledger is the outbox: the work is sent in the background, and the reconciler resends what did not go out.
        if (!dispatcher.Notify(result.EditId))
            log.LogWarning("Edit {EditId} recorded; the send queue is full, the reconciler will send its expert work", result.EditId);
        var status = result.Events.Any(e => e is EditApproved) ? "approved" : "proposed";
        return Results.Accepted($"/edits/{result.EditId}", new EditAccepted(result.EditId, result.LedgerVersion, status, imageSha));
    }

    /// <summary>
    /// The caller sent no expected version, so a concurrent write to the edit (typically a worker recording its
    /// expert) is not their conflict: decide again on the edit's new state, a few times. A decision that the new
    /// state forbids still fails with its own error.
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

    private static string RequireReason(DecisionBody? body) =>
        string.IsNullOrWhiteSpace(body?.Reason) ? throw new RequestInputException("missing_reason", "a 'reason' is required")
        : body.Reason.Length > EditLimits.MaxRationaleLength ? throw new RequestInputException("field_too_long", $"'reason' is longer than {EditLimits.MaxRationaleLength} characters")
        : body.Reason;

    private static async Task<IResult> RespondAsync(EditCommandResult result, IPublishEndpoint bus, CancellationToken ct)
    {
        // Notices are hints for other hosts (the ledger is the truth): a broker that is down must not fail a recorded command.
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(5));
            foreach (var e in result.Events)
            {
                if (e is EditActivated activated) await bus.Publish(new ExpertActivated(result.EditId, activated.ExpertSha256, result.LedgerVersion), timeout.Token);
                if (e is EditRetracted) await bus.Publish(new ExpertRetracted(result.EditId, result.LedgerVersion), timeout.Token);
            }
        }
        catch (Exception) when (!ct.IsCancellationRequested)
        {
        }
        return Results.Ok(new CommandResponse(result.EditId, result.LedgerVersion, result.Events.Select(e => e.GetType().Name).ToList()));
    }
}
