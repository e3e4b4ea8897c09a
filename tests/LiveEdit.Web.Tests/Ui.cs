using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using LiveEdit.Hosting.Serving;
using LiveEdit.Inference;
using LiveEdit.Inference.Auth;
using LiveEdit.Ledger;
using LiveEdit.Research.World;
using LiveEdit.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Shouldly;

namespace LiveEdit.Web.Tests;

/// <summary>The real inference host on a loopback port, on a migrated ledger schema of real PostgreSQL, as the application role.</summary>
public sealed partial class UiHost : IAsyncDisposable
{
    public const string ProposerKey = DevelopmentKeys.Proposer, ApproverKey = DevelopmentKeys.Approver, AuditorKey = DevelopmentKeys.Auditor, AdminKey = DevelopmentKeys.Admin;

    private UiHost(WebApplication app, Uri address)
    {
        App = app;
        Address = address;
    }

    public WebApplication App { get; }
    public Uri Address { get; }
    public EditLedger Ledger => App.Services.GetRequiredService<EditLedger>();
    public EditedModelServer Server => App.Services.GetRequiredService<EditedModelServer>();

    /// <summary>Creates the class's schema as the owner role and migrates it; returns its name.</summary>
    public static async Task<string> MigrateAsync(PostgresFixture postgres, Type testClass, string suffix = "")
    {
        var schema = await postgres.CreateOwnedSchemaAsync(testClass, suffix);
        await using var store = LedgerStore.Create(postgres.OwnerConnectionString, schema);
        await new EditLedger(store).MigrateAsync(postgres.AppRole);
        await AddPeopleAsync(postgres, schema);
        return schema;
    }

    /// <summary>The password of every test person's account.</summary>
    public const string Password = "a long passphrase 1";

    /// <summary>Accounts for the people behind the development keys (same names and roles), made as the owner role.</summary>
    public static async Task AddPeopleAsync(PostgresFixture postgres, string schema)
    {
        var people = LiveEdit.Inference.Auth.People.PeopleStore.Open(postgres.OwnerConnectionString, schema);
        await people.AddAsync("alice", "Alice Archer", [Roles.Proposer], Password);
        await people.AddAsync("bob", "Bob Baker", [Roles.Approver], Password);
        await people.AddAsync("carol", "Carol Clark", [Roles.Auditor], Password);
        await people.AddAsync("dana", "Dana Diaz", [Roles.Admin], Password);
    }

    /// <summary>Settings of a host on the schema: four-eyes approval, workers in process, the development keys as hashes, its own key folder.</summary>
    public static Dictionary<string, string?> Settings(PostgresFixture postgres, string schema, string keysFolder, string policy = "FourEyes")
    {
        var settings = new Dictionary<string, string?>
        {
            ["ConnectionStrings:Ledger"] = postgres.AppConnectionString,
            ["Ledger:Schema"] = schema,
            ["Ledger:ApprovalPolicy"] = policy,
            ["Transport:Kind"] = "InMemory",
            ["Workers:InProcess"] = "true",
            ["Workers:Reconciler:Every"] = "00:00:01",
            ["Workers:Reconciler:PendingAfter"] = "00:00:05",
            ["DataProtection:KeysFolder"] = keysFolder,
        };
        var keys = DevelopmentKeys.All;
        for (var i = 0; i < keys.Count; i++)
        {
            settings[$"Auth:Keys:{i}:User"] = keys[i].User;
            settings[$"Auth:Keys:{i}:Roles:0"] = keys[i].Role;
            settings[$"Auth:Keys:{i}:Sha256"] = ApiKeyOptions.Hash(keys[i].Secret);
        }
        return settings;
    }

