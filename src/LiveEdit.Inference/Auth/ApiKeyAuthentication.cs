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
        if (warmUp.TryAccept(presented))
            return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(WarmUpKey.Principal(SchemeName), SchemeName)));
        foreach (var key in keys.Value.Keys)
        {
            // Constant-time comparison of hashes: the time taken says nothing about which key came close.
            if (!CryptographicOperations.FixedTimeEquals(presented, Convert.FromHexString(key.Sha256))) continue;
            var claims = new List<Claim> { new(ClaimTypes.Name, key.User) };
            claims.AddRange(key.Roles.Select(r => new Claim(ClaimTypes.Role, r)));
            var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName));
            return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName)));
        }
        var client = FailedAuthenticationLimiter.ClientOf(Context);
        failures.RecordFailure(client);
        _failures.LogWarning("Authentication failed: unknown API key from {Client}", client);
        return Task.FromResult(AuthenticateResult.Fail("unknown API key"));
    }
}
