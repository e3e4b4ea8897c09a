using Microsoft.AspNetCore.Authentication;

namespace LiveEdit.Inference.Auth;

/// <summary>API-key authentication and the role policies.</summary>
public static class AuthExtensions
{
    public static IServiceCollection AddApiKeyAuth(this IServiceCollection services, IConfiguration configuration)
    {
        var options = configuration.GetSection(ApiKeyOptions.Section).Get<ApiKeyOptions>() ?? new ApiKeyOptions();
        options.Validate();
        services.AddSingleton(Microsoft.Extensions.Options.Options.Create(options));
        services.AddAuthentication(ApiKeyAuthentication.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthentication>(ApiKeyAuthentication.SchemeName, null);
        services.AddAuthorizationBuilder()
            .AddPolicy(Policies.Read, p => p.RequireRole(Roles.Proposer, Roles.Approver, Roles.Auditor, Roles.Admin))
            .AddPolicy(Policies.Propose, p => p.RequireRole(Roles.Proposer, Roles.Admin))
            .AddPolicy(Policies.Approve, p => p.RequireRole(Roles.Approver, Roles.Admin))
            .AddPolicy(Policies.Retract, p => p.RequireRole(Roles.Admin))
            .AddPolicy(Policies.Audit, p => p.RequireRole(Roles.Auditor, Roles.Admin));
        return services;
    }

    /// <summary>The ledger name of the caller.</summary>
    public static string Actor(this HttpContext context) =>
        context.User.Identity?.Name ?? throw new InvalidOperationException("endpoint reached without an authenticated caller");
}
