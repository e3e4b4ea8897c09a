using LiveEdit.Inference.Auth;
using LiveEdit.Inference.Auth.People;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Edits;
using LiveEdit.Ledger.Errors;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;

namespace LiveEdit.Inference.Web.Pages;

/// <summary>Approve and reject forms for one edit.</summary>
/// <param name="Page">The page the forms post to.</param>
/// <param name="OwnProposal">The signed-in person proposed it under the four-eyes rule: approving is refused, and shown so.</param>
/// <param name="Actor">The signed-in user, who signs.</param>
public sealed record DecideView(Guid EditId, string Page, bool OwnProposal, string Actor)
{
    /// <summary>The signature fields of the approve (<c>'a'</c>) or reject (<c>'r'</c>) form.</summary>
    public SignView Sign(char form) => form == 'a'
        ? new SignView($"approve-{EditId}", Actor, "approval", SignatureMeanings.ForApproval)
        : new SignView($"reject-{EditId}", Actor, "rejection", SignatureMeanings.ForRejection);
}

/// <summary>The signature fields of one form.</summary>
/// <param name="Prefix">Makes the fields' ids unique on the page.</param>
/// <param name="What">The decision signed, in words.</param>
/// <param name="Meanings">The meanings this decision may be signed with, the usual one first.</param>
public sealed record SignView(string Prefix, string Actor, string What, IReadOnlyList<string> Meanings);

/// <summary>One edit: image, text, every state change with its signature, the expert, when it was active, how it fired.</summary>
[Authorize(Policy = Policies.Read)]
public sealed class EditModel(EditLedger ledger, LedgerOptions options, IPeopleDirectory people, LiveEdit.Ledger.Queries.IQueryRecords queries) : UiPage
{
    [BindProperty(SupportsGet = true)] public Guid Id { get; set; }

    public EditProposed? Proposal { get; private set; }
    public EditStatus Status { get; private set; }
    public ExpertGenerated? Expert { get; private set; }
    public IReadOnlyList<LedgerEventView> History { get; private set; } = [];
    public IReadOnlyList<(long From, long? Until)> ActivePeriods { get; private set; } = [];
    public long Head { get; private set; }
    public LiveEdit.Ledger.Queries.ExpertFiring? Firing { get; private set; }
    public IReadOnlyList<LiveEdit.Ledger.Queries.QueryRecord> RecentQueries { get; private set; } = [];

    /// <summary>Whether the person may see the recorded queries themselves (auditor, admin), not only the counts.</summary>
    public bool SeesQueries => User.IsInRole(Roles.Auditor) || User.IsInRole(Roles.Admin);
    public bool CanApprove => User.IsInRole(Roles.Approver) || User.IsInRole(Roles.Admin);
    public bool CanRetract => User.IsInRole(Roles.Admin);
    public DecideView Decide => new(Id, "/Edit", ledger.Policy == ApprovalPolicy.FourEyes && Proposal?.ProposedBy == Actor, Actor);

    /// <summary>The signature fields of the retract form.</summary>
    public SignView RetractSign => new($"retract-{Id}", Actor, "retraction", SignatureMeanings.ForRetraction);

    public async Task<IActionResult> OnGetAsync(CancellationToken ct) => await LoadAsync(ct) ? Page() : NotFoundPage();

    public async Task<IActionResult> OnPostApproveAsync(DecisionForm form, CancellationToken ct)
    {
        if (!CanApprove) return Forbid();
        if (await TryAsync(async () => await Decisions.DecideAsync(HttpContext, ledger, options, people, Id, SignedDecision.Approve, form, ct)))
            return Done($"Approved by {Actor}.");
        await LoadAsync(ct);
        return Page();
    }

    public async Task<IActionResult> OnPostRejectAsync(DecisionForm form, CancellationToken ct)
    {
        if (!CanApprove) return Forbid();
        if (await TryAsync(async () => await Decisions.DecideAsync(HttpContext, ledger, options, people, Id, SignedDecision.Reject, form, ct)))
            return Done($"Rejected by {Actor}.");
        await LoadAsync(ct);
        return Page();
    }

    public async Task<IActionResult> OnPostRetractAsync(DecisionForm form, CancellationToken ct)
    {
        if (!CanRetract) return Forbid();
        if (await TryAsync(async () => await Decisions.DecideAsync(HttpContext, ledger, options, people, Id, SignedDecision.Retract, form, ct)))
            return Done($"Retracted by {Actor}.");
        await LoadAsync(ct);
        return Page();
    }

    private RedirectToPageResult Done(string notice)
    {
        Notice = notice;
        return RedirectToPage("/Edit", new { id = Id });
    }

    private IActionResult NotFoundPage()
    {
        Response.StatusCode = Error?.Status ?? StatusCodes.Status404NotFound;
        return Page();
    }

    private async Task<bool> LoadAsync(CancellationToken ct)
    {
        var error = Error;
        var found = await TryAsync(async () =>
        {
            // Proposal, state and history from one read of the edit's chained stream (as GET /edits/{id}).
            var (proposal, state, _, history) = await ledger.GetChainedEditAsync(Id, ct);
            // A proposer reads its own edits only; to anyone else the edit does not exist (as over the API).
            if (!ReadsAll && proposal.ProposedBy != Actor) throw new EditNotFoundException(Id);
            Head = await ledger.GetHeadAsync(ct);
            Proposal = proposal;
            Status = state.Status;
            Expert = history.Select(h => h.Event).OfType<ExpertGenerated>().FirstOrDefault();
            History = history.Select(h => LedgerEventView.FromEvent(h.Version, h.Timestamp, Id, h.Event)).ToArray();
            ActivePeriods = Periods(history);
            // How often and how strongly it fired: read-all roles, as GET /audit/edits/{id}/firing; the queries: auditors, as GET /audit/queries.
            if (ReadsAll) Firing = await queries.FiringAsync(Id, ct);
            if (SeesQueries) RecentQueries = await queries.FindAsync(new LiveEdit.Ledger.Queries.QueryRecordFilter(EditId: Id, Take: 20), ct);
        });
        if (found && error is not null)
        {
            // Keep the failed action's error (and its status) over a successful reload.
            Error = error;
            Response.StatusCode = error.Status;
        }
        return found;
    }

    /// <summary>The versions during which the edit was part of the model: from its activation to its removal.</summary>
    public static IReadOnlyList<(long From, long? Until)> Periods(IReadOnlyList<LiveEdit.Ledger.Versions.EditHistoryEntry> history)
    {
        var periods = new List<(long, long?)>();
        long? from = null;
        foreach (var entry in history)
        {
            if (entry.Event is EditActivated) from = entry.Version;
            else if (entry.Event is EditRetracted or EditSuperseded && from is { } f)
            {
                periods.Add((f, entry.Version));
                from = null;
            }
        }
        if (from is { } open) periods.Add((open, null));
        return periods;
    }
}
