using LiveEdit.Inference.Auth.People;
using LiveEdit.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Shouldly;
using Xunit;

namespace LiveEdit.System.Tests;

/// <summary><c>liveedit users …</c> as a process, as the owner role: the password from standard input, clear refusals naming the field.</summary>
[Collection(SystemCollection.Name)]
public sealed class managing_people_from_the_cli(PostgresFixture postgres) : SchemaPerClass(postgres)
{
    private Task<CliResult> UsersAsync(string? stdin, params string[] args) =>
        CliProcess.RunAsync(["users", .. args, "--schema", Schema], new Dictionary<string, string?>
        {
            ["ConnectionStrings__LedgerOwner"] = Postgres.OwnerConnectionString,
            ["COLUMNS"] = "250",
        }, standardInput: stdin);

    private PeopleDirectory Directory() => new(PeopleStore.Open(Postgres.AppConnectionString, Schema), Options.Create(new PeopleOptions()), TimeProvider.System,
        NullLogger<PeopleDirectory>.Instance);

    [Fact]
    public async Task an_account_is_added_listed_given_a_new_password_disabled_and_enabled_again()
    {
        var added = await UsersAsync("first passphrase!\n", "add", "--user", "qm.jones", "--name", "Jo Jones", "--role", "approver", "--role", "auditor", "--password-stdin");
        added.ExitCode.ShouldBe(0, added.ToString());
        added.Out.ShouldContain("added qm.jones (Jo Jones) with roles approver, auditor");
        added.Out.ShouldNotContain("first passphrase");
        (await Directory().VerifyAsync("QM.Jones", "first passphrase!")).ShouldNotBeNull().Roles.ShouldBe(new HashSet<string> { "approver", "auditor" }, ignoreOrder: true);

        var listed = await UsersAsync(null, "list");
        listed.ExitCode.ShouldBe(0, listed.ToString());
        listed.Out.ShouldContain("qm.jones");
        listed.Out.ShouldContain("Jo Jones");
        listed.Out.ShouldContain("enabled");

        (await UsersAsync("second passphrase\n", "set-password", "--user", "qm.jones", "--password-stdin")).ExitCode.ShouldBe(0);
        (await Directory().VerifyAsync("qm.jones", "first passphrase!")).ShouldBeNull();
        (await Directory().VerifyAsync("qm.jones", "second passphrase")).ShouldNotBeNull();

        (await UsersAsync(null, "disable", "--user", "QM.JONES")).ExitCode.ShouldBe(0);
        (await Directory().VerifyAsync("qm.jones", "second passphrase")).ShouldBeNull();
        (await UsersAsync(null, "list")).Out.ShouldContain("disabled");

        (await UsersAsync(null, "enable", "--user", "qm.jones")).ExitCode.ShouldBe(0);
        (await Directory().VerifyAsync("qm.jones", "second passphrase")).ShouldNotBeNull();
    }

    [Fact]
    public async Task bad_values_are_refused_with_the_field_named_and_nothing_is_added()
    {
        var shortPassword = await UsersAsync("too short\n", "add", "--user", "pat", "--name", "Pat", "--role", "approver", "--password-stdin");
        shortPassword.ExitCode.ShouldBe(2, shortPassword.ToString());
        shortPassword.Error.ShouldContain("liveedit users add: password: must be at least 12 characters");

        var noStdin = await UsersAsync(null, "add", "--user", "pat", "--name", "Pat", "--role", "approver");
        noStdin.ExitCode.ShouldBe(2, noStdin.ToString());
        noStdin.Error.ShouldContain("password: give it on standard input with --password-stdin");

        var badRole = await UsersAsync("long enough passphrase\n", "add", "--user", "pat", "--name", "Pat", "--role", "root", "--password-stdin");
        badRole.ExitCode.ShouldBe(2, badRole.ToString());
        badRole.Error.ShouldContain("role: 'root' is not a role");

        var unknown = await UsersAsync(null, "disable", "--user", "nobody");
        unknown.ExitCode.ShouldBe(2, unknown.ToString());
        unknown.Error.ShouldContain("user: no account 'nobody'");

        (await Directory().FindAsync("pat")).ShouldBeNull();
        foreach (var result in new[] { shortPassword, noStdin, badRole, unknown }) result.Error.ShouldNotContain("   at ");
    }

    [Fact]
    public async Task without_the_owner_connection_it_says_which_setting_is_missing()
    {
        var result = await CliProcess.RunAsync(["users", "list", "--schema", Schema], new Dictionary<string, string?> { ["ConnectionStrings__LedgerOwner"] = null });
        result.ExitCode.ShouldBe(2, result.ToString());
        result.Error.ShouldContain("ConnectionStrings__LedgerOwner is not set");
    }
}
