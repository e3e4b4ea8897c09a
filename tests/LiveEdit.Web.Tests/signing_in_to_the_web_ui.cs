using System.Net;
using LiveEdit.Testing;
using Shouldly;
using Xunit;

namespace LiveEdit.Web.Tests;

/// <summary>The UI's cookie: who gets one, what it opens, what it never opens, and that it outlives a restart.</summary>
[Collection(WebCollection.Name)]
public sealed class signing_in_to_the_web_ui(PostgresFixture postgres) : UiHostPerClass(postgres)
{
    [Fact]
    public async Task a_page_without_a_cookie_sends_to_the_sign_in_page()
    {
        var (client, _) = Host.Browserless();
        using var response = await client.GetAsync("/ui/timeline");
        response.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        response.Headers.Location!.PathAndQuery.ShouldStartWith("/ui/sign-in");
    }

    [Fact]
    public async Task the_cookie_is_http_only_and_same_site_lax_and_carries_the_keys_name_not_the_key()
    {
        var (client, cookies) = Host.Browserless();
        var page = await client.GetStringAsync("/ui/sign-in");
        using var response = await client.PostAsync("/ui/sign-in?handler=Key", new FormUrlEncodedContent(
            [new("apiKey", Ui.ApproverKey), new("__RequestVerificationToken", Ui.FormToken(page))]));
        response.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        var setCookie = response.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("liveedit-ui=", StringComparison.Ordinal));
        setCookie.ShouldContain("httponly", Case.Insensitive);
        setCookie.ShouldContain("samesite=lax", Case.Insensitive);
        setCookie.ShouldContain("path=/ui", Case.Insensitive);
        setCookie.ShouldNotContain(Ui.ApproverKey);
        (await client.GetStringAsync("/ui/home")).ShouldContain("Signed in as <strong>bob</strong>");
        cookies.GetCookies(new Uri(Host.Address, "/ui/"))["liveedit-ui"].ShouldNotBeNull();
    }

    [Fact]
    public async Task an_unknown_key_is_refused_on_the_page_naming_the_field()
    {
        var (client, _) = Host.Browserless();
        var page = await client.GetStringAsync("/ui/sign-in");
        using var response = await client.PostAsync("/ui/sign-in?handler=Key", new FormUrlEncodedContent(
            [new("apiKey", "not-a-key"), new("__RequestVerificationToken", Ui.FormToken(page))]));
        response.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
        var body = await response.Content.ReadAsStringAsync();
        body.ShouldContain("&#x27;apiKey&#x27;: the host knows no such API key");
        SignInCookies(response).ShouldBeEmpty();
    }

    [Fact]
    public async Task a_sign_in_posted_without_its_antiforgery_token_is_refused()
    {
        var (client, _) = Host.Browserless();
        await client.GetStringAsync("/ui/sign-in"); // the antiforgery cookie, but no token in the form
        using var response = await client.PostAsync("/ui/sign-in?handler=Key", new FormUrlEncodedContent([new("apiKey", Ui.ApproverKey)]));
        response.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        SignInCookies(response).ShouldBeEmpty();
    }

    [Fact]
    public async Task an_approval_posted_without_its_antiforgery_token_is_refused_and_the_edit_stays_proposed()
    {
        var id = await Host.ProposeAsync(Ui.Cases(1, seed: 21)[0], Ui.ProposerKey);
        var (client, _) = Host.Browserless();
        await Ui.SignInAsync(client, Ui.ApproverKey);
        // What a cross-site form would send: the signed-in cookie (were it sent at all), no token.
        using var forged = await client.PostAsync($"/ui/queue?handler=Approve&id={id}", new FormUrlEncodedContent([new("userName", "bob"), new("password", Ui.Password)]));
        forged.StatusCode.ShouldBe(HttpStatusCode.BadRequest);
        (await Host.Ledger.GetEditAsync(id)).Status.ShouldBe(LiveEdit.Ledger.Edits.EditStatus.Proposed);

        // The same post with the page's token is accepted: the refusal above was the token's.
        var queue = await client.GetStringAsync("/ui/queue");
        using var real = await client.PostAsync($"/ui/queue?handler=Approve&id={id}", new FormUrlEncodedContent(
            [new("__RequestVerificationToken", Ui.FormToken(queue)), new("userName", "bob"), new("password", Ui.Password)]));
        real.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await Host.Ledger.GetEditAsync(id)).Status.ShouldNotBe(LiveEdit.Ledger.Edits.EditStatus.Proposed);
    }

    [Fact]
    public async Task a_proposer_may_not_open_the_timeline_the_diff_the_queue_or_the_chain()
    {
        var (client, _) = Host.Browserless();
        await Ui.SignInAsync(client, Ui.ProposerKey);
        foreach (var page in new[] { "/ui/timeline", "/ui/diff", "/ui/queue", "/ui/chain" })
        {
            using var response = await client.GetAsync(page);
            response.StatusCode.ShouldBe(HttpStatusCode.Redirect, page);
            response.Headers.Location!.PathAndQuery.ShouldStartWith("/ui/denied", customMessage: page);
            using var denied = await client.GetAsync(response.Headers.Location);
            denied.StatusCode.ShouldBe(HttpStatusCode.Forbidden, page);
        }
        (await client.GetAsync("/ui/ask")).StatusCode.ShouldBe(HttpStatusCode.OK);
    }

    [Fact]
    public async Task a_proposer_does_not_see_another_persons_edit_or_its_image()
    {
        var id = await Host.ProposeAsync(Ui.Cases(1, seed: 22)[0], Ui.AdminKey);
        var (client, _) = Host.Browserless();
        await Ui.SignInAsync(client, Ui.ProposerKey);
        (await client.GetAsync($"/ui/edits/{id}")).StatusCode.ShouldBe(HttpStatusCode.NotFound);
        (await client.GetAsync($"/ui/edits/{id}/image")).StatusCode.ShouldBe(HttpStatusCode.NotFound);

        var (auditor, _) = Host.Browserless();
        await Ui.SignInAsync(auditor, Ui.AuditorKey);
        using var image = await auditor.GetAsync($"/ui/edits/{id}/image");
        image.StatusCode.ShouldBe(HttpStatusCode.OK);
        image.Content.Headers.ContentType!.MediaType.ShouldBe("image/png");
        image.Headers.GetValues("X-Content-Type-Options").ShouldContain("nosniff");
    }

    [Fact]
    public async Task the_api_does_not_take_the_ui_cookie()
    {
        var (client, cookies) = Host.Browserless();
        await Ui.SignInAsync(client, Ui.AdminKey);
        var cookie = cookies.GetCookies(new Uri(Host.Address, "/ui/"))["liveedit-ui"]!;
        using var api = Host.Client(null);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/edits");
        request.Headers.Add("Cookie", $"{cookie.Name}={cookie.Value}");
        (await api.SendAsync(request)).StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task a_return_address_on_another_site_is_not_followed()
    {
        var (client, _) = Host.Browserless();
        var page = await client.GetStringAsync("/ui/sign-in");
        using var response = await client.PostAsync("/ui/sign-in?handler=Key", new FormUrlEncodedContent(
            [new("apiKey", Ui.AuditorKey), new("returnUrl", "//evil.example/ui/x"), new("__RequestVerificationToken", Ui.FormToken(page))]));
        response.Headers.Location!.ToString().ShouldBe("/ui/home");
    }

    [Fact]
    public async Task a_cookie_issued_before_a_restart_still_works_after_it_and_not_on_a_host_with_other_keys()
    {
        var (client, cookies) = Host.Browserless();
        await Ui.SignInAsync(client, Ui.AuditorKey);
        var cookie = cookies.GetCookies(new Uri(Host.Address, "/ui/"))["liveedit-ui"]!;
        Directory.EnumerateFiles(Keys, "key-*.xml").ShouldNotBeEmpty("the Data Protection key is kept in the configured folder");

        await Host.DisposeAsync();
        Host = await Ui.StartAsync(Ui.Settings(Postgres, Schema, Keys));
        using (var restarted = Send(Host, cookie))
        {
            var response = await restarted.Client.GetAsync("/ui/home");
            response.StatusCode.ShouldBe(HttpStatusCode.OK, "the restarted host reads the cookie with the kept key");
            (await response.Content.ReadAsStringAsync()).ShouldContain("Signed in as <strong>carol</strong>");
        }

        // A host with other keys (what the in-memory default gives every start) cannot read it: the test above depends on the folder.
        var other = Directory.CreateTempSubdirectory("liveedit-ui-other-").FullName;
        await Host.DisposeAsync();
        Host = await Ui.StartAsync(Ui.Settings(Postgres, Schema, other));
        try
        {
            using var fresh = Send(Host, cookie);
            var response = await fresh.Client.GetAsync("/ui/home");
            response.StatusCode.ShouldBe(HttpStatusCode.Redirect);
            response.Headers.Location!.PathAndQuery.ShouldStartWith("/ui/sign-in");
        }
        finally
        {
            await Host.DisposeAsync();
            Host = await Ui.StartAsync(Ui.Settings(Postgres, Schema, Keys));
            Directory.Delete(other, recursive: true);
        }
    }

    [Fact]
    public async Task a_person_signs_in_with_user_name_and_password_and_a_wrong_password_is_refused()
    {
        var (client, _) = Host.Browserless();
        var page = await client.GetStringAsync("/ui/sign-in");
        using (var wrong = await client.PostAsync("/ui/sign-in?handler=Password", new FormUrlEncodedContent(
                   [new("userName", "carol"), new("password", "not her password"), new("__RequestVerificationToken", Ui.FormToken(page))])))
        {
            wrong.StatusCode.ShouldBe(HttpStatusCode.Unauthorized);
            (await wrong.Content.ReadAsStringAsync()).ShouldContain("the user name and password do not identify an enabled account");
            SignInCookies(wrong).ShouldBeEmpty();
        }
        using var right = await client.PostAsync("/ui/sign-in?handler=Password", new FormUrlEncodedContent(
            [new("userName", "Carol"), new("password", Ui.Password), new("__RequestVerificationToken", Ui.FormToken(page))]));
        right.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await client.GetStringAsync("/ui/home")).ShouldContain("Signed in as <strong>carol</strong> (auditor)");
    }

    [Fact]
    public async Task a_disabled_account_is_signed_out_on_its_next_request()
    {
        var people = LiveEdit.Inference.Auth.People.PeopleStore.Open(Postgres.OwnerConnectionString, Schema);
        await people.AddAsync("erin", "Erin Ezra", [LiveEdit.Inference.Auth.Roles.Auditor], Ui.Password);
        var (client, _) = Host.Browserless();
        var page = await client.GetStringAsync("/ui/sign-in");
        using (var signIn = await client.PostAsync("/ui/sign-in?handler=Password", new FormUrlEncodedContent(
                   [new("userName", "erin"), new("password", Ui.Password), new("__RequestVerificationToken", Ui.FormToken(page))])))
            signIn.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        (await client.GetAsync("/ui/timeline")).StatusCode.ShouldBe(HttpStatusCode.OK);
        await people.SetDisabledAsync("erin", disabled: true);
        using var after = await client.GetAsync("/ui/timeline");
        after.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        after.Headers.Location!.PathAndQuery.ShouldStartWith("/ui/sign-in");
    }

    [Fact]
    public async Task a_decision_signed_with_a_wrong_password_or_as_someone_else_is_refused_and_appends_nothing()
    {
        var id = await Host.ProposeAsync(Ui.Cases(1, seed: 23)[0], Ui.ProposerKey);
        var (client, _) = Host.Browserless();
        await Ui.SignInAsync(client, Ui.AdminKey);
        foreach (var (user, password, code) in new[] { ("dana", "not her password", "signature_rejected"), ("bob", Ui.Password, "signer_not_caller"), ("dana", "", "missing_signature_password") })
        {
            var queue = await client.GetStringAsync("/ui/queue");
            using var response = await client.PostAsync($"/ui/queue?handler=Approve&id={id}", new FormUrlEncodedContent(
                [new("__RequestVerificationToken", Ui.FormToken(queue)), new("userName", user), new("password", password)]));
            ((int)response.StatusCode).ShouldBeInRange(400, 403, code);
            (await response.Content.ReadAsStringAsync()).ShouldContain(code);
        }
        (await Host.Ledger.GetEditAsync(id)).ApprovedBy.ShouldBeNull();
    }

    [Fact]
    public async Task an_auditor_exports_an_audit_report_and_a_proposer_may_not()
    {
        var id = await Host.ProposeAsync(Ui.Cases(1, seed: 24)[0], Ui.ProposerKey);
        // The report reads the chain and the summaries one after the other: let the worker's expert land first.
        for (var tries = 0; (await Host.Ledger.GetEditAsync(id)).ExpertSha256 is null && tries < 300; tries++) await Task.Delay(100);
        var (auditor, _) = Host.Browserless();
        await Ui.SignInAsync(auditor, Ui.AuditorKey);
        using var json = await auditor.GetAsync("/ui/export?format=json");
        json.StatusCode.ShouldBe(HttpStatusCode.OK);
        json.Content.Headers.ContentType!.MediaType.ShouldBe("application/json");
        var export = LiveEdit.Hosting.Audit.AuditReportJson.Read(await json.Content.ReadAsStringAsync());
        json.Headers.GetValues("X-Audit-Status").Single().ShouldBe("Passed", string.Join("; ", export.Checks.Failures));
        export.Edits.ShouldNotBeEmpty();
        using var html = await auditor.GetAsync("/ui/export?format=html&from=0");
        html.Content.Headers.ContentType!.MediaType.ShouldBe("text/html");
        using var bad = await auditor.GetAsync("/ui/export?format=docx");
        bad.StatusCode.ShouldBe(HttpStatusCode.BadRequest);

        var (proposer, _) = Host.Browserless();
        await Ui.SignInAsync(proposer, Ui.ProposerKey);
        using var refused = await proposer.GetAsync("/ui/export?format=json");
        refused.StatusCode.ShouldBe(HttpStatusCode.Redirect);
        refused.Headers.Location!.PathAndQuery.ShouldStartWith("/ui/denied");
    }

    private static IEnumerable<string> SignInCookies(HttpResponseMessage response) =>
        response.Headers.TryGetValues("Set-Cookie", out var values) ? values.Where(c => c.StartsWith("liveedit-ui=", StringComparison.Ordinal)) : [];

    private static CookieClient Send(RunningHost host, Cookie cookie)
    {
        var (client, cookies) = host.Browserless();
        cookies.Add(new Uri(host.Address, "/ui/"), new Cookie(cookie.Name, cookie.Value, "/ui"));
        return new CookieClient(client);
    }

    private sealed record CookieClient(HttpClient Client) : IDisposable
    {
        public void Dispose() => Client.Dispose();
    }
}
