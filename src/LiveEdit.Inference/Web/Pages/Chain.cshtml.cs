using LiveEdit.Inference.Auth;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Audit;
using Microsoft.AspNetCore.Authorization;

namespace LiveEdit.Inference.Web.Pages;

/// <summary>The chain verified now (every record, MAC and read-model row) and the last signed checkpoint.</summary>
[Authorize(Policy = Policies.Audit)]
public sealed class ChainModel(EditLedger ledger, IConfiguration configuration) : UiPage
{
    public LedgerVerification? Verification { get; private set; }
    public DateTimeOffset CheckedAt { get; private set; }
    public CheckpointView Checkpoint { get; private set; } = CheckpointView.None;

    public async Task OnGetAsync(CancellationToken ct)
    {
        Checkpoint = CheckpointView.Latest(configuration);
        await TryAsync(async () =>
        {
            Verification = await ledger.VerifyAsync(ct);
            CheckedAt = DateTimeOffset.UtcNow;
        });
    }
}
