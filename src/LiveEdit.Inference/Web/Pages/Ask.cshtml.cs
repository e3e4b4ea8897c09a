using LiveEdit.Hosting.Serving;
using LiveEdit.Inference.Auth;
using LiveEdit.Inference.Endpoints;
using LiveEdit.Inference.Errors;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Edits;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;

namespace LiveEdit.Inference.Web.Pages;

/// <summary>One answer on the page: which version it was made at and by which experts.</summary>
public sealed record AskAnswer(string Key, string Title, QueryResult Result);

/// <summary>"Ask the model as of": the answer at a version or date beside the answer at the head, with the experts that fired.</summary>
[Authorize(Policy = Policies.Read)]
public sealed class AskModel(EditedModelServer server, ModelRuntime runtime, ImageGate images, EditLedger ledger, HeadFollowingSettings following,
    LiveEdit.Hosting.Audit.QueryRecordWriter records) : UiPage
{
    public string? Prompt { get; private set; }
    public string? AsOfText { get; private set; }
    public IReadOnlyList<AskAnswer> Answers { get; private set; } = [];

    public void OnGet()
    {
    }

    public async Task OnPostAsync(string? prompt, string? asOf, CancellationToken ct)
    {
        Prompt = prompt;
        AsOfText = asOf;
        await TryAsync(async () =>
        {
            var question = Text("prompt", prompt, EditLimits.MaxPromptLength, required: true)!;
            var when = Moment("asOf", asOf);
            if (when is not null and not AsOf.Head)
            {
                if (!ReadsAll)
                    throw new RequestInputException("forbidden_as_of", "'asOf' needs an approver, auditor or admin role; a proposer asks the head", StatusCodes.Status403Forbidden);
                await Endpoints.QueryEndpoints.RequireReachedAsync(when, ledger, ct);
            }
            var bytes = await Forms.ImageAsync(Request.Form, required: false, ct);
            var image = bytes is null ? null : await images.DecodeAsync(runtime, bytes, "the uploaded image", ct);
            if (runtime.CheckQuery(question, image is not null) is { } problem)
                throw new RequestInputException(problem.Code, problem.Message, StatusCodes.Status422UnprocessableEntity);
            var answers = new List<AskAnswer>();
            if (when is not null and not AsOf.Head)
            {
                var past = await server.QueryAsync(image, question, when, ct: ct);
                records.Record(Actor, bytes, question, past); // every answer is recorded, as over the API (docs/audit.md)
                answers.Add(new AskAnswer("as-of", when is AsOf.Sequence ? $"As of version {past.Version}" : $"As of {asOf!.Trim()} (version {past.Version})", past));
            }
            // The head as the ledger has it now: wait (bounded) for this host's head model to get there, as minVersion does.
            var head = await ledger.GetHeadAsync(ct);
            await server.WaitForHeadAsync(head, following.MinVersionPatience, ct);
            var now = await server.QueryAsync(image, question, AsOf.Now, ct: ct);
            records.Record(Actor, bytes, question, now);
            answers.Add(new AskAnswer("head", $"At the head (version {now.Version})", now));
            Answers = answers;
        });
    }
}
