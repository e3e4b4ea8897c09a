using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace LiveEdit.Inference.Auth;

/// <summary>Authenticates the <c>X-Api-Key</c> header against the SHA-256 hashes of <see cref="ApiKeyOptions"/>.</summary>
public sealed class ApiKeyAuthentication(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    IOptions<ApiKeyOptions> keys,
    FailedAuthenticationLimiter failures,
    WarmUpKey warmUp) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string Header = "X-Api-Key";

    private readonly ILogger _failures = logger.CreateLogger("LiveEdit.Inference.Auth.FailedAuthentication");

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (!Request.Headers.TryGetValue(Header, out var values) || values.Count == 0)
            return Task.FromResult(AuthenticateResult.NoResult());
        // An empty or blank key is no key: it never authenticates (even against a configured hash of the empty
        // string) and, like a missing header, gets 401 without counting against the client's failure budget.
        if (string.IsNullOrWhiteSpace(values[0])) return Task.FromResult(AuthenticateResult.NoResult());
        var presented = SHA256.HashData(Encoding.UTF8.GetBytes(values[0] ?? ""));
        // Every configured key is compared, whichever matches (and for the host's warm-up key too, so that its request runs
        // the code a client's does): constant-time comparisons of hashes, so the time taken says nothing about which key came close.
        ApiKey? match = null;
        foreach (var key in keys.Value.Keys)
        {
            if (CryptographicOperations.FixedTimeEquals(presented, Convert.FromHexString(key.Sha256))) match ??= key;
        }
        if (warmUp.TryAccept(presented))
            return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(WarmUpKey.Principal(SchemeName), SchemeName)));
        if (match is not null)
            return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(Principal(match.User, match.Roles, SchemeName), SchemeName)));
        var client = FailedAuthenticationLimiter.ClientOf(Context);
        failures.RecordFailure(client);
        _failures.LogWarning("Authentication failed: unknown API key from {Client}", client);
        return Task.FromResult(AuthenticateResult.Fail("unknown API key"));
    }

    /// <summary>The caller an accepted key authenticates as: its user's name and its roles.</summary>
    internal static ClaimsPrincipal Principal(string user, IEnumerable<string> roles, string scheme)
    {
        var claims = new List<Claim> { new(ClaimTypes.Name, user) };
        claims.AddRange(roles.Select(r => new Claim(ClaimTypes.Role, r)));
        return new ClaimsPrincipal(new ClaimsIdentity(claims, scheme));
    }
}
