using System.Security.Cryptography;

namespace LiveEdit.Testing;

/// <summary>
/// One random ledger chain key per test run, given to every host and worker a test starts (in-process through
/// configuration, as a process through <c>Ledger__ChainKey</c>), so that they sign and check the same chain and
/// no test leans on the public development key.
/// </summary>
public static class TestChainKey
{
    /// <summary>The key as base64, the form <c>Ledger:ChainKey</c> takes.</summary>
    public static string Base64 { get; } = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
}
