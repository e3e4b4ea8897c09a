using Microsoft.AspNetCore.Authorization;

namespace LiveEdit.Inference.Web.Pages;

/// <summary>Where a role that may not see a page is sent: answered 403, not 200.</summary>
[AllowAnonymous]
public sealed class DeniedModel : UiPage
{
    public void OnGet() => Response.StatusCode = StatusCodes.Status403Forbidden;
}
