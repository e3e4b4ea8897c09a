using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Mvc;

namespace LiveEdit.Inference.Web.Pages;

/// <summary>Sign-out: a POST (with its antiforgery token), so no other site can sign anyone out with a link.</summary>
[AllowAnonymous]
public sealed class SignOutModel : UiPage
{
    public IActionResult OnGet() => RedirectToPage("/Home");

    public async Task<IActionResult> OnPostAsync()
    {
        await HttpContext.SignOutAsync(WebUi.CookieScheme);
        return Page();
    }
}