    public static async Task<UiHost> StartAsync(IDictionary<string, string?> settings, Action<WebApplicationBuilder>? configure = null)
    {
        var app = InferenceApp.Build(["--urls", "http://127.0.0.1:0"], b =>
        {
            b.Configuration["Logging:LogLevel:Default"] = "Warning";
            b.Configuration["Ledger:ChainKey"] = TestChainKey.Base64;
            foreach (var (key, value) in settings) b.Configuration[key] = value;
            configure?.Invoke(b);
        });
        await InferenceApp.PrepareAsync(app);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var host = new UiHost(app, new Uri(address));
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!host.Server.IsWarm)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("the head model is not warm after 60 s");
            await Task.Delay(20);
        }
        return host;
    }

    /// <summary>A client of the HTTP API with a key.</summary>
    public HttpClient Api(string? key)
    {
        var client = new HttpClient { BaseAddress = Address, Timeout = TimeSpan.FromMinutes(2) };
        if (key is not null) client.DefaultRequestHeaders.Add("X-Api-Key", key);
        return client;
    }

    /// <summary>A client that keeps cookies and does not follow redirects: what a browser sends, one request at a time.</summary>
    public (HttpClient Client, CookieContainer Cookies) Browserless()
    {
        var cookies = new CookieContainer();
        var handler = new HttpClientHandler { CookieContainer = cookies, AllowAutoRedirect = false };
        return (new HttpClient(handler) { BaseAddress = Address, Timeout = TimeSpan.FromMinutes(2) }, cookies);
    }

    /// <summary>The antiforgery token of the first form on a page.</summary>
    public static string FormToken(string html) =>
        TokenPattern().Match(html) is { Success: true } m ? m.Groups[1].Value : throw new InvalidOperationException("the page has no antiforgery token");

    [GeneratedRegex("name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"")]
    private static partial Regex TokenPattern();

    /// <summary>Signs in with an API key through the sign-in form; the cookie lands in the client's container.</summary>
    public static async Task SignInAsync(HttpClient client, string key)
    {
        var page = await client.GetStringAsync("/ui/sign-in");
        using var response = await client.PostAsync("/ui/sign-in?handler=Key", new FormUrlEncodedContent(
            [new("apiKey", key), new("__RequestVerificationToken", FormToken(page))]));
        ((int)response.StatusCode).ShouldBe(302, await response.Content.ReadAsStringAsync());
    }

    /// <summary>Proposes an edit over the API; returns its id.</summary>
    public async Task<Guid> ProposeAsync(EditCase c, string key, string? prompt = null, string rationale = "a correction")
    {
        using var client = Api(key);
        using var form = new MultipartFormDataContent();
        form.Add(new ByteArrayContent(c.Edit.Image!.ToPng()) { Headers = { ContentType = new MediaTypeHeaderValue("image/png") } }, "image", "image.png");
        form.Add(new StringContent(prompt ?? c.Edit.Prompt), "prompt");
        form.Add(new StringContent(c.NewTarget), "target");
        form.Add(new StringContent(rationale), "rationale");
        using var response = await client.PostAsync("/edits", form);
        var body = await response.Content.ReadAsStringAsync();
        ((int)response.StatusCode).ShouldBe(202, body);
        return JsonNode.Parse(body)!["editId"]!.GetValue<Guid>();
    }

    /// <summary>Waits until the edit has the status, reading the ledger.</summary>
    public async Task WaitForStatusAsync(Guid id, string status, TimeSpan patience)
    {
        var deadline = DateTime.UtcNow + patience;
        while (true)
        {
            var summary = await Ledger.GetEditAsync(id);
            if (string.Equals(summary.Status.ToString(), status, StringComparison.OrdinalIgnoreCase)) return;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"edit {id} is {summary.Status} after {patience.TotalSeconds:0} s, expected {status}");
            await Task.Delay(100);
        }
    }

    /// <summary>SynthWorld edit cases (evaluation split, fixed seed).</summary>
    public static IReadOnlyList<EditCase> Cases(int count, int seed = 11) =>
        new SynthWorld(WorldConfig.Default).EditCases(EditSplit.EditorEval, count, seed);

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
