using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;

namespace LiveEdit.Model.Editor;

/// <summary>
/// One edit's expert (docs/method.md): low-rank factors U, V ∈ R^{r×d}, visual key φ̂ and text key ψ̂ ∈ R^{k×d_m},
/// with the SHA-256s of the base model and of the generator that made it. Immutable.
/// </summary>
/// <remarks>
/// Binary format, version 1, little-endian throughout:
/// <c>"LEXP"</c> (4 bytes) · version u16 = 1 · reserved u16 = 0 · d, r, k, d_m (i32 each) ·
/// base SHA-256 (32 raw bytes) · generator SHA-256 (32 raw bytes) ·
/// U (r·d float32, row-major) · V (r·d) · φ̂ (k·d_m) · ψ̂ (k·d_m).
/// <see cref="Sha256"/> is over exactly these bytes.
/// </remarks>
public sealed class Expert
{
    /// <summary>Magic bytes at the start of every expert.</summary>
    public static ReadOnlySpan<byte> Magic => "LEXP"u8;
    /// <summary>The format version written.</summary>
    public const ushort FormatVersion = 1;
    private const int HeaderBytes = 4 + 2 + 2 + 4 * 4 + 32 + 32;

    private readonly float[] u, v, visualKey, textKey;
    private byte[]? bytes;
    private string? sha;

    public Expert(int hiddenSize, int rank, int keyRows, int moduleDim,
        float[] u, float[] v, float[] visualKey, float[] textKey, string baseSha256, string generatorSha256)
    {
        if (u.Length != rank * hiddenSize || v.Length != rank * hiddenSize) throw new ArgumentException($"U and V must hold r·d = {rank * hiddenSize} values");
        if (visualKey.Length != keyRows * moduleDim || textKey.Length != keyRows * moduleDim) throw new ArgumentException($"keys must hold k·d_m = {keyRows * moduleDim} values");
        if (Convert.FromHexString(baseSha256).Length != 32 || Convert.FromHexString(generatorSha256).Length != 32) throw new ArgumentException("SHA-256s must be 64 hex digits");
        HiddenSize = hiddenSize; Rank = rank; KeyRows = keyRows; ModuleDim = moduleDim;
        this.u = u; this.v = v; this.visualKey = visualKey; this.textKey = textKey;
        BaseSha256 = baseSha256.ToLowerInvariant();
        GeneratorSha256 = generatorSha256.ToLowerInvariant();
    }

    public int HiddenSize { get; }
    public int Rank { get; }
    public int KeyRows { get; }
    public int ModuleDim { get; }
    /// <summary>U_e, row-major [r, d].</summary>
    public ReadOnlySpan<float> U => u;
    /// <summary>V_e, row-major [r, d].</summary>
    public ReadOnlySpan<float> V => v;
    /// <summary>φ̂_e, row-major [k, d_m].</summary>
    public ReadOnlySpan<float> VisualKey => visualKey;
    /// <summary>ψ̂_e, row-major [k, d_m].</summary>
    public ReadOnlySpan<float> TextKey => textKey;
    /// <summary>SHA-256 (hex) of the frozen base model that produced the edit signal.</summary>
    public string BaseSha256 { get; }
    /// <summary>SHA-256 (hex) of the editor weights that generated this expert.</summary>
    public string GeneratorSha256 { get; }

    /// <summary>
    /// The same expert stamped with another generator id: for re-generating, bit for bit, an expert recorded under an
    /// identity alias of the editor (<see cref="EditorModules.IdentityAliases"/>). Only the header changes.
    /// </summary>
    public Expert StampedFor(string generatorSha256) =>
        new(HiddenSize, Rank, KeyRows, ModuleDim, u, v, visualKey, textKey, BaseSha256, generatorSha256);

    /// <summary>SHA-256 (hex, lower case) over <see cref="ToBytes"/>.</summary>
    public string Sha256 => sha ??= Convert.ToHexStringLower(SHA256.HashData(ToBytesShared()));

