using LiveEdit.Hosting.Serving;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Edits;
using LiveEdit.Testing;
using Shouldly;
using Xunit;

namespace LiveEdit.System.Tests;

/// <summary>
/// `liveedit verify --experts`: every recorded expert is re-generated from its edit as the ledger holds it and compared
/// by SHA-256. Here no worker runs: the test records the experts itself, one of them the wrong one, as a faulty worker
/// would.
/// </summary>
[Collection(SystemCollection.Name)]
public sealed class verifying_experts(PostgresFixture postgres) : HostPerClass(postgres)
{
    protected override Dictionary<string, string?> Configure(PostgresFixture postgres, string schema)
    {
        var settings = Settings.InMemory(postgres, schema);
        settings["Workers:InProcess"] = "false";
        settings["Workers:Reconciler:Every"] = "01:00:00";
        return settings;
    }

    [Fact]
    public async Task finds_every_expert_identical_and_names_the_one_a_faulty_worker_recorded()
    {
        var cases = Settings.Cases(3, seed: 17);
        var ids = new List<Guid>();
        foreach (var c in cases) ids.Add(await Host.ProposeAsync(c));
        foreach (var id in ids) await Host.WaitForStatusAsync(id, "Approved", TimeSpan.FromSeconds(30));

        var empty = await ExpertVerification.VerifyAsync(Host.Ledger, Host.Runtime);
        empty.Identical.ShouldBe(0, "no edit has an expert yet");

        // Edits 0 and 1 get their own experts; edit 2 gets edit 1's (a worker that mixed up its inputs).
        var experts = new List<LiveEdit.Model.Editor.Expert>();
        foreach (var c in cases) experts.Add(await Host.Runtime.GenerateAsync(c.Edit.Image!, c.Edit.Prompt, c.NewTarget));
        for (var i = 0; i < 3; i++) await RecordAsync(ids[i], experts[i == 2 ? 1 : i], i == 2 ? "faulty-worker" : "test-worker");
        foreach (var id in ids) await Host.WaitForStatusAsync(id, "Active", TimeSpan.FromSeconds(30));
        var head = await Host.Ledger.GetHeadAsync();

        var report = await ExpertVerification.VerifyAsync(Host.Ledger, Host.Runtime);
        report.Identical.ShouldBe(2);
        report.OtherGenerator.ShouldBe(0);
        report.AllIdentical.ShouldBeFalse();
        var mismatch = report.Different.ShouldHaveSingleItem();
        mismatch.EditId.ShouldBe(ids[2]);
        mismatch.RecordedSha256.ShouldBe(experts[1].Sha256);
        mismatch.RegeneratedSha256.ShouldBe(experts[2].Sha256);
        mismatch.WorkerId.ShouldBe("faulty-worker");
        (await Host.Ledger.GetHeadAsync()).ShouldBe(head, "verification only reads");
    }

    private async Task RecordAsync(Guid id, LiveEdit.Model.Editor.Expert expert, string worker)
    {
        var sha = await Host.Ledger.Blobs.PutAsync(expert.ToBytes());
        await Host.Ledger.RecordExpertAsync(new RecordExpert(id, sha, expert.GeneratorSha256, expert.BaseSha256, expert.Rank, expert.HiddenSize,
            worker, 1, expert.KeyRows, expert.ModuleDim, expert.VisualKey.ToArray()));
    }
}
