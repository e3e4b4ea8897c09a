using LiveEdit.Inference.Errors;
using Microsoft.AspNetCore.Authentication;

namespace LiveEdit.Inference.Auth;

/// <summary>API-key authentication and the role policies.</summary>
public static class AuthExtensions
{
    public static IServiceCollection AddApiKeyAuth(this IServiceCollection services, IConfiguration configuration, bool development)
    {
        var options = ApiKeyOptions.Load(configuration, development);
        if (options.IsDevelopmentSet)
        {
            Console.Error.WriteLine(
                "WARNING: no API keys are configured; the DEVELOPMENT keys (dev-proposer-key, dev-approver-key, dev-auditor-key, dev-admin-key) " +
                "are accepted because this is a Development run. Never expose this host.");
        }
        services.AddSingleton(Microsoft.Extensions.Options.Options.Create(options));
        services.AddSingleton<FailedAuthenticationLimiter>();
        services.AddSingleton<WarmUpKey>();
        services.AddAuthentication(ApiKeyAuthentication.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthentication>(ApiKeyAuthentication.SchemeName, null);
        services.AddAuthorizationBuilder()
            .AddPolicy(Policies.Read, p => p.RequireRole(Roles.Proposer, Roles.Approver, Roles.Auditor, Roles.Admin))
            .AddPolicy(Policies.Query, p => p.RequireRole(Roles.Proposer, Roles.Approver, Roles.Auditor, Roles.Admin, Roles.WarmUp))
            .AddPolicy(Policies.ReadAll, p => p.RequireRole(Roles.Approver, Roles.Auditor, Roles.Admin))
            .AddPolicy(Policies.Propose, p => p.RequireRole(Roles.Proposer, Roles.Admin))
            .AddPolicy(Policies.Approve, p => p.RequireRole(Roles.Approver, Roles.Admin))
            .AddPolicy(Policies.Retract, p => p.RequireRole(Roles.Admin))
            .AddPolicy(Policies.Audit, p => p.RequireRole(Roles.Auditor, Roles.Admin))
            .AddPolicy(Policies.SetRoutingPolicy, p => p.RequireRole(Roles.Admin));
        return services;
    }

    /// <summary>Answers 429 to a client that presents a key after using up its failed authentications.</summary>
    public static IApplicationBuilder UseFailedAuthenticationLimit(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        if (context.Request.Headers.ContainsKey(ApiKeyAuthentication.Header)
            && context.RequestServices.GetRequiredService<FailedAuthenticationLimiter>().IsBlocked(FailedAuthenticationLimiter.ClientOf(context)))
        {
            throw new RequestInputException("too_many_failed_authentications",
                "too many failed authentications from this address; wait a second", StatusCodes.Status429TooManyRequests,
                headers: new Dictionary<string, string> { ["Retry-After"] = "1" });
        }
        await next(context);
    });

    /// <summary>The ledger name of the caller: an API key's user, or a signed-in person's user name (the name claim of any of its identities).</summary>
    public static string Actor(this HttpContext context) =>
        context.User.Identity?.Name
        ?? context.User.Identities.Select(i => i.Name).FirstOrDefault(n => !string.IsNullOrWhiteSpace(n))
        ?? context.User.FindFirst(System.Security.Claims.ClaimTypes.Name)?.Value
        ?? throw new InvalidOperationException("endpoint reached without an authenticated caller");

    /// <summary>Whether the caller is a person (signed in with a password), not a machine holding an API key.</summary>
    public static bool IsPerson(this HttpContext context) =>
        context.User.Identities.Any(i => i.IsAuthenticated) && !context.User.Identities.Any(i => i.IsAuthenticated && i.AuthenticationType == ApiKeyAuthentication.SchemeName);

    /// <summary>Whether the caller may read every edit (not only their own).</summary>
    public static bool ReadsAll(this HttpContext context) =>
        context.User.IsInRole(Roles.Approver) || context.User.IsInRole(Roles.Auditor) || context.User.IsInRole(Roles.Admin);
}
