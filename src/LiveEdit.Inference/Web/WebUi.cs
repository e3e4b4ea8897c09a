using System.Security.Claims;
using LiveEdit.Inference.Auth;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authentication.Cookies;
using Microsoft.AspNetCore.DataProtection;

namespace LiveEdit.Inference.Web;

/// <summary>
/// The auditor's web UI under <c>/ui</c> (docs/web-ui.md): Razor Pages, a sign-in cookie of its own, antiforgery on
/// every form and Data Protection keys kept in a folder, so a restart signs no one out.
/// </summary>
public static class WebUi
{
    /// <summary>The UI's cookie authentication scheme; the HTTP API never accepts it.</summary>
    public const string CookieScheme = "LiveEdit.Ui";

    /// <summary>The default scheme: the cookie under <c>/ui</c>, the API key everywhere else.</summary>
    public const string SelectorScheme = "LiveEdit.ApiKeyOrUi";

    /// <summary>Where the UI lives.</summary>
    public const string PathBase = "/ui";

    /// <summary>Name of the sign-in cookie.</summary>
    public const string CookieName = "liveedit-ui";

    /// <summary>Name of the antiforgery cookie.</summary>
    public const string AntiforgeryCookieName = "liveedit-ui-af";

    /// <summary>Claim holding the SHA-256 of the API key a cookie was issued for (checked on every request).</summary>
    public const string KeyClaim = "liveedit:key-sha256";

    /// <summary>Claim saying how the person signed in (<c>api-key</c> or <c>password</c>).</summary>
    public const string MethodClaim = "liveedit:sign-in";

    /// <summary>Setting: the folder that keeps the Data Protection keys (the cookie's and antiforgery's encryption keys).</summary>
    public const string KeysFolderSetting = "DataProtection:KeysFolder";

    /// <summary>Registers Razor Pages, the cookie scheme beside the API key, antiforgery and persisted Data Protection keys.</summary>
    public static IServiceCollection AddWebUi(this IServiceCollection services, IConfiguration configuration, IHostEnvironment environment)
    {
        // The pages live in this assembly, whichever program hosts it (the CLI, the tests).
        services.AddRazorPages(o => o.RootDirectory = "/Web/Pages").AddApplicationPart(typeof(WebUi).Assembly);
        services.AddAntiforgery(o =>
        {
            o.Cookie.Name = AntiforgeryCookieName;
            o.Cookie.HttpOnly = true;
            o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            o.Cookie.SameSite = SameSiteMode.Lax;
            o.Cookie.Path = PathBase;
            o.FormFieldName = "__RequestVerificationToken";
        });
        // The one-line notice after a decision travels in a cookie of its own, as narrow as the others.
        services.Configure<Microsoft.AspNetCore.Mvc.CookieTempDataProviderOptions>(o =>
        {
            o.Cookie.Name = "liveedit-ui-notice";
            o.Cookie.Path = PathBase;
            o.Cookie.HttpOnly = true;
            o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
            o.Cookie.SameSite = SameSiteMode.Lax;
        });
        var folder = KeysFolder(configuration);
        services.AddDataProtection().SetApplicationName("LiveEdit.Inference").PersistKeysToFileSystem(new DirectoryInfo(folder));
        services.AddSingleton(new WebUiSettings(folder));
        services.AddSingleton<TimelineReader>();

        // Later than AddApiKeyAuth's AddAuthentication("ApiKey"): this default wins, and forwards by path.
        services.AddAuthentication(o => o.DefaultScheme = SelectorScheme)
            .AddPolicyScheme(SelectorScheme, "API key, or the UI's cookie under /ui", o => o.ForwardDefaultSelector = context =>
                context.Request.Path.StartsWithSegments(PathBase) ? CookieScheme : ApiKeyAuthentication.SchemeName)
            .AddCookie(CookieScheme, o =>
            {
                o.Cookie.Name = CookieName;
                o.Cookie.HttpOnly = true;
                o.Cookie.SecurePolicy = CookieSecurePolicy.SameAsRequest;
                // Lax: every change is a POST with an antiforgery token, and Lax never sends the cookie with a cross-site
                // POST, frame or fetch; a plain link to an edit's page (from mail, a ticket) still opens signed in.
                o.Cookie.SameSite = SameSiteMode.Lax;
                o.Cookie.Path = PathBase;
                o.LoginPath = PathBase + "/sign-in";
                o.LogoutPath = PathBase + "/sign-out";
                o.AccessDeniedPath = PathBase + "/denied";
                o.ExpireTimeSpan = TimeSpan.FromHours(configuration.GetValue("Ui:SignInHours", 8.0));
                o.SlidingExpiration = true;
                o.Events.OnValidatePrincipal = ValidatePrincipalAsync;
            });
        return services;
    }

