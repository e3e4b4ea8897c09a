using System.Security.Cryptography;
using LiveEdit.Ledger.Errors;

namespace LiveEdit.Ledger;

/// <summary>SHA-256 as 64 lower-case hex characters, the form every hash takes in the ledger.</summary>
public static class Sha256Hex
{
    /// <summary>The hash of <paramref name="bytes"/>.</summary>
    public static string Of(ReadOnlySpan<byte> bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    /// <summary>True for 64 lower-case hex characters.</summary>
    public static bool IsValid(string? value) =>
        value is { Length: 64 } && value.All(c => c is >= '0' and <= '9' or >= 'a' and <= 'f');

    /// <summary>Throws <see cref="InvalidEditInputException"/> unless <paramref name="value"/> is a valid hash.</summary>
    public static void Require(string? value, string parameter)
    {
        if (!IsValid(value)) throw new InvalidEditInputException(parameter, "must be a SHA-256 as 64 lower-case hex characters.");
    }
}
