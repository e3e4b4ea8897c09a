using LiveEdit.Inference.Auth.People;
using LiveEdit.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using Shouldly;
using Xunit;

namespace LiveEdit.System.Tests;

/// <summary>
/// People's accounts in the ledger database: managed as the owner role, read by the hosts as the application role, which
/// may count failures but never add a person, grant a role or set a password. Passwords are stored as PBKDF2 hashes;
/// unknown, disabled, locked and wrong answers look the same, and five failures lock an account for fifteen minutes.
/// </summary>
[Collection(SystemCollection.Name)]
public sealed class keeping_accounts_for_people(PostgresFixture postgres) : SchemaPerClass(postgres)
{
    private const string Password = "correct horse battery", Wrong = "incorrect horse battery";

    private sealed class Clock(DateTimeOffset start) : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = start;
        public override DateTimeOffset GetUtcNow() => Now;
    }

    private readonly Clock _clock = new(DateTimeOffset.UtcNow);

    private PeopleStore Owner() => PeopleStore.Open(Postgres.OwnerConnectionString, Schema, _clock);

    /// <summary>The directory as a host holds it: connected as the application role.</summary>
    private PeopleDirectory AsHost() => new(PeopleStore.Open(Postgres.AppConnectionString, Schema, _clock), Options.Create(new PeopleOptions()), _clock,
        NullLogger<PeopleDirectory>.Instance);

    private async Task<string> AddAsync(string roles = "approver")
    {
        var user = $"U{Guid.NewGuid():N}"[..12];
        await Owner().AddAsync(user, "Una User", roles.Split(','), Password);
        return user;
    }

    private async Task<T> ScalarAsync<T>(string sql, params (string Name, object Value)[] parameters)
    {
        await using var connection = new NpgsqlConnection(Postgres.OwnerConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql.Replace("{schema}", Schema), connection);
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value);
        return (T)(await command.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task a_person_is_verified_by_password_with_the_user_name_in_any_case()
    {
        var user = await AddAsync("approver,admin");

        var person = (await AsHost().VerifyAsync(user.ToLowerInvariant(), Password)).ShouldNotBeNull();

        person.UserName.ShouldBe(user);
        person.DisplayName.ShouldBe("Una User");
        person.Roles.ShouldBe(new HashSet<string> { "admin", "approver" }, ignoreOrder: true);
        (await AsHost().FindAsync(user.ToUpperInvariant())).ShouldNotBeNull().UserName.ShouldBe(user);
    }

    [Fact]
    public async Task the_password_is_stored_only_as_a_salted_pbkdf2_hash()
    {
        var first = await AddAsync();
        var second = await AddAsync();
        var hashes = new List<string>();
        foreach (var user in new[] { first, second })
            hashes.Add(await ScalarAsync<string>("select password_hash from {schema}.ledger_people where user_name = @u", ("u", user)));

        hashes.ShouldAllBe(h => !h.Contains(Password) && Convert.FromBase64String(h)[0] == 0x01); // Identity's v3 format: PBKDF2 with a salt
        hashes[0].ShouldNotBe(hashes[1], "the same password gets a salt of its own per account");
    }

    [Fact]
    public async Task unknown_disabled_and_wrong_password_all_answer_nothing_and_each_known_one_counts_a_failure()
    {
        var wrong = await AddAsync();
        var disabled = await AddAsync();
        await Owner().SetDisabledAsync(disabled, true);

        (await AsHost().VerifyAsync("nobody-at-all", Password)).ShouldBeNull();
        (await AsHost().VerifyAsync(wrong, Wrong)).ShouldBeNull();
        (await AsHost().VerifyAsync(disabled, Password)).ShouldBeNull();
        (await AsHost().VerifyAsync(wrong, "")).ShouldBeNull();

        (await Owner().FindAsync(wrong))!.FailedAttempts.ShouldBe(2);
        (await Owner().FindAsync(disabled))!.FailedAttempts.ShouldBe(1);
    }

    [Fact]
    public async Task five_failures_lock_the_account_for_fifteen_minutes_even_against_the_right_password()
    {
        var user = await AddAsync();
        for (var i = 0; i < 5; i++) (await AsHost().VerifyAsync(user, Wrong)).ShouldBeNull();

        (await Owner().FindAsync(user))!.IsLockedAt(_clock.Now).ShouldBeTrue();
        (await AsHost().VerifyAsync(user, Password)).ShouldBeNull();

        _clock.Now += TimeSpan.FromMinutes(16);
        (await AsHost().VerifyAsync(user, Password)).ShouldNotBeNull();
        var account = (await Owner().FindAsync(user))!;
        (account.FailedAttempts, account.LockedUntil).ShouldBe((0, (DateTimeOffset?)null));
    }

    [Fact]
    public async Task a_new_password_replaces_the_old_one_and_clears_the_lockout()
    {
        var user = await AddAsync();
        for (var i = 0; i < 5; i++) await AsHost().VerifyAsync(user, Wrong);

        (await Owner().SetPasswordAsync(user, "a brand new passphrase")).ShouldBeTrue();

        (await AsHost().VerifyAsync(user, Password)).ShouldBeNull();
        (await AsHost().VerifyAsync(user, "a brand new passphrase")).ShouldNotBeNull();
    }

    [Fact]
    public async Task user_names_are_unique_without_regard_to_case()
    {
        var user = await AddAsync();
        var refused = await Should.ThrowAsync<PersonInputException>(() => Owner().AddAsync(user.ToLowerInvariant(), "Someone Else", ["admin"], Password));
        refused.Field.ShouldBe("user");
        refused.Message.ShouldContain("taken");
    }

    [Theory]
    [InlineData("", "Name", "approver", "long enough pass", "user")]
    [InlineData("has space", "Name", "approver", "long enough pass", "user")]
    [InlineData("ok", " ", "approver", "long enough pass", "name")]
    [InlineData("ok", "Name\u001b[2J", "approver", "long enough pass", "name")]
    [InlineData("ok", "Name", "superuser", "long enough pass", "role")]
    [InlineData("ok", "Name", "", "long enough pass", "role")]
    [InlineData("ok", "Name", "approver", "short", "password")]
    [InlineData("ok", "Name", "approver", "eleven char", "password")]
    public async Task bad_account_values_are_refused_naming_the_field_and_nothing_is_stored(string user, string name, string roles, string password, string field)
    {
        var before = await ScalarAsync<long>("select count(*) from {schema}.ledger_people");
        var refused = await Should.ThrowAsync<PersonInputException>(() => Owner().AddAsync(user, name, roles.Split(',', StringSplitOptions.RemoveEmptyEntries), password));
        refused.Field.ShouldBe(field);
        refused.Message.ShouldStartWith(field + ":");
        (await ScalarAsync<long>("select count(*) from {schema}.ledger_people")).ShouldBe(before);
    }

    [Theory]
    [InlineData("insert into {schema}.ledger_people (user_name, display_name, roles, password_hash, created_at, changed_at) values ('mallory', 'M', '{admin}', 'x', now(), now())")]
    [InlineData("update {schema}.ledger_people set roles = '{admin}'")]
    [InlineData("update {schema}.ledger_people set password_hash = 'x'")]
    [InlineData("update {schema}.ledger_people set disabled = false")]
    [InlineData("delete from {schema}.ledger_people")]
    public async Task the_application_role_cannot_add_a_person_grant_a_role_or_set_a_password(string sql)
    {
        await AddAsync();
        await using var connection = new NpgsqlConnection(Postgres.AppConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql.Replace("{schema}", Schema), connection);
        (await Should.ThrowAsync<PostgresException>(() => command.ExecuteNonQueryAsync())).SqlState.ShouldBe(PostgresErrorCodes.InsufficientPrivilege);
    }
}
