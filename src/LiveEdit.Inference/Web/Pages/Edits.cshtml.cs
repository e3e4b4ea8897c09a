using LiveEdit.Inference.Auth;
using LiveEdit.Inference.Errors;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Edits;
using LiveEdit.Ledger.Projections;
using LiveEdit.Model.Text;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;

namespace LiveEdit.Inference.Web.Pages;

/// <summary>Edits, newest first, one page at a time; a proposer sees its own.</summary>
[Authorize(Policy = Policies.Read)]
public sealed class EditsModel(EditLedger ledger) : UiPage
{
    public int PageSize { get; } = 50;
    [BindProperty(SupportsGet = true, Name = "status")] public string? StatusText { get; set; }
    [BindProperty(SupportsGet = true)] public int Skip { get; set; }
    public IReadOnlyList<EditSummary> Edits { get; private set; } = [];

    public async Task OnGetAsync(CancellationToken ct) => await TryAsync(async () =>
    {
        EditStatus? status = null;
        if (!string.IsNullOrWhiteSpace(StatusText))
            status = Enum.TryParse<EditStatus>(StatusText, ignoreCase: true, out var s) && Enum.IsDefined(s) ? s
                : throw new RequestInputException("bad_status", $"'status' '{Printable.Excerpt(StatusText)}' is not one of {string.Join(", ", Enum.GetNames<EditStatus>())}");
        if (Skip < 0) throw new RequestInputException("bad_skip", "'skip' must not be negative");
        Edits = await ledger.ListEditsAsync(status, ReadsAll ? null : Actor, Skip, PageSize, ct);
    });
}
