using LiveEdit.Ledger;
using LiveEdit.Ledger.Edits;
using LiveEdit.Model.Editor;
using LiveEdit.Model.Images;

namespace LiveEdit.Hosting.Tests;

/// <summary>
/// Activates edits whose experts are copies of one real expert with factors of their own: every copy passes the hard
/// filter for the image the template was made for, so the fusion path runs with all of them.
/// </summary>
internal static class ActivatedCopies
{
    /// <summary>Proposes an edit on <paramref name="image"/> (auto-approved) and records copy number <paramref name="n"/> of
    /// <paramref name="template"/> as its expert (one element of U moved by <paramref name="step"/>·n), which activates it.</summary>
    public static async Task<Guid> ActivateAsync(EditLedger ledger, RgbImage image, string prompt, Expert template, int n, float step,
        string rationale, string tag, Guid? supersedes = null)
    {
        var u = template.U.ToArray();
        u[n % u.Length] += step * n;
        var expert = new Expert(template.HiddenSize, template.Rank, template.KeyRows, template.ModuleDim, u, template.V.ToArray(),
            template.VisualKey.ToArray(), template.TextKey.ToArray(), template.BaseSha256, template.GeneratorSha256);
        var id = Guid.NewGuid();
        var imageSha = await ledger.Blobs.PutAsync(image.ToPng());
        await ledger.ProposeAsync(new ProposeEdit(id, imageSha, prompt, "babro", rationale, "alice", [tag], supersedes));
        var sha = await ledger.Blobs.PutAsync(expert.ToBytes());
        await ledger.RecordExpertAsync(new RecordExpert(id, sha, expert.GeneratorSha256, expert.BaseSha256, expert.Rank, expert.HiddenSize,
            "worker-1", 1, expert.KeyRows, expert.ModuleDim, expert.VisualKey.ToArray()));
        return id;
    }
}
