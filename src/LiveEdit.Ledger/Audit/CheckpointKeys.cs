using System.Security.Cryptography;
using System.Text;

namespace LiveEdit.Ledger.Audit;

/// <summary>
/// The private key that signs checkpoints: ECDSA over NIST P-256, read from a PKCS#8 PEM file or an
/// environment variable holding the PEM text. It never goes into PostgreSQL, so a database owner who
/// rewrites the ledger cannot sign a checkpoint for the rewritten chain.
/// </summary>
public sealed class CheckpointSigner : IDisposable
{
    /// <summary>Environment variable the command line and the hosts read the private key's PEM text from.</summary>
    public const string EnvironmentVariable = "LIVEEDIT_CHECKPOINT_KEY";

    private readonly ECDsa _key;

    private CheckpointSigner(ECDsa key)
    {
        _key = key;
        KeyId = CheckpointKeys.KeyIdOf(key);
    }

    /// <summary>SHA-256 (hex) of the public key's SubjectPublicKeyInfo: names the key in every checkpoint.</summary>
    public string KeyId { get; }

    /// <summary>The matching public key as SPKI PEM (<c>-----BEGIN PUBLIC KEY-----</c>).</summary>
    public string PublicKeyPem => _key.ExportSubjectPublicKeyInfoPem();

    /// <summary>A signer from PKCS#8 PEM text; <paramref name="source"/> names where it came from in messages.</summary>
    /// <exception cref="CheckpointKeyException">Not an unencrypted PKCS#8 P-256 private key.</exception>
    public static CheckpointSigner FromPem(string pem, string source)
    {
        var der = CheckpointKeys.ReadPem(pem, "PRIVATE KEY", source, "a PKCS#8 private key (-----BEGIN PRIVATE KEY-----)");
        var key = ECDsa.Create();
        try
        {
            key.ImportPkcs8PrivateKey(der, out _);
        }
        catch (CryptographicException)
        {
            key.Dispose();
            throw new CheckpointKeyException($"{source} is not an ECDSA P-256 private key");
        }
        CheckpointKeys.RequireP256(key, source);
        return new CheckpointSigner(key);
    }

    /// <summary>A signer from a PKCS#8 PEM file.</summary>
    /// <exception cref="CheckpointKeyException">The file is missing, unreadable or not a P-256 private key.</exception>
    public static CheckpointSigner FromPemFile(string path) => FromPem(CheckpointKeys.ReadKeyFile(path, "private key file"), $"private key file '{path}'");

    /// <summary>A signer from the PEM text in <paramref name="variable"/>.</summary>
    /// <exception cref="CheckpointKeyException">The variable is unset or not a P-256 private key.</exception>
    public static CheckpointSigner FromEnvironment(string variable = EnvironmentVariable)
    {
        var pem = Environment.GetEnvironmentVariable(variable);
        if (string.IsNullOrWhiteSpace(pem)) throw new CheckpointKeyException($"environment variable {variable} is not set");
        return FromPem(pem, $"environment variable {variable}");
    }

    /// <summary>Signs <paramref name="data"/>: ECDSA P-256, SHA-256, IEEE P1363 (r‖s, 64 bytes), base64.</summary>
    public string Sign(ReadOnlySpan<byte> data) =>
        Convert.ToBase64String(_key.SignData(data, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation));

    /// <summary>Signs a checkpoint of the given chain entry, stamped <paramref name="time"/>.</summary>
    public LedgerCheckpoint Sign(string schema, long sequence, string chainHash, long eventsChained, DateTimeOffset time)
    {
        var bytes = LedgerCheckpoint.CanonicalBytes(schema, sequence, chainHash, eventsChained, time, KeyId);
        return new LedgerCheckpoint(schema, sequence, chainHash, eventsChained, new DateTimeOffset(time.UtcDateTime, TimeSpan.Zero), KeyId, Sign(bytes));
    }

    /// <inheritdoc/>
    public void Dispose() => _key.Dispose();
}

/// <summary>The public key that checks checkpoints: SPKI PEM (<c>-----BEGIN PUBLIC KEY-----</c>) of a P-256 key.</summary>
public sealed class CheckpointPublicKey : IDisposable
{
    private readonly ECDsa _key;

    private CheckpointPublicKey(ECDsa key)
    {
        _key = key;
        KeyId = CheckpointKeys.KeyIdOf(key);
    }

    /// <summary>SHA-256 (hex) of the key's SubjectPublicKeyInfo.</summary>
    public string KeyId { get; }

    /// <summary>A public key from SPKI PEM text; a private key is refused (give verifiers the public half only).</summary>
    /// <exception cref="CheckpointKeyException">Not a P-256 public key.</exception>
    public static CheckpointPublicKey FromPem(string pem, string source)
    {
        var der = CheckpointKeys.ReadPem(pem, "PUBLIC KEY", source, "a public key (-----BEGIN PUBLIC KEY-----)");
        var key = ECDsa.Create();
        try
        {
            key.ImportSubjectPublicKeyInfo(der, out _);
        }
        catch (CryptographicException)
        {
            key.Dispose();
            throw new CheckpointKeyException($"{source} is not an ECDSA P-256 public key");
        }
        CheckpointKeys.RequireP256(key, source);
        return new CheckpointPublicKey(key);
    }

