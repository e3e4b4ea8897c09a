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
        return Png(width, height, bitDepth, colourType, interlaced: false, data.ToArray());
    }

    /// <summary>
    /// A PNG whose header says <paramref name="width"/>×<paramref name="height"/> 8-bit RGB but whose IDAT holds zlib-compressed
    /// zeros that inflate to <paramref name="inflatedBytes"/>: small on the wire, any size once inflated.
    /// </summary>
    public static byte[] IdatBomb(int width, int height, long inflatedBytes)
    {
        using var data = new MemoryStream();
        using (var zlib = new ZLibStream(data, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            var block = new byte[1 << 20];
            for (var left = inflatedBytes; left > 0; left -= block.Length) zlib.Write(block, 0, (int)Math.Min(left, block.Length));
        }
        return Png(width, height, 8, 2, interlaced: false, data.ToArray());
    }

    /// <summary>A valid Adam7-interlaced 8-bit RGB PNG of zero pixels (no encoder at hand writes interlaced PNGs).</summary>
    public static byte[] InterlacedZeroPng(int width, int height)
    {
        using var data = new MemoryStream();
        using (var zlib = new ZLibStream(data, CompressionLevel.SmallestSize, leaveOpen: true))
        {
            foreach (var (x0, y0, dx, dy) in new[] { (0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2) })
            {
                var passWidth = width > x0 ? (width - x0 + dx - 1) / dx : 0;
                var passHeight = height > y0 ? (height - y0 + dy - 1) / dy : 0;
                if (passWidth == 0 || passHeight == 0) continue;
                var row = new byte[1 + passWidth * 3];
                for (var y = 0; y < passHeight; y++) zlib.Write(row);
            }
        }
        return Png(width, height, 8, 2, interlaced: true, data.ToArray());
    }

    /// <summary>
    /// A progressive (SOF2) greyscale JPEG header of <paramref name="width"/>×<paramref name="height"/> followed by
    /// <paramref name="scans"/> DC scans of a few bytes each: a few kilobytes that make the decoder walk the whole
    /// frame once per scan.
    /// </summary>
    public static byte[] ProgressiveScanBomb(int width, int height, int scans)
    {
        using var jpeg = new MemoryStream();
        jpeg.Write([0xFF, 0xD8]);
        var quantisation = new byte[65];
        Array.Fill(quantisation, (byte)1, 1, 64);
        Segment(jpeg, 0xDB, quantisation);
        Segment(jpeg, 0xC2, [8, (byte)(height >> 8), (byte)height, (byte)(width >> 8), (byte)width, 1, 1, 0x11, 0]);
        // DC table 0: one code of length 1 for category 0.
        var huffman = new byte[1 + 16 + 1];
        huffman[0] = 0x00;
        huffman[1] = 1;
        Segment(jpeg, 0xC4, huffman);
        for (var i = 0; i < scans; i++)
        {
            Segment(jpeg, 0xDA, [1, 1, 0x00, 0, 0, 0]);
            jpeg.Write([0x00, 0x00, 0x00, 0x00]);
        }
        jpeg.Write([0xFF, 0xD9]);
        return jpeg.ToArray();
    }

    private static void Segment(Stream jpeg, byte marker, byte[] body)
    {
        jpeg.Write([0xFF, marker, (byte)((body.Length + 2) >> 8), (byte)(body.Length + 2)]);
        jpeg.Write(body);
    }

    private static byte[] Png(int width, int height, int bitDepth, int colourType, bool interlaced, byte[] idat)
    {
        using var png = new MemoryStream();
        png.Write([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]);
        var ihdr = new byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(0), (uint)width);
        BinaryPrimitives.WriteUInt32BigEndian(ihdr.AsSpan(4), (uint)height);
        ihdr[8] = (byte)bitDepth;
        ihdr[9] = (byte)colourType;
        ihdr[12] = interlaced ? (byte)1 : (byte)0;
        Chunk(png, "IHDR", ihdr);
        Chunk(png, "IDAT", idat);
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
