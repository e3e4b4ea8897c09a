namespace LiveEdit.Inference.Auth.People;

/// <summary>A person's account as stored (without its password hash): what <c>liveedit users list</c> shows.</summary>
/// <param name="FailedAttempts">Failures counted since the last success or lockout.</param>
/// <param name="LockedUntil">When a lockout ends; null when the account was never locked or a success cleared it.</param>
public sealed record PersonAccount(
    string UserName,
    string DisplayName,
    IReadOnlyList<string> Roles,
    bool Disabled,
    int FailedAttempts,
    DateTimeOffset? LockedUntil,
    DateTimeOffset CreatedAt,
    DateTimeOffset ChangedAt)
{
    /// <summary>The person this account identifies.</summary>
    public Person ToPerson() => new(UserName, DisplayName, new HashSet<string>(Roles, StringComparer.Ordinal));

    /// <summary>Whether the account is locked out at <paramref name="now"/>.</summary>
    public bool IsLockedAt(DateTimeOffset now) => LockedUntil is { } until && until > now;
}