    /// <summary>A public key from an SPKI PEM file.</summary>
    /// <exception cref="CheckpointKeyException">The file is missing, unreadable or not a P-256 public key.</exception>
    public static CheckpointPublicKey FromPemFile(string path) => FromPem(CheckpointKeys.ReadKeyFile(path, "public key file"), $"public key file '{path}'");

    /// <summary>True when <paramref name="signatureBase64"/> is this key's signature of <paramref name="data"/>.</summary>
    public bool Verify(ReadOnlySpan<byte> data, string signatureBase64)
    {
        Span<byte> signature = stackalloc byte[64];
        if (!Convert.TryFromBase64String(signatureBase64, signature, out var length) || length != 64) return false;
        return _key.VerifyData(data, signature, HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
    }

    /// <summary>True when <paramref name="checkpoint"/> names this key and carries its valid signature.</summary>
    public bool Verify(LedgerCheckpoint checkpoint) =>
        checkpoint.KeyId == KeyId && Verify(checkpoint.CanonicalBytes(), checkpoint.Signature);

    /// <inheritdoc/>
    public void Dispose() => _key.Dispose();
}

/// <summary>Making and reading checkpoint keys.</summary>
public static class CheckpointKeys
{
    private const string P256Oid = "1.2.840.10045.3.1.7";
    private const int MaxKeyFileBytes = 64 * 1024;

    /// <summary>A new P-256 key pair as PEM text: PKCS#8 private key, SPKI public key.</summary>
    public static (string PrivatePem, string PublicPem) Generate()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        return (key.ExportPkcs8PrivateKeyPem(), key.ExportSubjectPublicKeyInfoPem());
    }

    /// <summary>
    /// Writes a new key pair: the private key readable by its owner only (mode 0600 on Unix), the public key
    /// world-readable. Never overwrites: if either file exists, nothing is written.
    /// </summary>
    /// <returns>The new key's id.</returns>
    /// <exception cref="CheckpointKeyException">A file exists, or a folder is missing or not writable.</exception>
    public static string GenerateFiles(string privatePath, string publicPath)
    {
        if (Path.GetFullPath(privatePath) == Path.GetFullPath(publicPath))
            throw new CheckpointKeyException("the private and public key files must differ");
        foreach (var path in new[] { privatePath, publicPath })
        {
            if (File.Exists(path) || Directory.Exists(path)) throw new CheckpointKeyException($"'{path}' already exists; refusing to overwrite a key");
            var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
            if (!Directory.Exists(folder)) throw new CheckpointKeyException($"folder '{folder}' does not exist");
        }
        var (privatePem, publicPem) = Generate();
        Write(privatePath, privatePem, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        try
        {
            Write(publicPath, publicPem, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        }
        catch (CheckpointKeyException)
        {
            File.Delete(privatePath);
            throw;
        }
        using var signer = CheckpointSigner.FromPem(privatePem, "the new key");
        return signer.KeyId;
    }

    private static void Write(string path, string text, UnixFileMode mode)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = mode;
        try
        {
            using var stream = new FileStream(path, options);
            stream.Write(Encoding.ASCII.GetBytes(text));
            stream.Flush(flushToDisk: true);
        }
        catch (IOException) when (File.Exists(path))
        {
            throw new CheckpointKeyException($"'{path}' already exists; refusing to overwrite a key");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointKeyException($"cannot write '{path}': {e.Message}");
        }
    }

    internal static string KeyIdOf(ECDsa key) => Sha256Hex.Of(key.ExportSubjectPublicKeyInfo());

    internal static void RequireP256(ECDsa key, string source)
    {
        if (key.ExportParameters(false).Curve.Oid?.Value != P256Oid)
        {
            key.Dispose();
            throw new CheckpointKeyException($"{source} is not on curve P-256");
        }
    }

    internal static byte[] ReadPem(string pem, string label, string source, string what)
    {
        if (!PemEncoding.TryFind(pem, out var fields))
            throw new CheckpointKeyException($"{source} holds no PEM block; expected {what}");
        var found = pem[fields.Label];
        if (found != label) throw new CheckpointKeyException($"{source} holds a '{found}' block; expected {what}");
        return Convert.FromBase64String(pem[fields.Base64Data]);
    }

    internal static string ReadKeyFile(string path, string what)
    {
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists) throw new CheckpointKeyException($"{what} '{path}' does not exist");
            if (info.Length > MaxKeyFileBytes) throw new CheckpointKeyException($"{what} '{path}' is {info.Length} bytes; a key is under {MaxKeyFileBytes}");
            return File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointKeyException($"cannot read {what} '{path}': {e.Message}");
        }
    }
}

/// <summary>A checkpoint key that cannot be used: missing, unreadable, of the wrong kind, or a file in the way.</summary>
public sealed class CheckpointKeyException(string message) : Exception(message);
