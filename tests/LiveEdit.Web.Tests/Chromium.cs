using Microsoft.Playwright;

namespace LiveEdit.Web.Tests;

/// <summary>
/// Debian's chromium, driven headless by Playwright through <c>ExecutablePath</c> (Playwright's own browser download is
/// never used). A missing browser fails the test with what to install; it is never a skip.
/// </summary>
public static class Chromium
{
    /// <summary>Where the browser is looked for: <c>LIVEEDIT_CHROMIUM</c>, else Debian's path.</summary>
    public static string Path => Environment.GetEnvironmentVariable("LIVEEDIT_CHROMIUM") is { Length: > 0 } path ? path : "/usr/bin/chromium";

    /// <summary>Starts Playwright and the browser.</summary>
    public static async Task<(IPlaywright Playwright, IBrowser Browser)> LaunchAsync()
    {
        if (!File.Exists(Path))
            throw new InvalidOperationException(
                $"the browser tests need Debian's chromium at {Path}, and it is not there: run `infra/services up --for-tests` (it installs it), " +
                "or `apt-get install chromium`, or set LIVEEDIT_CHROMIUM to a Chromium binary.");
        var playwright = await Playwright.CreateAsync();
        var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Path,
            Headless = true,
            // As root (CI containers) Chromium's sandbox cannot start; the pages it loads are this test's own.
            Args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        });
        return (playwright, browser);
    }

    /// <summary>Saves a full-page screenshot under <c>TestResults/screenshots/</c> of the repository; returns its path.</summary>
    public static async Task<string> ScreenshotAsync(IPage page, string name)
    {
        var folder = System.IO.Path.Combine(LiveEdit.Testing.RepositoryRoot.Path, "TestResults", "screenshots");
        Directory.CreateDirectory(folder);
        var file = System.IO.Path.Combine(folder, name + ".png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = file, FullPage = true });
        return file;
    }
}
