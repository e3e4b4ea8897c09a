using System.Text.RegularExpressions;
using LiveEdit.Inference.Auth;
using LiveEdit.Research.World;
using LiveEdit.Testing;
using LiveEdit.Testing.Hosts;
using Microsoft.AspNetCore.Builder;
using Shouldly;

namespace LiveEdit.Web.Tests;

/// <summary>What the web UI's tests set up around the shared <see cref="RunningHost"/>: a migrated schema with people, the host's settings, sign-in.</summary>
public static partial class Ui
{
    public const string ProposerKey = RunningHost.ProposerKey, ApproverKey = RunningHost.ApproverKey, AuditorKey = RunningHost.AuditorKey, AdminKey = RunningHost.AdminKey;

    /// <summary>Creates the class's schema as the owner role and migrates it; returns its name.</summary>
    public static async Task<string> MigrateAsync(PostgresFixture postgres, Type testClass, string suffix = "")
    {
        var schema = await HostSetup.MigrateAsync(postgres, testClass, suffix);
        await AddPeopleAsync(postgres, schema);
        return schema;
    }

    /// <summary>The password of every test person's account.</summary>
    public const string Password = "a long passphrase 1";

    /// <summary>Accounts for the people behind the development keys (same names and roles), made as the owner role.</summary>
    public static async Task AddPeopleAsync(PostgresFixture postgres, string schema)
    {
        var people = LiveEdit.Inference.Auth.People.PeopleStore.Open(postgres.OwnerConnectionString, schema);
        await people.AddAsync("alice", "Alice Archer", [Roles.Proposer], Password);
        await people.AddAsync("bob", "Bob Baker", [Roles.Approver], Password);
        await people.AddAsync("carol", "Carol Clark", [Roles.Auditor], Password);
        await people.AddAsync("dana", "Dana Diaz", [Roles.Admin], Password);
    }

    /// <summary>Settings of a host on the schema: four-eyes approval, workers in process, the development keys as hashes, its own key folder.</summary>
    public static Dictionary<string, string?> Settings(PostgresFixture postgres, string schema, string keysFolder, string policy = "FourEyes")
    {
        var settings = HostSetup.InMemory(postgres, schema, policy);
        settings["DataProtection:KeysFolder"] = keysFolder;
        return settings;
    }

    /// <summary>Starts the host (<see cref="RunningHost.StartAsync"/>) with the settings.</summary>
    public static Task<RunningHost> StartAsync(IDictionary<string, string?> settings, Action<WebApplicationBuilder>? configure = null) =>
        RunningHost.StartAsync(settings, configure: configure);

    /// <summary>The antiforgery token of the first form on a page.</summary>
    public static string FormToken(string html) =>
        TokenPattern().Match(html) is { Success: true } m ? m.Groups[1].Value : throw new InvalidOperationException("the page has no antiforgery token");

    [GeneratedRegex("name=\"__RequestVerificationToken\" type=\"hidden\" value=\"([^\"]+)\"")]
    private static partial Regex TokenPattern();

    /// <summary>Signs in with an API key through the sign-in form; the cookie lands in the client's container.</summary>
    public static async Task SignInAsync(HttpClient client, string key)
    {
        var page = await client.GetStringAsync("/ui/sign-in");
        using var response = await client.PostAsync("/ui/sign-in?handler=Key", new FormUrlEncodedContent(
            [new("apiKey", key), new("__RequestVerificationToken", FormToken(page))]));
        ((int)response.StatusCode).ShouldBe(302, await response.Content.ReadAsStringAsync());
    }

    /// <summary>SynthWorld edit cases (evaluation split, fixed seed).</summary>
    public static IReadOnlyList<EditCase> Cases(int count, int seed = 11) => HostSetup.Cases(count, seed);
}
