using System.Net.Http.Json;
using LiveEdit.Hosting.Serving;
using LiveEdit.Testing;
using Shouldly;
using Xunit;

namespace LiveEdit.System.Tests;

[Collection(SystemCollection.Name)]
public sealed class retracting_an_edit(PostgresFixture postgres) : HostPerClass(postgres)
{
    [Fact]
    public async Task gives_back_the_answer_and_the_logits_of_before_bit_for_bit_and_the_past_stays_queryable()
    {
        var cases = Settings.Cases(3, seed: 13);
        var c = cases[0];
        var v0 = await Host.Ledger.GetHeadAsync();
        var (logits0, _) = await Host.Server.LogitsAsync(c.Edit.Image, c.Edit.Prompt, c.NewTarget, AsOf.Now);
        var answer0 = (await Host.QueryAsync(c.Edit.Image, c.Edit.Prompt))["answer"]!.ToString();

        var id = await Host.ProposeAsync(c);
        await Host.WaitForStatusAsync(id, "Active", TimeSpan.FromSeconds(60));
        var edited = await Host.QueryAsync(c.Edit.Image, c.Edit.Prompt);
        edited["experts"]!.AsArray().Select(e => e!["editId"]!.GetValue<Guid>()).ShouldContain(id);
        var vEdited = edited["version"]!.GetValue<long>();
        var (logitsEdited, vLogits) = await Host.Server.LogitsAsync(c.Edit.Image, c.Edit.Prompt, c.NewTarget, AsOf.Now);
        vLogits.ShouldBe(vEdited);
        logitsEdited.ShouldNotBe(logits0);

        using (var admin = Host.Client(RunningHost.AdminKey))
        {
            using var response = await admin.PostAsJsonAsync($"/edits/{id}/retract", new { reason = "wrong" });
            ((int)response.StatusCode).ShouldBe(200, await response.Content.ReadAsStringAsync());
        }

        await Host.Server.SyncHeadAsync(); // in process: read our own retraction
        var (logitsAfter, vAfter) = await Host.Server.LogitsAsync(c.Edit.Image, c.Edit.Prompt, c.NewTarget, AsOf.Now);
        vAfter.ShouldBeGreaterThan(vEdited);
        logitsAfter.ShouldBe(logits0, "after the retraction the model is bit for bit what it was before the edit");
        (await Host.QueryAsync(c.Edit.Image, c.Edit.Prompt))["answer"]!.ToString().ShouldBe(answer0);

        // Later edits do not change the past.
        foreach (var later in cases.Skip(1))
            await Host.WaitForStatusAsync(await Host.ProposeAsync(later), "Active", TimeSpan.FromSeconds(60));
        (await Host.QueryAsync(c.Edit.Image, c.Edit.Prompt, v0.ToString()))["answer"]!.ToString().ShouldBe(answer0);
        var past = await Host.QueryAsync(c.Edit.Image, c.Edit.Prompt, vEdited.ToString());
        past["answer"]!.ToString().ShouldBe(edited["answer"]!.ToString());
        past["version"]!.GetValue<long>().ShouldBe(vEdited);
        var (logitsPast, _) = await Host.Server.LogitsAsync(c.Edit.Image, c.Edit.Prompt, c.NewTarget, new AsOf.Sequence(vEdited));
        logitsPast.ShouldBe(logitsEdited, "a past version answers with the same bits however many events follow");

        // As of a time: the moment of the edited version gives the edited answer.
        var at = (await Host.Ledger.ListVersionsAsync(vEdited - 1, 1)).Single().Timestamp;
        var asOfTime = await Host.QueryAsync(c.Edit.Image, c.Edit.Prompt, at.ToString("O"));
        asOfTime["version"]!.GetValue<long>().ShouldBe(vEdited);
        asOfTime["answer"]!.ToString().ShouldBe(edited["answer"]!.ToString());
    }

    [Fact]
    public async Task text_only_questions_are_untouched_by_edits()
    {
        var c = Settings.Cases(1, seed: 14)[0];
        var before = await Host.QueryAsync(null, c.TextLocality.Prompt);
        await Host.WaitForStatusAsync(await Host.ProposeAsync(c), "Active", TimeSpan.FromSeconds(60));
        var after = await Host.QueryAsync(null, c.TextLocality.Prompt);
        after["answer"]!.ToString().ShouldBe(before["answer"]!.ToString());
        after["experts"]!.AsArray().Count.ShouldBe(0);
    }
}
