using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;

namespace LiveEdit.Inference.Auth;

/// <summary>
/// The credential of the host's own warm-up request over HTTP: a 256-bit random key made in memory for one request,
/// never written anywhere, accepted once by <see cref="ApiKeyAuthentication"/> and dropped on that use (or when the
/// warm-up gives up). Its caller holds only <see cref="Roles.WarmUp"/>, which no configured key can hold and which
/// authorises <c>POST /query</c> at the head and nothing else.
/// </summary>
public sealed class WarmUpKey
{
    private byte[]? _sha256;

    /// <summary>Makes a fresh key, replacing any earlier one that was not used; returns it (for the one request that presents it).</summary>
    public string Issue()
    {
        var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        Volatile.Write(ref _sha256, SHA256.HashData(Encoding.UTF8.GetBytes(key)));
        return key;
    }

    /// <summary>Drops the key not yet used, if any: from now on it is refused like any unknown key.</summary>
    public void Revoke() => Volatile.Write(ref _sha256, null);

    /// <summary>
    /// True when <paramref name="presentedSha256"/> is the SHA-256 of the key issued last and not yet used; that key is
    /// then dropped, so it authenticates one request only.
    /// </summary>
    public bool TryAccept(byte[] presentedSha256)
    {
        var expected = Volatile.Read(ref _sha256);
        if (expected is null || !CryptographicOperations.FixedTimeEquals(presentedSha256, expected)) return false;
        // Only the caller that swaps the live key out wins: two requests racing with the same key get one success.
        return ReferenceEquals(Interlocked.CompareExchange(ref _sha256, null, expected), expected);
    }

    /// <summary>The caller a warm-up key authenticates as.</summary>
    public static ClaimsPrincipal Principal(string scheme) => ApiKeyAuthentication.Principal(Endpoints.QueryPathWarmUp.WarmUpCaller, [Roles.WarmUp], scheme);
}