    /// <summary>The version-1 binary form (a fresh copy).</summary>
    public byte[] ToBytes() => (byte[])ToBytesShared().Clone();

    private byte[] ToBytesShared()
    {
        if (bytes is not null) return bytes;
        var floats = u.Length + v.Length + visualKey.Length + textKey.Length;
        var buffer = new byte[HeaderBytes + floats * 4];
        var span = buffer.AsSpan();
        Magic.CopyTo(span);
        BinaryPrimitives.WriteUInt16LittleEndian(span[4..], FormatVersion);
        BinaryPrimitives.WriteUInt16LittleEndian(span[6..], 0);
        BinaryPrimitives.WriteInt32LittleEndian(span[8..], HiddenSize);
        BinaryPrimitives.WriteInt32LittleEndian(span[12..], Rank);
        BinaryPrimitives.WriteInt32LittleEndian(span[16..], KeyRows);
        BinaryPrimitives.WriteInt32LittleEndian(span[20..], ModuleDim);
        Convert.FromHexString(BaseSha256).CopyTo(span[24..]);
        Convert.FromHexString(GeneratorSha256).CopyTo(span[56..]);
        var offset = HeaderBytes;
        foreach (var block in new[] { u, v, visualKey, textKey })
            foreach (var x in block)
            {
                BinaryPrimitives.WriteSingleLittleEndian(span[offset..], x);
                offset += 4;
            }
        return bytes = buffer;
    }

    /// <summary>Reads the binary form; throws <see cref="InvalidDataException"/> on a bad magic, version or length.</summary>
    public static Expert FromBytes(ReadOnlySpan<byte> data)
    {
        if (data.Length < HeaderBytes || !data[..4].SequenceEqual(Magic)) throw new InvalidDataException("not a LiveEdit expert (bad magic)");
        var version = BinaryPrimitives.ReadUInt16LittleEndian(data[4..]);
        if (version != FormatVersion) throw new InvalidDataException($"expert format version {version} is not supported (expected {FormatVersion})");
        var d = BinaryPrimitives.ReadInt32LittleEndian(data[8..]);
        var r = BinaryPrimitives.ReadInt32LittleEndian(data[12..]);
        var k = BinaryPrimitives.ReadInt32LittleEndian(data[16..]);
        var dm = BinaryPrimitives.ReadInt32LittleEndian(data[20..]);
        if (d <= 0 || r <= 0 || k <= 0 || dm <= 0) throw new InvalidDataException("expert dimensions must be positive");
        long floats = 2L * r * d + 2L * k * dm;
        if (data.Length != HeaderBytes + floats * 4) throw new InvalidDataException($"expert length {data.Length} does not match its dimensions ({HeaderBytes + floats * 4})");
        var baseSha = Convert.ToHexStringLower(data.Slice(24, 32));
        var generatorSha = Convert.ToHexStringLower(data.Slice(56, 32));
        var offset = HeaderBytes;
        var u = ReadFloats(data, ref offset, r * d);
        var v = ReadFloats(data, ref offset, r * d);
        var visual = ReadFloats(data, ref offset, k * dm);
        var text = ReadFloats(data, ref offset, k * dm);
        return new Expert(d, r, k, dm, u, v, visual, text, baseSha, generatorSha);
    }

    private static float[] ReadFloats(ReadOnlySpan<byte> data, ref int offset, int count)
    {
        var result = new float[count];
        for (var i = 0; i < count; i++, offset += 4) result[i] = BinaryPrimitives.ReadSingleLittleEndian(data[offset..]);
        return result;
    }

    /// <inheritdoc/>
    public override string ToString() => new StringBuilder().Append("Expert ").Append(Sha256[..12]).Append(" (d=").Append(HiddenSize)
        .Append(", r=").Append(Rank).Append(", k=").Append(KeyRows).Append(", d_m=").Append(ModuleDim).Append(')').ToString();
}
