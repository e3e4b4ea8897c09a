using LiveEdit.Ledger.Edits;
using LiveEdit.Testing;
using Microsoft.Playwright;
using Shouldly;
using Xunit;

namespace LiveEdit.Web.Tests;

/// <summary>Markup and script in a prompt, target, rationale or reason are shown as the text they are, on every page.</summary>
[Collection(WebCollection.Name)]
public sealed class showing_what_people_typed_as_text(PostgresFixture postgres) : UiHostPerClass(postgres, browser: true)
{
    private const string Prompt = "what is <b id=\"in-prompt\">this</b> <script>document.title='pwned'</script>?";
    private const string Target = "<img id=\"in-target\" src=x> babro";
    private const string Rationale = "because <i id=\"in-rationale\">I said</i> & \"so\" <script>document.title='pwned'</script>";
    private const string Reason = "<u id=\"in-reason\">no</u> <a id=\"in-reason-link\" href=\"javascript:alert(1)\">see</a>";

    private static async Task NothingInjectedAsync(IPage page)
    {
        foreach (var id in new[] { "in-prompt", "in-target", "in-rationale", "in-reason", "in-reason-link" })
            (await page.Locator($"#{id}").CountAsync()).ShouldBe(0, $"an element #{id} was made from typed text on {page.Url}");
        (await page.Locator("main script").CountAsync()).ShouldBe(0);
        (await page.TitleAsync()).ShouldNotBe("pwned");
    }

    [Fact]
    public async Task on_the_edit_page_the_timeline_the_queue_and_the_ask_page()
    {
        // The target is one no TinyVLM tokenizer takes over the API, so it goes straight into the ledger: the pages must
        // escape whatever a ledger holds (another model kind takes other words).
        var image = Ui.Cases(1, seed: 41)[0].Edit.Image!.ToPng();
        var sha = await Host.Ledger.Blobs.PutAsync(image);
        var id = Guid.NewGuid();
        await Host.Ledger.ProposeAsync(new ProposeEdit(id, sha, Prompt, Target, Rationale, "alice", [], null));

        var context = await Browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = Host.Address.ToString() });
        var bob = await context.NewPageAsync();
        await bob.GotoAsync("/ui/sign-in");
        await bob.GetByLabel("API key", new() { Exact = true }).FillAsync(Ui.ApproverKey);
        await bob.GetByRole(AriaRole.Button, new() { Name = "Sign in with the key" }).ClickAsync();

        await bob.GotoAsync("/ui/queue");
        (await bob.Locator($"#q-{id}").Locator("..").InnerTextAsync()).ShouldContain(Prompt);
        await NothingInjectedAsync(bob);
        await bob.Locator($"#decide-{id}").GetByLabel("Reason for rejecting").FillAsync(Reason);
        await bob.Locator($"#reject-{id}-password").FillAsync(Ui.Password);
        await bob.Locator($"#decide-{id}").GetByRole(AriaRole.Button, new() { Name = "Reject" }).ClickAsync();
        (await bob.Locator("#notice").InnerTextAsync()).ShouldContain("rejected by bob");

        await bob.GotoAsync($"/ui/edits/{id}");
        (await bob.Locator("#edit-prompt").InnerTextAsync()).ShouldBe(Prompt);
        (await bob.Locator("#edit-target").InnerTextAsync()).ShouldBe(Target);
        (await bob.Locator("#edit-rationale").InnerTextAsync()).ShouldBe(Rationale);
        (await bob.Locator("table").Last.InnerTextAsync()).ShouldContain(Reason);
        await NothingInjectedAsync(bob);
        await Chromium.ScreenshotAsync(bob, "escaping-edit-page");

        await bob.GotoAsync($"/ui/timeline?person={Uri.EscapeDataString("<b id=\"in-prompt\">")}");
        (await bob.GetByLabel("Person").InputValueAsync()).ShouldBe("<b id=\"in-prompt\">");
        await bob.GotoAsync("/ui/timeline");
        var timeline = await bob.Locator("tbody").InnerTextAsync();
        timeline.ShouldContain(Rationale);
        timeline.ShouldContain(Reason);
        await NothingInjectedAsync(bob);
        await Chromium.ScreenshotAsync(bob, "escaping-timeline");

        await bob.GotoAsync("/ui/ask");
        await bob.GetByRole(AriaRole.Textbox, new() { Name = "Question", Exact = true }).FillAsync(Prompt);
        await bob.GetByRole(AriaRole.Button, new() { Name = "Ask" }).ClickAsync();
        (await bob.GetByRole(AriaRole.Textbox, new() { Name = "Question", Exact = true }).InputValueAsync()).ShouldBe(Prompt);
        await NothingInjectedAsync(bob);
    }
}
