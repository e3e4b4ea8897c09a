using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using LiveEdit.Hosting.Serving;
using LiveEdit.Inference;
using LiveEdit.Inference.Auth;
using LiveEdit.Ledger;
using LiveEdit.Model.Images;
using LiveEdit.Research.World;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Shouldly;

namespace LiveEdit.Testing.Hosts;

/// <summary>The real inference host on a loopback port, configured for one test class, started in the test process.</summary>
public sealed class RunningHost : IAsyncDisposable
{
    /// <summary>The development keys (alice, bob, carol, dana), for hosts whose settings hold them.</summary>
    public const string ProposerKey = DevelopmentKeys.Proposer, ApproverKey = DevelopmentKeys.Approver, AuditorKey = DevelopmentKeys.Auditor, AdminKey = DevelopmentKeys.Admin;

    private RunningHost(WebApplication app, Uri address)
    {
        App = app;
        Address = address;
    }

    public WebApplication App { get; }
    public Uri Address { get; }
    public EditLedger Ledger => App.Services.GetRequiredService<EditLedger>();
    public EditedModelServer Server => App.Services.GetRequiredService<EditedModelServer>();
    public ModelRuntime Runtime => App.Services.GetRequiredService<ModelRuntime>();

    /// <summary>
    /// Builds, prepares and starts the host with the test chain key, warnings-only logs and <paramref name="settings"/>, and
    /// waits until its head model is warm.
    /// </summary>
    public static async Task<RunningHost> StartAsync(IDictionary<string, string?> settings, string urls = "http://127.0.0.1:0", string? environment = null,
        Action<WebApplicationBuilder>? configure = null)
    {
        string[] args = environment is null ? ["--urls", urls] : ["--urls", urls, "--environment", environment];
        var app = InferenceApp.Build(args, b =>
        {
            b.Configuration["Logging:LogLevel:Default"] = "Warning";
            b.Configuration["Ledger:ChainKey"] = TestChainKey.Base64;
            foreach (var (key, value) in settings) b.Configuration[key] = value;
            configure?.Invoke(b);
        });
        await InferenceApp.PrepareAsync(app);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var host = new RunningHost(app, new Uri(address));
        await host.WaitUntilWarmAsync(TimeSpan.FromSeconds(60));
        return host;
    }

    /// <summary>Waits until the head model is at the ledger's head and warmed up (what /health/ready waits for).</summary>
    public async Task WaitUntilWarmAsync(TimeSpan patience)
    {
        var deadline = DateTime.UtcNow + patience;
        var queryPath = App.Services.GetRequiredService<LiveEdit.Inference.Endpoints.QueryPathWarmUp>();
        while (!Server.IsWarm || !queryPath.Done)
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"the head model is not warm after {patience.TotalSeconds:0} s");
            await Task.Delay(20);
        }
    }

    /// <summary>A client of the HTTP API, with the key in <c>X-Api-Key</c> when one is given.</summary>
    public HttpClient Client(string? key)
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

    /// <summary>A multipart form with the image (as <c>image.png</c>) when given, and the text fields.</summary>
    public static MultipartFormDataContent Form(byte[]? image, params (string Name, string Value)[] fields)
    {
        var form = new MultipartFormDataContent();
        if (image is not null) form.Add(new ByteArrayContent(image) { Headers = { ContentType = new MediaTypeHeaderValue("image/png") } }, "image", "image.png");
        foreach (var (name, value) in fields) form.Add(new StringContent(value), name);
        return form;
    }

    /// <summary>Proposes an edit over HTTP (the case's prompt unless <paramref name="prompt"/> is given); returns its id.</summary>
    public async Task<Guid> ProposeAsync(EditCase c, string key = ProposerKey, string? prompt = null, string rationale = "test")
    {
        using var client = Client(key);
        using var response = await client.PostAsync("/edits", Form(c.Edit.Image!.ToPng(), ("prompt", prompt ?? c.Edit.Prompt), ("target", c.NewTarget), ("rationale", rationale)));
        var body = await response.Content.ReadAsStringAsync();
        ((int)response.StatusCode).ShouldBe(202, body);
        return JsonNode.Parse(body)!["editId"]!.GetValue<Guid>();
    }

    /// <summary>
    /// Asks over HTTP; returns the parsed response. At the head it reads your writes: it asks for at least the ledger's head
    /// as the test sees it now (<c>minVersion</c>), unless <paramref name="readYourWrites"/> is false (the answer is then
    /// whatever the host's head model is at).
    /// </summary>
    public async Task<JsonNode> QueryAsync(RgbImage? image, string prompt, string? asOf = null, bool readYourWrites = true)
    {
        using var client = Client(AuditorKey);
        var fields = new List<(string, string)> { ("prompt", prompt) };
        if (asOf is not null) fields.Add(("asOf", asOf));
        else if (readYourWrites) fields.Add(("minVersion", (await Ledger.GetHeadAsync()).ToString(System.Globalization.CultureInfo.InvariantCulture)));
        using var response = await client.PostAsync("/query", Form(image?.ToPng(), fields.ToArray()));
        var body = await response.Content.ReadAsStringAsync();
        ((int)response.StatusCode).ShouldBe(200, body);
        return JsonNode.Parse(body)!;
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

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
