using LiveEdit.Inference.Auth;
using LiveEdit.Inference.Errors;
using LiveEdit.Ledger;
using LiveEdit.Model.Text;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;

namespace LiveEdit.Inference.Web.Pages;

/// <summary>The ledger's versions, newest first, one keyset page at a time, filtered by edit, person, change and date.</summary>
[Authorize(Policy = Policies.ReadAll)]
public sealed class TimelineModel(EditLedger ledger, TimelineReader timeline) : UiPage
{
    public int PageSize { get; } = 50;

    [BindProperty(SupportsGet = true, Name = "before")] public string? BeforeText { get; set; }
    [BindProperty(SupportsGet = true, Name = "edit")] public string? EditText { get; set; }
    [BindProperty(SupportsGet = true)] public string? Person { get; set; }
    [BindProperty(SupportsGet = true)] public string? State { get; set; }
    [BindProperty(SupportsGet = true, Name = "from")] public string? FromText { get; set; }
    [BindProperty(SupportsGet = true, Name = "to")] public string? ToText { get; set; }

    public long? Before { get; private set; }
    public long Head { get; private set; }
    public IReadOnlyList<LedgerEventView> Events { get; private set; } = [];
    public bool More { get; private set; }

    public async Task OnGetAsync(CancellationToken ct)
    {
        Head = await ledger.GetHeadAsync(ct);
        await TryAsync(async () =>
        {
            Before = string.IsNullOrWhiteSpace(BeforeText) ? null
                : long.TryParse(BeforeText, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var b) ? b
                : throw new RequestInputException("bad_before", $"'before' '{Printable.Excerpt(BeforeText)}' is not a ledger version (a whole number)");
            Guid? edit = string.IsNullOrWhiteSpace(EditText) ? null
                : Guid.TryParse(EditText.Trim(), out var id) ? id
                : throw new RequestInputException("bad_edit", $"'edit' '{Printable.Excerpt(EditText)}' is not an edit id");
            var person = Text("person", Person?.Trim(), 200);
            var type = string.IsNullOrWhiteSpace(State) ? null
                : LedgerEventView.Kinds.Any(k => k.Type == State) ? State
                : throw new RequestInputException("bad_state", $"'state' '{Printable.Excerpt(State)}' is not one of {string.Join(", ", LedgerEventView.Kinds.Select(k => k.Type))}");
            var from = Date("from", FromText);
            var to = Date("to", ToText);
            (Events, More) = await timeline.ReadAsync(new TimelineFilter(Before, edit, person, type, from, to, PageSize), ct);
        });
    }

    /// <summary>This page's filters with another <c>before</c>.</summary>
    public string PageLink(long? before)
    {
        var query = new Dictionary<string, string?>
        {
            ["edit"] = EditText, ["person"] = Person, ["state"] = State, ["from"] = FromText, ["to"] = ToText,
            ["before"] = before?.ToString(System.Globalization.CultureInfo.InvariantCulture),
        }.Where(p => !string.IsNullOrWhiteSpace(p.Value));
        return Microsoft.AspNetCore.WebUtilities.QueryHelpers.AddQueryString("/ui/timeline", query);
    }
}
