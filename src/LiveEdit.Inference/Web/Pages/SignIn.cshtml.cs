using System.Security.Cryptography;
using System.Text;
using LiveEdit.Inference.Auth;
using LiveEdit.Inference.Auth.People;
using LiveEdit.Inference.Errors;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace LiveEdit.Inference.Web.Pages;

/// <summary>
/// Sign-in: a person's user name and password (their account's roles), or an API key (its name and roles). Failures count
/// against the same per-address budget as the API's failed keys, and a person's against their account's lockout.
/// </summary>
[AllowAnonymous]
public sealed class SignInModel(IOptions<ApiKeyOptions> keys, IPeopleDirectory people, FailedAuthenticationLimiter failures, ILogger<SignInModel> log) : UiPage
{
    [BindProperty(SupportsGet = true)]
    public string? ReturnUrl { get; set; }

    /// <summary>The user name tried last, shown again after a failure (never the password).</summary>
    public string? UserName { get; private set; }

    public void OnGet()
    {
    }

    public async Task<IActionResult> OnPostKeyAsync(string? apiKey)
    {
        var client = FailedAuthenticationLimiter.ClientOf(HttpContext);
        ApiKey? match = null;
        var ok = await TryAsync(() =>
        {
            if (failures.IsBlocked(client))
                throw new RequestInputException("too_many_failed_authentications", "too many failed sign-ins from this address; wait a second", StatusCodes.Status429TooManyRequests);
            if (string.IsNullOrWhiteSpace(apiKey)) throw new RequestInputException("missing_field", "'apiKey' is required and must not be empty");
            var presented = SHA256.HashData(Encoding.UTF8.GetBytes(apiKey));
            foreach (var key in keys.Value.Keys)
                if (CryptographicOperations.FixedTimeEquals(presented, Convert.FromHexString(key.Sha256))) match = key;
            if (match is null)
            {
                failures.RecordFailure(client);
                log.LogWarning("UI sign-in failed: unknown API key from {Client}", client);
                throw new RequestInputException("unauthorized", "'apiKey': the host knows no such API key", StatusCodes.Status401Unauthorized);
            }
            return Task.CompletedTask;
        });
        if (!ok) return Page();
        await HttpContext.SignInAsync(WebUi.CookieScheme, WebUi.PrincipalForKey(match!));
        return LocalRedirect(SafeReturn(ReturnUrl));
    }

    public async Task<IActionResult> OnPostPasswordAsync(string? userName, string? password, CancellationToken ct)
    {
        var client = FailedAuthenticationLimiter.ClientOf(HttpContext);
        UserName = userName;
        Person? person = null;
        var ok = await TryAsync(async () =>
        {
            if (failures.IsBlocked(client))
                throw new RequestInputException("too_many_failed_authentications", "too many failed sign-ins from this address; wait a second", StatusCodes.Status429TooManyRequests);
            var name = Text("userName", userName?.Trim(), 200, required: true)!;
            if (string.IsNullOrEmpty(password)) throw new RequestInputException("missing_field", "'password' is required and must not be empty");
            person = await people.VerifyAsync(name, password, ct);
            if (person is null)
            {
                failures.RecordFailure(client);
                log.LogWarning("UI sign-in failed for user {User} from {Client}", name, client);
                throw new RequestInputException("unauthorized",
                    "'password': the user name and password do not identify an enabled account that is not locked out", StatusCodes.Status401Unauthorized);
            }
        });
        if (!ok) return Page();
        await HttpContext.SignInAsync(WebUi.CookieScheme, WebUi.PrincipalForPerson(person!));
        return LocalRedirect(SafeReturn(ReturnUrl));
    }

    /// <summary>Only a path of this UI: an open redirect to another site is never followed.</summary>
    public static string SafeReturn(string? url) =>
        !string.IsNullOrEmpty(url) && url.StartsWith(WebUi.PathBase + "/", StringComparison.Ordinal) && !url.StartsWith("//", StringComparison.Ordinal)
            && !url.Contains('\\') && Uri.IsWellFormedUriString(url, UriKind.Relative)
            ? url : WebUi.PathBase + "/home";
}
