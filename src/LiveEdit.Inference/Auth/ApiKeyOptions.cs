namespace LiveEdit.Inference.Auth;

/// <summary>One configured API key: who holds it and in which roles.</summary>
public sealed class ApiKey
{
    /// <summary>The secret sent in the <c>X-Api-Key</c> header.</summary>
    public string Key { get; set; } = "";

    /// <summary>The name recorded in the ledger for actions taken with this key.</summary>
    public string User { get; set; } = "";

    /// <summary>Roles from <see cref="Roles"/>.</summary>
    public List<string> Roles { get; set; } = [];
}

/// <summary>Configuration section <c>Auth</c>.</summary>
public sealed class ApiKeyOptions
{
    public const string Section = "Auth";

    /// <summary>All accepted keys.</summary>
    public List<ApiKey> Keys { get; set; } = [];

    /// <summary>Throws with a clear message when a key is empty, duplicated, nameless or has an unknown role.</summary>
    public void Validate()
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var key in Keys)
        {
            if (string.IsNullOrWhiteSpace(key.Key) || key.Key.Length < 8) throw new InvalidOperationException("Auth:Keys: every key needs a secret of at least 8 characters.");
            if (!seen.Add(key.Key)) throw new InvalidOperationException($"Auth:Keys: the key of user '{key.User}' is used twice.");
            if (string.IsNullOrWhiteSpace(key.User)) throw new InvalidOperationException("Auth:Keys: every key needs a User.");
            if (key.Roles.Count == 0) throw new InvalidOperationException($"Auth:Keys: user '{key.User}' has no role.");
            foreach (var role in key.Roles)
            {
                if (!Auth.Roles.All.Contains(role))
                    throw new InvalidOperationException($"Auth:Keys: user '{key.User}' has unknown role '{role}' (known: {string.Join(", ", Auth.Roles.All)}).");
            }
        }
    }
}
