using Microsoft.Extensions.Options;

namespace LiveEdit.Inference.Auth.People;

/// <summary>
/// <see cref="IPeopleDirectory"/> over <see cref="PeopleStore"/>: verifies passwords, counts failures and locks accounts
/// (<see cref="PeopleOptions"/>). Unknown, disabled, locked and wrong-password answers are the same null, and each costs
/// one password hash, so neither the answer nor its time tells which it was.
/// </summary>
public sealed class PeopleDirectory(PeopleStore store, IOptions<PeopleOptions> options, TimeProvider clock, ILogger<PeopleDirectory> log) : IPeopleDirectory
{
    // A hash no password is known for: an unknown user costs the same work as a known one.
    private static readonly Lazy<string> NobodysHash = new(() => PeopleStore.HashPassword(Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32))));

    /// <inheritdoc />
    public async Task<Person?> VerifyAsync(string userName, string password, CancellationToken ct = default)
    {
        var found = await store.FindWithHashAsync(userName ?? "", ct);
        if (found is not { } account)
        {
            PeopleStore.PasswordMatches(NobodysHash.Value, password ?? "");
            log.LogWarning("Sign-in failed: no such user");
            return null;
        }
        var matches = password is { Length: > 0 and <= PersonRules.MaxPasswordLength } && PeopleStore.PasswordMatches(account.PasswordHash, password);
        var locked = account.Account.IsLockedAt(clock.GetUtcNow());
        if (!matches || account.Account.Disabled || locked)
        {
            var o = options.Value;
            await store.RecordFailureAsync(account.Account.UserName, o.MaxFailedAttempts, TimeSpan.FromMinutes(o.LockoutMinutes), ct);
            log.LogWarning("Sign-in failed for {User} ({Why})", account.Account.UserName,
                account.Account.Disabled ? "disabled" : locked ? "locked" : "wrong password");
            return null;
        }
        if (account.Account.FailedAttempts != 0 || account.Account.LockedUntil is not null) await store.RecordSuccessAsync(account.Account.UserName, ct);
        return account.Account.ToPerson();
    }

    /// <inheritdoc />
    public async Task<Person?> FindAsync(string userName, CancellationToken ct = default) =>
        (await store.FindAsync(userName ?? "", ct))?.ToPerson();
}