    /// <summary>The UI's pages, its image and style endpoints, and its security headers.</summary>
    public static void MapWebUi(this WebApplication app)
    {
        app.UseWhen(c => c.Request.Path.StartsWithSegments(PathBase), branch => branch.Use(async (context, next) =>
        {
            var headers = context.Response.Headers;
            // No script at all, styles and images from the host only, never framed.
            headers.ContentSecurityPolicy = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
            headers.XFrameOptions = "DENY";
            headers.XContentTypeOptions = "nosniff";
            headers["Referrer-Policy"] = "same-origin";
            // Pages are per person and carry antiforgery tokens: never cached. Set as antiforgery wants them, or it rewrites
            // them and logs a warning on every page.
            headers.CacheControl = "no-cache, no-store";
            headers.Pragma = "no-cache";
            await next(context);
        }));
        app.MapGet(PathBase + "/site.css", () => Results.Text(SiteCss.Text, "text/css; charset=utf-8")).AllowAnonymous().ExcludeFromDescription();
        app.MapGet(PathBase, () => Results.Redirect(PathBase + "/home")).AllowAnonymous().ExcludeFromDescription();
        app.MapUiEndpoints();
        app.MapRazorPages();
    }

    /// <summary>The Data Protection key folder: <c>DataProtection:KeysFolder</c>, else the user's local data folder; created readable by its owner only.</summary>
    public static string KeysFolder(IConfiguration configuration)
    {
        var folder = configuration[KeysFolderSetting];
        if (string.IsNullOrWhiteSpace(folder))
        {
            var data = Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData);
            if (string.IsNullOrEmpty(data))
                throw new InvalidOperationException($"{KeysFolderSetting} is not set and this user has no local data folder (HOME): set it to a folder kept across restarts.");
            folder = Path.Combine(data, "liveedit", "data-protection");
        }
        folder = Path.GetFullPath(folder);
        if (OperatingSystem.IsWindows()) Directory.CreateDirectory(folder);
        else Directory.CreateDirectory(folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return folder;
    }

    /// <summary>A principal for a person signed in with an API key: the key's name and roles.</summary>
    public static ClaimsPrincipal PrincipalForKey(ApiKey key)
    {
        var claims = new List<Claim> { new(ClaimTypes.Name, key.User), new(KeyClaim, key.Sha256), new(MethodClaim, "api-key") };
        claims.AddRange(key.Roles.Select(r => new Claim(ClaimTypes.Role, r)));
        return new ClaimsPrincipal(new ClaimsIdentity(claims, CookieScheme, ClaimTypes.Name, ClaimTypes.Role));
    }

    /// <summary>Claim holding a person's printed name.</summary>
    public const string DisplayNameClaim = "liveedit:display-name";

    /// <summary>A principal for a person signed in with user name and password: the account's user name and roles.</summary>
    public static ClaimsPrincipal PrincipalForPerson(LiveEdit.Inference.Auth.People.Person person)
    {
        var claims = new List<Claim> { new(ClaimTypes.Name, person.UserName), new(MethodClaim, "password"), new(DisplayNameClaim, person.DisplayName) };
        claims.AddRange(person.Roles.Order(StringComparer.Ordinal).Select(r => new Claim(ClaimTypes.Role, r)));
        return new ClaimsPrincipal(new ClaimsIdentity(claims, CookieScheme, ClaimTypes.Name, ClaimTypes.Role));
    }

    // A cookie lasts only while what it was issued for still holds: the API key is configured with the same name and
    // roles, or the person's account is enabled with the same roles.
    private static async Task ValidatePrincipalAsync(CookieValidatePrincipalContext context)
    {
        var principal = context.Principal;
        if (principal?.FindFirst(MethodClaim)?.Value == "password")
        {
            var store = context.HttpContext.RequestServices.GetRequiredService<LiveEdit.Inference.Auth.People.PeopleStore>();
            var account = await store.FindAsync(principal.Identity?.Name ?? "", context.HttpContext.RequestAborted);
            var held = principal.FindAll(ClaimTypes.Role).Select(c => c.Value).Order(StringComparer.Ordinal);
            if (account is null || account.Disabled || account.UserName != principal.Identity?.Name
                || !held.SequenceEqual(account.Roles.Order(StringComparer.Ordinal)))
            {
                context.RejectPrincipal();
                await context.HttpContext.SignOutAsync(CookieScheme);
            }
            return;
        }
        if (principal?.FindFirst(KeyClaim)?.Value is not { } sha) return;
        var keys = context.HttpContext.RequestServices.GetRequiredService<Microsoft.Extensions.Options.IOptions<ApiKeyOptions>>().Value.Keys;
        var key = keys.FirstOrDefault(k => k.Sha256 == sha);
        var roles = principal.FindAll(ClaimTypes.Role).Select(c => c.Value).Order(StringComparer.Ordinal);
        if (key is null || key.User != principal.Identity?.Name || !roles.SequenceEqual(key.Roles.Order(StringComparer.Ordinal)))
        {
            context.RejectPrincipal();
            await context.HttpContext.SignOutAsync(CookieScheme);
        }
    }
}

/// <summary>What the UI was configured with.</summary>
/// <param name="KeysFolder">Where the Data Protection keys are kept.</param>
public sealed record WebUiSettings(string KeysFolder);
