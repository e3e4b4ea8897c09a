using LiveEdit.Ledger;
using LiveEdit.Ledger.Edits;
using LiveEdit.Model.Editor;
using LiveEdit.Model.Images;
using LiveEdit.Testing;
using Marten;

namespace LiveEdit.Hosting.Tests;

/// <summary>
/// A ledger of its own (auto-approving, the test chain key) with one real expert made for one random image, and edits
/// whose experts are copies of it with factors of their own: every copy passes the hard filter for that image, so the
/// fusion path runs with all of them.
/// </summary>
internal sealed class ActivatedCopies(DocumentStore store, EditLedger ledger, RgbImage image, Expert template, string prompt)
{
    public DocumentStore Store { get; } = store;
    public EditLedger Ledger { get; } = ledger;
    public RgbImage Image { get; } = image;
    public Expert Template { get; } = template;

    /// <summary>A fresh schema for <paramref name="owner"/>, a 32×32 image from <paramref name="imageSeed"/> and the expert for it.</summary>
    public static async Task<ActivatedCopies> CreateAsync(PostgresFixture postgres, ModelFixture model, Type owner, int imageSeed, string prompt)
    {
        var schema = await postgres.CreateSchemaAsync(owner);
        var store = LedgerStore.Create(postgres.ConnectionString, schema);
        var ledger = new EditLedger(store, new LedgerOptions { Policy = ApprovalPolicy.AutoApprove, ChainKey = Convert.FromBase64String(TestChainKey.Base64) });
        await ledger.EnsureSchemaAsync();
        var pixels = new byte[32 * 32 * 3];
        new Random(imageSeed).NextBytes(pixels);
        var image = new RgbImage(32, 32, pixels);
        return new ActivatedCopies(store, ledger, image, await model.Runtime.GenerateAsync(image, prompt, "babro"), prompt);
    }

    /// <summary>Proposes an edit on the image (auto-approved) and records copy number <paramref name="n"/> of the template as
    /// its expert (one element of U moved by <paramref name="step"/>·n), which activates it.</summary>
    public async Task<Guid> ActivateAsync(int n, float step, string rationale, string tag, Guid? supersedes = null)
    {
        var u = Template.U.ToArray();
        u[n % u.Length] += step * n;
        var expert = new Expert(Template.HiddenSize, Template.Rank, Template.KeyRows, Template.ModuleDim, u, Template.V.ToArray(),
            Template.VisualKey.ToArray(), Template.TextKey.ToArray(), Template.BaseSha256, Template.GeneratorSha256);
        var id = Guid.NewGuid();
        var imageSha = await Ledger.Blobs.PutAsync(Image.ToPng());
        await Ledger.ProposeAsync(new ProposeEdit(id, imageSha, prompt, "babro", rationale, "alice", [tag], supersedes));
        var sha = await Ledger.Blobs.PutAsync(expert.ToBytes());
        await Ledger.RecordExpertAsync(new RecordExpert(id, sha, expert.GeneratorSha256, expert.BaseSha256, expert.Rank, expert.HiddenSize,
            "worker-1", 1, expert.KeyRows, expert.ModuleDim, expert.VisualKey.ToArray()));
        return id;
    }
}
