using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;

namespace LiveEdit.Testing;

/// <summary>Image files an attacker sends: small on the wire, huge or broken once decoded.</summary>
public static class HostileImages
{
    private static readonly Lazy<byte[]> Bomb = new(() => ZeroPng(8192, 8192, bitDepth: 16, colourType: 6));

    /// <summary>A valid 8192×8192 16-bit RGBA PNG of zero rows: about half a megabyte that inflates to 537 MB (built once).</summary>
    public static byte[] PngBomb => Bomb.Value;

    /// <summary>A valid PNG of zero rows with the given header.</summary>
    public static byte[] ZeroPng(int width, int height, int bitDepth = 8, int colourType = 2)
    {
        var channels = colourType switch { 0 => 1, 2 => 3, 4 => 2, 6 => 4, _ => throw new ArgumentOutOfRangeException(nameof(colourType)) };
        var rowBytes = 1 + (long)width * channels * bitDepth / 8;
        using var data = new MemoryStream();
        using (var zlib = new ZLibStream(data, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            var row = new byte[rowBytes];
            for (var y = 0; y < height; y++) zlib.Write(row);
        }
        using var png = new MemoryStream();
        png.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(0), (uint)width);
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(4), (uint)height);
        ihdr[8] = (byte)bitDepth;
        ihdr[9] = (byte)colourType;
        Chunk(png, "IHDR", ihdr);
        Chunk(png, "IDAT", data.ToArray());
        Chunk(png, "IEND", []);
        return png.ToArray();
    }

    /// <summary>70 bytes: a BMP header claiming 8000×8000 24-bit pixels, followed by 16 bytes of them.</summary>
    public static byte[] TruncatedBmp()
    {
        var bmp = new byte[70];
        "BM"u8.CopyTo(bmp);
        BinaryPrimitives.WriteUInt32LittleEndian(bmp.AsSpan(2), 54 + 8000u * 8000 * 3);
        BinaryPrimitives.WriteUInt32LittleEndian(bmp.AsSpan(10), 54);
        BinaryPrimitives.WriteUInt32LittleEndian(bmp.AsSpan(14), 40);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(18), 8000);
        BinaryPrimitives.WriteInt32LittleEndian(bmp.AsSpan(22), 8000);
        BinaryPrimitives.WriteUInt16LittleEndian(bmp.AsSpan(26), 1);
        BinaryPrimitives.WriteUInt16LittleEndian(bmp.AsSpan(28), 24);
        return bmp;
    }

    /// <summary>A 1×1 GIF.</summary>
    public static byte[] Gif() => Convert.FromBase64String("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7");

    private static void Chunk(Stream png, string type, byte[] data)
    {
        Span<byte> four = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(four, (uint)data.Length);
        png.Write(four);
        var typed = Encoding.ASCII.GetBytes(type).Concat(data).ToArray();
        png.Write(typed);
        BinaryPrimitives.WriteUInt32BigEndian(four, Crc32(typed));
        png.Write(four);
    }

    private static uint Crc32(byte[] bytes)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in bytes)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++) crc = (crc & 1) != 0 ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
        }
        return ~crc;
    }
}
