using LiveEdit.Inference.Auth;
using LiveEdit.Inference.Auth.People;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Edits;
using LiveEdit.Ledger.Projections;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;

namespace LiveEdit.Inference.Web.Pages;

/// <summary>Proposed edits waiting for a decision, the four-eyes rule shown, the chain's state and last checkpoint.</summary>
[Authorize(Policy = Policies.Approve)]
public sealed class QueueModel(EditLedger ledger, LedgerOptions options, IPeopleDirectory people, IConfiguration configuration) : UiPage
{
    public int PageSize { get; } = 100;
    public IReadOnlyList<EditSummary> Pending { get; private set; } = [];
    public ApprovalPolicy Policy => ledger.Policy;
    public long Head { get; private set; }
    public string? ChainRefusal { get; private set; }
    public CheckpointView Checkpoint { get; private set; } = CheckpointView.None;

    /// <summary>The decision forms for one pending edit: approving one's own is shown refused under the four-eyes rule.</summary>
    public DecideView DecideFor(EditSummary edit) => new(edit.Id, "/Queue", Policy == ApprovalPolicy.FourEyes && edit.ProposedBy == Actor, Actor);

    public async Task OnGetAsync(CancellationToken ct) => await LoadAsync(ct);

    public async Task<IActionResult> OnPostApproveAsync(Guid id, DecisionForm form, CancellationToken ct)
    {
        if (await TryAsync(async () => await Decisions.DecideAsync(HttpContext, ledger, options, people, id, SignedDecision.Approve, form, ct))) return Done($"Edit {id} approved by {Actor}.");
        await LoadAsync(ct);
        return Page();
    }

    public async Task<IActionResult> OnPostRejectAsync(Guid id, DecisionForm form, CancellationToken ct)
    {
        if (await TryAsync(async () => await Decisions.DecideAsync(HttpContext, ledger, options, people, id, SignedDecision.Reject, form, ct))) return Done($"Edit {id} rejected by {Actor}.");
        await LoadAsync(ct);
        return Page();
    }

    private RedirectToPageResult Done(string notice)
    {
        Notice = notice;
        return RedirectToPage("/Queue");
    }

    private async Task LoadAsync(CancellationToken ct)
    {
        Head = await ledger.GetHeadAsync(ct);
        ChainRefusal = (await ledger.CheckChainAsync(ct))?.Message;
        Checkpoint = CheckpointView.Latest(configuration);
        Pending = await ledger.ListEditsAsync(EditStatus.Proposed, 0, PageSize, ct);
    }
}
