using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Configuration;

namespace LiveEdit.Ledger;

/// <summary>
/// The secret key of the chain's MACs (<see cref="LedgerOptions.ChainKey"/>). It must never live in PostgreSQL:
/// whoever holds it can forge chain entries. Configured as <c>Ledger:ChainKey</c> (base64) or
/// <c>Ledger:ChainKeyFile</c> (a file holding the base64), at least <see cref="MinimumBytes"/> bytes.
/// </summary>
public static class LedgerChainKey
{
    /// <summary>Shortest accepted key, in bytes.</summary>
    public const int MinimumBytes = 32;

    /// <summary>Configuration key of the base64 chain key (environment: <c>Ledger__ChainKey</c>).</summary>
    public const string KeySetting = "Ledger:ChainKey";

    /// <summary>Configuration key of a file holding the base64 chain key (environment: <c>Ledger__ChainKeyFile</c>).</summary>
    public const string FileSetting = "Ledger:ChainKeyFile";

    /// <summary>
    /// The fixed, public development key: SHA-256 of <c>"liveedit development chain key: public, never for production"</c>.
    /// Used only in an explicitly development run without a configured key; it protects nothing.
    /// </summary>
    public static byte[] Development => SHA256.HashData(Encoding.UTF8.GetBytes("liveedit development chain key: public, never for production"));

    /// <summary>A fresh random key (tests, throw-away ledgers).</summary>
    public static byte[] NewRandom() => RandomNumberGenerator.GetBytes(MinimumBytes);

    /// <summary>
    /// Reads the key from <paramref name="configuration"/> (<see cref="KeySetting"/> wins over <see cref="FileSetting"/>).
    /// Without either: the <see cref="Development"/> key with <paramref name="warn"/> called when
    /// <paramref name="isDevelopment"/>, else <see cref="InvalidOperationException"/> saying what to set.
    /// </summary>
    /// <exception cref="InvalidOperationException">No key outside development, or a malformed or short key, or an unreadable file.</exception>
    public static byte[] FromConfiguration(IConfiguration configuration, bool isDevelopment, Action<string>? warn = null)
    {
        var text = configuration[KeySetting];
        var source = "Ledger:ChainKey (Ledger__ChainKey)";
        if (string.IsNullOrWhiteSpace(text) && configuration[FileSetting] is { Length: > 0 } file)
        {
            source = $"the chain key file {file} (Ledger:ChainKeyFile)";
            try
            {
                text = File.ReadAllText(file);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new InvalidOperationException($"Cannot read {source}: {e.Message}");
            }
        }
        if (string.IsNullOrWhiteSpace(text))
        {
            if (!isDevelopment)
                throw new InvalidOperationException(
                    "No ledger chain key: set Ledger__ChainKeyFile to a file holding a base64 key of at least 32 random bytes " +
                    "(infra/services prints one), or Ledger__ChainKey to the base64 itself. The key must not be stored in PostgreSQL. " +
                    "Only a Development run falls back to the public development key.");
            warn?.Invoke("No ledger chain key configured (Ledger__ChainKey / Ledger__ChainKeyFile): using the PUBLIC development chain key. " +
                         "Anyone can forge chain entries of this ledger. Never run like this outside development.");
            return Development;
        }
        return Parse(text.Trim(), source);
    }

    /// <summary>Decodes a base64 key of at least <see cref="MinimumBytes"/> bytes.</summary>
    /// <exception cref="InvalidOperationException">Not base64, or too short.</exception>
    public static byte[] Parse(string base64, string source = "the chain key")
    {
        byte[] key;
        try
        {
            key = Convert.FromBase64String(base64);
        }
        catch (FormatException)
        {
            throw new InvalidOperationException($"{source} is not base64.");
        }
        if (key.Length < MinimumBytes)
            throw new InvalidOperationException($"{source} holds {key.Length} bytes; at least {MinimumBytes} random bytes are needed.");
        return key;
    }
}
