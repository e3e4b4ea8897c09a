using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace LiveEdit.Inference.Auth;

/// <summary>One configured API key: who holds it, in which roles, and the SHA-256 of its secret (never the secret).</summary>
public sealed class ApiKey
{
    /// <summary>Lower-case hex SHA-256 of the UTF-8 secret sent in <c>X-Api-Key</c> (<c>liveedit auth hash-key</c> prints it).</summary>
    public string Sha256 { get; set; } = "";

    /// <summary>A raw secret: refused at start-up (configure <see cref="Sha256"/> instead).</summary>
    public string? Key { get; set; }

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

    /// <summary>
    /// A JSON file holding the whole key set (<c>[{"user": …, "roles": […], "sha256": …}, …]</c>). When set, it replaces
    /// <c>Auth:Keys</c> entirely: configuration arrays merge by index, so overriding a single entry of <c>Auth:Keys</c>
    /// would leave every other entry live.
    /// </summary>
    public string? KeysFile { get; set; }

    /// <summary>Failed authentications a client address may make in a burst before it gets 429.</summary>
    public int FailureBurst { get; set; } = 10;

    /// <summary>Failed authentications a client address earns back per second.</summary>
    public int FailuresPerSecond { get; set; } = 5;

    /// <summary>Whether the key set is the built-in development set (only in the Development environment).</summary>
    public bool IsDevelopmentSet { get; private set; }

    /// <summary>SHA-256 of the empty string: the hash of a key made from an unset variable, refused at start.</summary>
    public const string EmptyKeyHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    /// <summary>SHA-256 of a secret as lower-case hex, the form <see cref="ApiKey.Sha256"/> takes.</summary>
    public static string Hash(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    /// <summary>
    /// Reads the key set: <c>Auth:KeysFile</c> when set (the whole set), otherwise <c>Auth:Keys</c>; with neither, the
    /// development keys in the Development environment, and otherwise a refusal to start.
    /// </summary>
    public static ApiKeyOptions Load(IConfiguration configuration, bool development)
    {
        var options = configuration.GetSection(Section).Get<ApiKeyOptions>() ?? new ApiKeyOptions();
        if (!string.IsNullOrWhiteSpace(options.KeysFile)) options.Keys = ReadKeysFile(options.KeysFile);
        if (options.Keys.Count == 0)
        {
            if (!development)
                throw new InvalidOperationException(
                    "No API keys are configured, so no request could be authenticated. Set Auth:KeysFile to a JSON file of keys " +
                    "([{\"user\": \"…\", \"roles\": [\"proposer\"], \"sha256\": \"…\"}]) or Auth:Keys:N:User/Roles/Sha256; " +
                    "`liveedit auth hash-key` prints a key's SHA-256. The development keys exist only in the Development environment.");
            options.Keys = DevelopmentKeys.All.Select(k => new ApiKey { User = k.User, Roles = [k.Role], Sha256 = Hash(k.Secret) }).ToList();
            options.IsDevelopmentSet = true;
        }
        options.Validate();
        return options;
    }

    private static List<ApiKey> ReadKeysFile(string path)
    {
        if (!File.Exists(path)) throw new InvalidOperationException($"Auth:KeysFile: '{path}' does not exist.");
        try
        {
            var json = File.ReadAllText(path);
            var web = new JsonSerializerOptions(JsonSerializerDefaults.Web);
            using var document = JsonDocument.Parse(json);
            var keys = document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("keys", out var inner)
                ? inner.Deserialize<List<ApiKey>>(web)
                : document.RootElement.Deserialize<List<ApiKey>>(web);
            return keys ?? [];
        }
        catch (JsonException e)
        {
            throw new InvalidOperationException($"Auth:KeysFile: '{path}' is not a JSON array of keys (line {e.LineNumber + 1}).");
        }
    }

    /// <summary>Throws with a clear message when a key is raw, not a SHA-256, the hash of the empty string, duplicated, nameless or has an unknown role.</summary>
    public void Validate()
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var key in Keys)
        {
            if (string.IsNullOrWhiteSpace(key.User)) throw new InvalidOperationException("Auth:Keys: every key needs a User.");
            if (!string.IsNullOrEmpty(key.Key))
                throw new InvalidOperationException($"Auth:Keys: user '{key.User}' has a raw Key; configure its SHA-256 as Sha256 instead (`liveedit auth hash-key`).");
            var hash = key.Sha256.Trim().ToLowerInvariant();
            if (hash.Length != 64 || !hash.All(Uri.IsHexDigit))
                throw new InvalidOperationException($"Auth:Keys: user '{key.User}' needs Sha256, the 64 hex digits of the key's SHA-256 (`liveedit auth hash-key`).");
            if (hash == EmptyKeyHash)
                throw new InvalidOperationException(
                    $"Auth:Keys: the Sha256 of user '{key.User}' is the SHA-256 of the empty string (e3b0c442…b855), so the key it was made from " +
                    "was empty (an unset variable?). Hash the real key with `liveedit auth hash-key`; an empty X-Api-Key never authenticates.");
            key.Sha256 = hash;
            if (!seen.Add(hash)) throw new InvalidOperationException($"Auth:Keys: the key of user '{key.User}' is used twice.");
            if (key.Roles.Count == 0) throw new InvalidOperationException($"Auth:Keys: user '{key.User}' has no role.");
            foreach (var role in key.Roles)
            {
                if (!Auth.Roles.All.Contains(role))
                    throw new InvalidOperationException($"Auth:Keys: user '{key.User}' has unknown role '{role}' (known: {string.Join(", ", Auth.Roles.All)}).");
            }
        }
        if (FailureBurst < 1 || FailuresPerSecond < 1) throw new InvalidOperationException("Auth:FailureBurst and Auth:FailuresPerSecond must be at least 1.");
    }
}

/// <summary>The keys of a development run on one machine; never accepted outside the Development environment.</summary>
public static class DevelopmentKeys
{
    public const string Proposer = "dev-proposer-key", Approver = "dev-approver-key", Auditor = "dev-auditor-key", Admin = "dev-admin-key";

    /// <summary>Secret, user and role of each development key.</summary>
    public static readonly IReadOnlyList<(string Secret, string User, string Role)> All =
    [
        (Proposer, "alice", Roles.Proposer),
        (Approver, "bob", Roles.Approver),
        (Auditor, "carol", Roles.Auditor),
        (Admin, "dana", Roles.Admin),
    ];
}
