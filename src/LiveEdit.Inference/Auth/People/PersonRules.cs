using System.Text.RegularExpressions;

namespace LiveEdit.Inference.Auth.People;

/// <summary>What a person's user name, display name, roles and password must be; each refusal names its field.</summary>
public static partial class PersonRules
{
    /// <summary>Shortest password accepted.</summary>
    public const int MinPasswordLength = 12;

    /// <summary>Longest password accepted (hashing is deliberately slow; a huge one would be a cheap way to load the host).</summary>
    public const int MaxPasswordLength = 1_024;

    /// <summary>Longest user name.</summary>
    public const int MaxUserNameLength = 64;

    /// <summary>Longest display name.</summary>
    public const int MaxDisplayNameLength = 200;

    /// <summary>The user name, trimmed; throws naming <c>user</c> unless it is 1 to 64 letters, digits, '.', '_', '-' or '@', starting with a letter or digit.</summary>
    public static string UserName(string? value)
    {
        var name = value?.Trim() ?? "";
        if (name.Length == 0) throw new PersonInputException("user", "must not be empty.");
        if (name.Length > MaxUserNameLength) throw new PersonInputException("user", $"must be at most {MaxUserNameLength} characters, got {name.Length}.");
        if (!UserNamePattern().IsMatch(name))
            throw new PersonInputException("user", "may hold only letters, digits, '.', '_', '-' and '@', and must start with a letter or digit.");
        return name;
    }

    /// <summary>The display name, trimmed; throws naming <c>name</c> when empty, too long or holding control characters.</summary>
    public static string DisplayName(string? value)
    {
        var name = value?.Trim() ?? "";
        if (name.Length == 0) throw new PersonInputException("name", "must not be empty.");
        if (name.Length > MaxDisplayNameLength) throw new PersonInputException("name", $"must be at most {MaxDisplayNameLength} characters, got {name.Length}.");
        if (name.Any(char.IsControl)) throw new PersonInputException("name", "must not hold control characters.");
        return name;
    }

    /// <summary>The roles, distinct and in a stable order; throws naming <c>role</c> when none is given or one is unknown.</summary>
    public static IReadOnlyList<string> RoleList(IEnumerable<string>? values)
    {
        var roles = (values ?? []).Select(r => r.Trim().ToLowerInvariant()).Where(r => r.Length > 0).Distinct(StringComparer.Ordinal).ToList();
        if (roles.Count == 0) throw new PersonInputException("role", $"give at least one (known: {string.Join(", ", Auth.Roles.All)}).");
        foreach (var role in roles)
        {
            if (!Auth.Roles.All.Contains(role))
                throw new PersonInputException("role", $"'{(role.Length > 40 ? role[..40] + "…" : role)}' is not a role (known: {string.Join(", ", Auth.Roles.All)}).");
        }
        roles.Sort(StringComparer.Ordinal);
        return roles;
    }

    /// <summary>Throws naming <c>password</c> unless it has 12 to 1,024 characters and is not blank.</summary>
    public static string Password(string? value)
    {
        if (value is null || value.Length < MinPasswordLength)
            throw new PersonInputException("password", $"must be at least {MinPasswordLength} characters, got {value?.Length ?? 0}.");
        if (value.Length > MaxPasswordLength) throw new PersonInputException("password", $"must be at most {MaxPasswordLength} characters, got {value.Length}.");
        if (string.IsNullOrWhiteSpace(value)) throw new PersonInputException("password", "must not be only spaces.");
        return value;
    }

    [GeneratedRegex(@"^[\p{L}\p{Nd}][\p{L}\p{Nd}._@-]*$")]
    private static partial Regex UserNamePattern();
}
