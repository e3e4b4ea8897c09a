using LiveEdit.Hosting.Serving;
using LiveEdit.Inference.Auth;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Projections;
using LiveEdit.Ledger.Versions;
using Marten;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;

namespace LiveEdit.Inference.Web.Pages;

/// <summary>One edit in a diff, with what its summary says of it.</summary>
public sealed record DiffRow(Guid EditId, long ActivatedAtVersion, string Status, string Prompt, string Target, string ProposedBy);

/// <summary>Edits activated and retracted between two versions or dates.</summary>
[Authorize(Policy = Policies.ReadAll)]
public sealed class DiffModel(EditLedger ledger) : UiPage
{
    /// <summary>Most rows shown per list (the counts are whole).</summary>
    public const int MaxRows = 200;

    [BindProperty(SupportsGet = true, Name = "from")] public string? FromText { get; set; }
    [BindProperty(SupportsGet = true, Name = "to")] public string? ToText { get; set; }
    public VersionDiff? Diff { get; private set; }
    public IReadOnlyList<DiffRow> Activated { get; private set; } = [];
    public IReadOnlyList<DiffRow> Removed { get; private set; } = [];

    public async Task OnGetAsync(CancellationToken ct)
    {
        if (string.IsNullOrWhiteSpace(FromText) && string.IsNullOrWhiteSpace(ToText)) return;
        await TryAsync(async () =>
        {
            var from = await VersionAsync("from", FromText, required: true, ct);
            var to = await VersionAsync("to", ToText, required: false, ct);
            var diff = await ledger.DiffAsync(from, to, ct);
            var shown = diff.Activated.Take(MaxRows).Concat(diff.Removed.Take(MaxRows)).Select(e => e.EditId).Distinct().ToArray();
            await using var session = ledger.Store.QuerySession();
            var summaries = (await session.LoadManyAsync<EditSummary>(ct, shown)).ToDictionary(s => s.Id);
            DiffRow Row(ActiveExpert e) => summaries.TryGetValue(e.EditId, out var s)
                ? new DiffRow(e.EditId, e.ActivatedAtVersion, s.Status.ToString(), s.Prompt, s.Target, s.ProposedBy)
                : new DiffRow(e.EditId, e.ActivatedAtVersion, "?", "", "", "");
            Activated = diff.Activated.Take(MaxRows).Select(Row).ToArray();
            Removed = diff.Removed.Take(MaxRows).Select(Row).ToArray();
            Diff = diff;
        });
    }

    private async Task<long> VersionAsync(string field, string? text, bool required, CancellationToken ct)
    {
        var moment = Moment(field, text);
        if (moment is null && required) throw new Errors.RequestInputException("missing_" + field, $"'{field}' is required: a version number or a time");
        return moment switch
        {
            AsOf.Sequence { Version: var v } => v,
            AsOf.Timestamp { Moment: var t } => await ledger.GetVersionAtAsync(t, ct),
            _ => await ledger.GetHeadAsync(ct),
        };
    }
}
