using LiveEdit.Inference.Auth;
using Microsoft.AspNetCore.Authorization;

namespace LiveEdit.Inference.Web.Pages;

/// <summary>The pages this person's roles may use.</summary>
[Authorize(Policy = Policies.Read)]
public sealed class HomeModel : UiPage
{
    public void OnGet()
    {
    }
}
