using LiveEdit.Ledger;
using LiveEdit.Hosting.Startup;
using LiveEdit.Ledger.Projections;

namespace LiveEdit.Hosting.Serving;

/// <summary>One edit whose recorded expert is not the one its edit makes now.</summary>
/// <param name="WorkerId">The worker that recorded the expert.</param>
public sealed record ExpertMismatch(Guid EditId, string RecordedSha256, string RegeneratedSha256, string? WorkerId);

/// <summary>
/// What <see cref="ExpertVerification.VerifyAsync"/> found: experts re-generated bit for bit, experts that differ (each
/// named), and experts made by another generator (not checkable with this runtime's editor).
/// </summary>
public sealed record ExpertVerificationReport(int Identical, IReadOnlyList<ExpertMismatch> Different, int OtherGenerator, int Threads)
{
    /// <summary>No recorded expert differs from its re-generation.</summary>
    public bool AllIdentical => Different.Count == 0;
}

/// <summary>
/// Re-generates the expert of every edit that has one, from the edit's image, prompt and target as the ledger holds
/// them, and compares SHA-256s with the recorded expert (DESIGN.md §5.3: reproducibility across machines is stated,
/// not assumed). Reads only; changes nothing.
/// </summary>
public static class ExpertVerification
{
    /// <param name="progress">Called with (edits checked, edits in all) after each edit.</param>
    public static async Task<ExpertVerificationReport> VerifyAsync(EditLedger ledger, ModelRuntime runtime, Action<int, int>? progress = null,
        CancellationToken ct = default)
    {
        var edits = new List<EditSummary>();
        for (var skip = 0; ; skip += 1_000)
        {
            var page = await ledger.ListEditsAsync(null, skip, 1_000, ct);
            edits.AddRange(page.Where(e => e.ExpertSha256 is not null));
            if (page.Count < 1_000) break;
        }
        int identical = 0, otherGenerator = 0, done = 0;
        var different = new List<ExpertMismatch>();
        foreach (var edit in edits.OrderBy(e => e.ProposedAt).ThenBy(e => e.Id))
        {
            if (!string.Equals(edit.GeneratorSha256, runtime.Editor.GeneratorSha256, StringComparison.OrdinalIgnoreCase))
            {
                otherGenerator++;
            }
            else
            {
                var image = runtime.ReadImage(await BlobReads.GetAsync(ledger, edit.ImageSha256, ct), $"image {edit.ImageSha256[..12]}");
                var expert = await runtime.GenerateAsync(image, edit.Prompt, edit.Target, ct);
                if (string.Equals(expert.Sha256, edit.ExpertSha256, StringComparison.OrdinalIgnoreCase)) identical++;
                else different.Add(new ExpertMismatch(edit.Id, edit.ExpertSha256!, expert.Sha256, edit.WorkerId));
            }
            progress?.Invoke(++done, edits.Count);
        }
        return new ExpertVerificationReport(identical, different, otherGenerator, runtime.Threads);
    }
}
