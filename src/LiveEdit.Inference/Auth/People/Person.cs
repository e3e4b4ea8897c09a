namespace LiveEdit.Inference.Auth.People;

/// <summary>A person who signs in and signs: the unique user name, the printed name and the roles (<see cref="Auth.Roles"/>).</summary>
public sealed record Person(string UserName, string DisplayName, IReadOnlySet<string> Roles);

/// <summary>The accounts of people (API keys stay for machines).</summary>
public interface IPeopleDirectory
{
    /// <summary>
    /// The person when <paramref name="userName"/> (any case) and <paramref name="password"/> identify an enabled account that is
    /// not locked out; null when the user is unknown, disabled, locked or the password is wrong (all look the same to a caller;
    /// each counts a failure toward the account's lockout).
    /// </summary>
    Task<Person?> VerifyAsync(string userName, string password, CancellationToken ct = default);

    /// <summary>The person with this user name (any case), enabled or not; null when unknown.</summary>
    Task<Person?> FindAsync(string userName, CancellationToken ct = default);
}
