using LiveEdit.Hosting.Serving;
using LiveEdit.Ledger.Edits;
using LiveEdit.Testing;
using Microsoft.Playwright;
using Shouldly;
using Xunit;

namespace LiveEdit.Web.Tests;

/// <summary>
/// The workbench in Debian's chromium against a host on real PostgreSQL: an edit's whole life seen and decided on the
/// pages, with screenshots under TestResults/screenshots.
/// </summary>
[Collection(WebCollection.Name)]
public sealed class the_auditors_workbench_in_a_browser(PostgresFixture postgres) : UiHostPerClass(postgres, browser: true)
{

    /// <summary>A page of its own browser context (its own cookies), signed in with the key through the sign-in form.</summary>
    private async Task<IPage> SignedInAsync(string key)
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = Host.Address.ToString(), ViewportSize = new ViewportSize { Width = 1366, Height = 768 } });
        var page = await context.NewPageAsync();
        await page.GotoAsync("/ui/timeline");
        page.Url.ShouldContain("/ui/sign-in");
        await page.GetByLabel("API key", new() { Exact = true }).FillAsync(key);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in with the key" }).ClickAsync();
        await page.WaitForURLAsync(u => !u.Contains("/ui/sign-in", StringComparison.Ordinal));
        return page;
    }

    /// <summary>A page of its own browser context, signed in with user name and password.</summary>
    private async Task<IPage> SignedInAsPersonAsync(string userName)
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = Host.Address.ToString(), ViewportSize = new ViewportSize { Width = 1366, Height = 768 } });
        var page = await context.NewPageAsync();
        await page.GotoAsync("/ui/sign-in");
        await page.GetByLabel("User name", new() { Exact = true }).FillAsync(userName);
        await page.GetByLabel("Password", new() { Exact = true }).FillAsync(Ui.Password);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in", Exact = true }).ClickAsync();
        await page.WaitForURLAsync(u => !u.Contains("/ui/sign-in", StringComparison.Ordinal));
        return page;
    }

    [Fact]
    public async Task an_edit_is_seen_refused_to_its_proposer_approved_asked_about_as_of_retracted_and_diffed()
    {
        var c = Ui.Cases(1, seed: 31)[0];
        var before = await Host.Ledger.GetHeadAsync();
        var id = await Host.ProposeAsync(c, Ui.AdminKey, rationale: "the old name is wrong");
        var shortId = id.ToString()[..8];

        // An approver signs in with a key (and lands where the sign-in was asked for) and sees the proposal in the timeline.
        var bob = await SignedInAsync(Ui.ApproverKey);
        bob.Url.ShouldEndWith("/ui/timeline");
        var proposed = bob.Locator("tbody tr", new() { HasText = shortId }).Filter(new() { HasText = "Proposed" });
        (await proposed.InnerTextAsync()).ShouldContain("dana");
        (await proposed.InnerTextAsync()).ShouldContain("the old name is wrong");
        await Chromium.ScreenshotAsync(bob, "1-timeline-with-the-proposal");

        // The proposer's own approval: shown refused, and refused when sent anyway.
        var dana = await SignedInAsPersonAsync("dana");
        await dana.GotoAsync("/ui/queue");
        (await dana.Locator($"#four-eyes-{id}").InnerTextAsync()).ShouldContain("you proposed this edit, so you cannot approve it");
        var own = dana.Locator($"#decide-{id}").GetByRole(AriaRole.Button, new() { Name = "Approve" });
        (await own.IsDisabledAsync()).ShouldBeTrue();
        await Chromium.ScreenshotAsync(dana, "2-queue-four-eyes-shown");
        await dana.Locator($"#approve-{id}-password").FillAsync(Ui.Password);
        await own.EvaluateAsync("b => b.disabled = false");
        await own.ClickAsync();
        (await dana.Locator("#error").InnerTextAsync()).ShouldContain("four_eyes_violation");
        (await Host.Ledger.GetEditAsync(id)).Status.ShouldBe(EditStatus.Proposed);
        await Chromium.ScreenshotAsync(dana, "3-own-approval-refused");

        // Another person approves it.
        await bob.GotoAsync("/ui/queue");
        (await bob.Locator($"#four-eyes-{id}").CountAsync()).ShouldBe(0);
        (await bob.Locator($"#approve-{id}-user").InputValueAsync()).ShouldBe("bob");
        await bob.Locator($"#approve-{id}-password").FillAsync(Ui.Password);
        await bob.Locator($"#approve-{id}-meaning").SelectOptionAsync("review");
        await Chromium.ScreenshotAsync(bob, "3b-queue-signing-an-approval");
        await bob.Locator($"#decide-{id}").GetByRole(AriaRole.Button, new() { Name = "Approve" }).ClickAsync();
        (await bob.Locator("#notice").InnerTextAsync()).ShouldContain("approved by bob");
        await Host.WaitForStatusAsync(id, "Active", TimeSpan.FromSeconds(90));
        var activatedAt = (await Host.Ledger.GetEditAsync(id)).ActivatedAtVersion!.Value;

        // "Ask as of": the version before the edit gives the old answer, the head the new one, with the expert that fired.
        var oldAnswer = (await Host.Server.QueryAsync(c.Edit.Image, c.Edit.Prompt, new AsOf.Sequence(before))).Answer;
        oldAnswer.ShouldNotBe(c.NewTarget);
        await bob.GotoAsync("/ui/ask");
        await bob.GetByLabel("Image (PNG, JPEG or BMP)").SetInputFilesAsync(new FilePayload { Name = "case.png", MimeType = "image/png", Buffer = c.Edit.Image!.ToPng() });
        await bob.GetByRole(AriaRole.Textbox, new() { Name = "Question", Exact = true }).FillAsync(c.Edit.Prompt);
        await bob.GetByLabel("As of", new() { Exact = false }).FillAsync(before.ToString(global::System.Globalization.CultureInfo.InvariantCulture));
        await bob.GetByRole(AriaRole.Button, new() { Name = "Ask" }).ClickAsync();
        (await bob.Locator("#answer-as-of .answer").InnerTextAsync()).ShouldBe(oldAnswer);
        (await bob.Locator("#answer-head .answer").InnerTextAsync()).ShouldBe(c.NewTarget);
        (await bob.Locator("#answer-head a", new() { HasText = shortId }).CountAsync()).ShouldBe(1);
        (await bob.Locator("#answer-as-of a", new() { HasText = shortId }).CountAsync()).ShouldBe(0);
        await Chromium.ScreenshotAsync(bob, "4-ask-as-of-beside-the-head");

        // The edit's page says how often and how strongly it fired in the recorded queries (written in the background).
        await dana.GotoAsync($"/ui/edits/{id}");
        for (var tries = 0; !(await dana.Locator("#firing").InnerTextAsync()).StartsWith("Fired in", StringComparison.Ordinal) && tries < 50; tries++)
        {
            await Task.Delay(200);
            await dana.ReloadAsync();
        }
        (await dana.Locator("#firing").InnerTextAsync()).ShouldStartWith("Fired in 1 recorded query: mean weight 1.000");
        (await dana.Locator("#queries").InnerTextAsync()).ShouldContain(c.NewTarget);

        // An admin retracts it with a reason on its page.
        await dana.GetByLabel("Reason for retracting").FillAsync("the correction was itself wrong");
        await dana.Locator($"#retract-{id}-password").FillAsync(Ui.Password);
        await dana.GetByRole(AriaRole.Button, new() { Name = "Retract this edit" }).ClickAsync();
        (await dana.Locator("#notice").InnerTextAsync()).ShouldContain("Retracted by dana");
        (await dana.Locator("#edit-status").InnerTextAsync()).ShouldBe("Retracted");
        var history = await dana.Locator("table").Last.InnerTextAsync();
        history.ShouldContain("Approved");
        history.ShouldContain("bob");
        history.ShouldContain("the correction was itself wrong");
        history.ShouldContain("Bob Baker (bob) — review —");
        history.ShouldContain("Dana Diaz (dana) — retraction —");
        history.ShouldContain("signed with a password");
        (await dana.Locator("#active-periods").InnerTextAsync()).ShouldContain($"version {activatedAt}");
        (await dana.Locator("#expert-sha").InnerTextAsync()).Length.ShouldBe(64);
        await Chromium.ScreenshotAsync(dana, "5-edit-page-after-retraction");

        // The diff shows the activation, and the removal.
        var retractedAt = (await Host.Ledger.GetEditAsync(id)).RemovedAtVersion!.Value;
        await bob.GotoAsync($"/ui/diff?from={before}&to={activatedAt}");
        (await bob.Locator("#diff-activated").InnerTextAsync()).ShouldContain(shortId);
        (await bob.Locator("#diff-removed").InnerTextAsync()).ShouldBe("None.");
        await Chromium.ScreenshotAsync(bob, "6-diff-activated");
        await bob.GotoAsync($"/ui/diff?from={activatedAt}&to={retractedAt}");
        (await bob.Locator("#diff-removed").InnerTextAsync()).ShouldContain(shortId);
        await Chromium.ScreenshotAsync(bob, "7-diff-retracted");

        // The old version still gives the old answer after the retraction.
        await bob.GotoAsync("/ui/ask");
        await bob.GetByLabel("Image (PNG, JPEG or BMP)").SetInputFilesAsync(new FilePayload { Name = "case.png", MimeType = "image/png", Buffer = c.Edit.Image!.ToPng() });
        await bob.GetByRole(AriaRole.Textbox, new() { Name = "Question", Exact = true }).FillAsync(c.Edit.Prompt);
        await bob.GetByLabel("As of", new() { Exact = false }).FillAsync(activatedAt.ToString(global::System.Globalization.CultureInfo.InvariantCulture));
        await bob.GetByRole(AriaRole.Button, new() { Name = "Ask" }).ClickAsync();
        (await bob.Locator("#answer-as-of .answer").InnerTextAsync()).ShouldBe(c.NewTarget);
        (await bob.Locator("#answer-head .answer").InnerTextAsync()).ShouldBe(oldAnswer);

        // The timeline, filtered to the edit, tells the whole story.
        await bob.GotoAsync($"/ui/timeline?edit={id}");
        var story = await bob.Locator("tbody").InnerTextAsync();
        foreach (var change in new[] { "Proposed", "Approved", "Expert generated", "Activated", "Retracted" }) story.ShouldContain(change);
        story.ShouldContain("Bob Baker (bob) — review —");
        await Chromium.ScreenshotAsync(bob, "8-timeline-of-the-edit");
    }

    [Fact]
    public async Task bad_input_is_refused_on_the_page_naming_the_field_as_the_api_does()
    {
        var bob = await SignedInAsync(Ui.ApproverKey);
        var response = await bob.GotoAsync("/ui/timeline?from=yesterday");
        response!.Status.ShouldBe(400);
        (await bob.Locator("#error").InnerTextAsync()).ShouldContain("'from' 'yesterday' is not a date");
        response = await bob.GotoAsync("/ui/diff?from=abc");
        response!.Status.ShouldBe(400);
        (await bob.Locator("#error").InnerTextAsync()).ShouldContain("'from'");
        await bob.GotoAsync("/ui/ask");
        await bob.GetByRole(AriaRole.Textbox, new() { Name = "Question", Exact = true }).FillAsync("what is this creature called?");
        await bob.GetByLabel("As of", new() { Exact = false }).FillAsync("999999");
        await bob.GetByRole(AriaRole.Button, new() { Name = "Ask" }).ClickAsync();
        (await bob.Locator("#error").InnerTextAsync()).ShouldContain("as_of_in_future");
        await Chromium.ScreenshotAsync(bob, "9-bad-input-named");
    }
}
