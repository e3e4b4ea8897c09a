using System.Buffers;
using System.Buffers.Binary;
using System.IO.Compression;

namespace LiveEdit.Model.Images;

/// <summary>Image file formats the decoder is allowed to see.</summary>
public enum ImageFormat
{
    Png,
    Jpeg,
}

/// <summary>
/// What an image file's header says, read without decoding a pixel: format, dimensions, channels and sample size.
/// <see cref="Check"/> refuses anything the decoder should never be given — another format, more than
/// <see cref="MaxPixels"/> pixels or <see cref="MaxDecodedBytes"/> of samples, a file cut short — so a small file
/// cannot make the decoder allocate gigabytes or spend seconds.
/// </summary>
public sealed record ImageHeader(ImageFormat Format, int Width, int Height, int Channels, int BytesPerSample)
{
    /// <summary>Most pixels an accepted image may decode to (40 megapixels: a 12-megapixel phone photo passes).</summary>
    public const long MaxPixels = 40_000_000;

    /// <summary>Most bytes of decoded samples (width × height × channels × bytes per sample): 40 MP of 8-bit RGBA.</summary>
    public const long MaxDecodedBytes = MaxPixels * 4;

    /// <summary>Most scans (SOS segments) a JPEG may have: each costs the decoder a pass over the whole frame; ordinary progressive files have about 10.</summary>
    public const int MaxJpegScans = 64;

    /// <summary>Inflated bytes a PNG's image data may hold beyond the exact size its header implies.</summary>
    public const int InflateSlack = 1024;

    /// <summary>The allowed formats, for messages.</summary>
    public const string AllowedFormats = "PNG or JPEG";

    /// <summary>Pixels the image decodes to.</summary>
    public long Pixels => (long)Width * Height;

    /// <summary>Bytes of decoded samples in the file's own depth.</summary>
    public long DecodedBytes => Pixels * Channels * BytesPerSample;

    /// <summary>Reads and checks the header of <paramref name="bytes"/>; throws <see cref="UnreadableImageException"/> with the reason.</summary>
    public static ImageHeader Check(ReadOnlySpan<byte> bytes, string source = "image")
    {
        if (bytes.Length == 0) throw new UnreadableImageException(source, "the file is empty");
        var header = IsPng(bytes) ? ReadPng(bytes, source)
            : IsJpeg(bytes) ? ReadJpeg(bytes, source)
            : throw new UnreadableImageException(source, OtherFormat(bytes) is { } other
                ? $"it is a {other} file; only {AllowedFormats} images are accepted"
                : $"it is not a {AllowedFormats} file", unsupportedFormat: OtherFormat(bytes) is not null);
        if (header.Width < 1 || header.Height < 1) throw new UnreadableImageException(source, $"its header says {header.Width}×{header.Height} pixels");
        if (header.Pixels > MaxPixels)
            throw new UnreadableImageException(source, $"it is {header.Width}×{header.Height} = {header.Pixels / 1e6:0.#} megapixels; at most {MaxPixels / 1_000_000} megapixels are accepted", tooLarge: true);
        if (header.DecodedBytes > MaxDecodedBytes)
            throw new UnreadableImageException(source,
                $"it decodes to {header.DecodedBytes / 1_000_000} MB ({header.Channels} channels of {8 * header.BytesPerSample} bits); at most {MaxDecodedBytes / 1_000_000} MB are accepted", tooLarge: true);
        return header;
    }

    private static bool IsPng(ReadOnlySpan<byte> b) => b.Length >= 8 && b[..8].SequenceEqual(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A });

    private static bool IsJpeg(ReadOnlySpan<byte> b) => b.Length >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF;

    private static string? OtherFormat(ReadOnlySpan<byte> b) =>
        b.StartsWith("BM"u8) ? "BMP"
        : b.StartsWith("GIF8"u8) ? "GIF"
        : b.Length >= 12 && b.StartsWith("RIFF"u8) && b[8..12].SequenceEqual("WEBP"u8) ? "WebP"
        : b.StartsWith("II*\0"u8) || b.StartsWith("MM\0*"u8) ? "TIFF"
        : b.StartsWith("8BPS"u8) ? "PSD"
        : b.StartsWith("#?RADIANCE"u8) || b.StartsWith("#?RGBE"u8) ? "Radiance HDR"
        : b.Length >= 2 && b[0] == (byte)'P' && b[1] is >= (byte)'1' and <= (byte)'7' ? "PNM"
        : null;

    /// <summary>PNG: IHDR first; every chunk within the file; IDAT present; IEND last.</summary>
    private static ImageHeader ReadPng(ReadOnlySpan<byte> b, string source)
    {
        if (b.Length < 8 + 25 || !b[12..16].SequenceEqual("IHDR"u8) || BinaryPrimitives.ReadUInt32BigEndian(b[8..12]) != 13)
            throw new UnreadableImageException(source, "its PNG header (IHDR) is missing or cut short");
        var width = BinaryPrimitives.ReadUInt32BigEndian(b[16..20]);
        var height = BinaryPrimitives.ReadUInt32BigEndian(b[20..24]);
        var depth = b[24];
        var colour = b[25];
        var channels = colour switch { 0 => 1, 2 => 3, 3 => 1, 4 => 2, 6 => 4, _ => 0 };
        if (channels == 0 || depth is not (1 or 2 or 4 or 8 or 16))
            throw new UnreadableImageException(source, $"its PNG header has an invalid colour type {colour} or bit depth {depth}");
        if (width > int.MaxValue || height > int.MaxValue) throw new UnreadableImageException(source, $"it claims {width}×{height} pixels", tooLarge: true);
        // Palette images expand to RGB(A) samples in the decoder.
        if (colour == 3) channels = 4;
        var offset = 8;
        var sawData = false;
        while (true)
        {
            if (offset + 12 > b.Length) throw new UnreadableImageException(source, $"the PNG file is truncated at byte {b.Length} (no IEND chunk)");
            var length = BinaryPrimitives.ReadUInt32BigEndian(b[offset..(offset + 4)]);
            var type = b[(offset + 4)..(offset + 8)];
            if (length > (uint)(b.Length - offset - 12)) throw new UnreadableImageException(source, $"the PNG file is truncated: a chunk at byte {offset} runs past its end");
            if (type.SequenceEqual("IDAT"u8)) sawData = true;
            offset += 12 + (int)length;
            if (type.SequenceEqual("IEND"u8)) break;
        }
        if (!sawData) throw new UnreadableImageException(source, "the PNG file has no image data (IDAT)");
        return new ImageHeader(ImageFormat.Png, (int)width, (int)height, channels, depth == 16 ? 2 : 1);
    }

    /// <summary>JPEG: walks the marker segments to the frame header (SOF); the file must end with EOI.</summary>
    private static ImageHeader ReadJpeg(ReadOnlySpan<byte> b, string source)
    {
        var offset = 2;
        ImageHeader? header = null;
        while (header is null)
        {
            if (offset + 4 > b.Length) throw new UnreadableImageException(source, "the JPEG file is truncated before its frame header (SOF)");
            if (b[offset] != 0xFF) throw new UnreadableImageException(source, $"the JPEG file is corrupt: no marker at byte {offset}");
            var marker = b[offset + 1];
            if (marker == 0xFF) { offset++; continue; } // fill byte
            if (marker is 0xD8 or 0x01 or >= 0xD0 and <= 0xD7) { offset += 2; continue; } // markers without a length
            if (marker is 0xD9 or 0xDA) throw new UnreadableImageException(source, "the JPEG file has no frame header (SOF) before its scan");
            var length = BinaryPrimitives.ReadUInt16BigEndian(b[(offset + 2)..(offset + 4)]);
            if (length < 2 || offset + 2 + length > b.Length) throw new UnreadableImageException(source, $"the JPEG file is truncated: a segment at byte {offset} runs past its end");
            if (marker is >= 0xC0 and <= 0xCF and not 0xC4 and not 0xC8 and not 0xCC)
            {
                if (length < 8) throw new UnreadableImageException(source, "the JPEG frame header (SOF) is cut short");
                var precision = b[offset + 4];
                var height = BinaryPrimitives.ReadUInt16BigEndian(b[(offset + 5)..(offset + 7)]);
                var width = BinaryPrimitives.ReadUInt16BigEndian(b[(offset + 7)..(offset + 9)]);
                var components = b[offset + 9];
                if (components is not (1 or 3 or 4)) throw new UnreadableImageException(source, $"the JPEG frame has {components} components");
                header = new ImageHeader(ImageFormat.Jpeg, width, height, components, precision > 8 ? 2 : 1);
            }
            offset += 2 + length;
        }
        // Walk the rest of the segments counting scans (SOS), skipping each scan's entropy-coded data: a progressive
        // frame costs the decoder a pass over every pixel per scan. Running off the end is left to the EOI check below.
        var scans = 0;
        while (offset + 4 <= b.Length && b[offset] == 0xFF)
        {
            var marker = b[offset + 1];
            if (marker == 0xFF) { offset++; continue; }
            if (marker == 0xD9) break;
            if (marker is 0xD8 or 0x01 or >= 0xD0 and <= 0xD7) { offset += 2; continue; }
            var length = BinaryPrimitives.ReadUInt16BigEndian(b[(offset + 2)..(offset + 4)]);
            if (length < 2 || offset + 2 + length > b.Length) throw new UnreadableImageException(source, $"the JPEG file is truncated: a segment at byte {offset} runs past its end");
            offset += 2 + length;
            if (marker != 0xDA) continue;
            if (++scans > MaxJpegScans)
                throw new UnreadableImageException(source, $"the JPEG file has more than {MaxJpegScans} scans; at most {MaxJpegScans} are accepted", tooLarge: true);
            offset = EndOfEntropyCodedData(b, offset);
        }
        // A JPEG ends with EOI (FF D9); allow a little padding after it.
        var tail = b[Math.Max(offset, b.Length - 1024)..];
        if (tail.IndexOf(new byte[] { 0xFF, 0xD9 }) < 0) throw new UnreadableImageException(source, $"the JPEG file is truncated at byte {b.Length} (no end-of-image marker)");
        return header;
    }

    /// <summary>The offset of the marker that ends the entropy-coded data starting at <paramref name="offset"/>: an FF not followed by 00 (stuffing) or a restart marker (D0–D7); the file's length when there is none.</summary>
    private static int EndOfEntropyCodedData(ReadOnlySpan<byte> b, int offset)
    {
        while (offset < b.Length)
        {
            var next = b[offset..].IndexOf((byte)0xFF);
            if (next < 0 || offset + next + 1 >= b.Length) return b.Length;
            offset += next;
            var following = b[offset + 1];
            if (following != 0x00 && following is not (>= 0xD0 and <= 0xD7)) return offset;
            offset += 2;
        }
        return b.Length;
    }

    /// <summary>
    /// The PNG decoder inflates every IDAT byte whatever the header says, so a few megabytes of compressed zeros
    /// behind a 16×16 header would inflate to gigabytes. This inflates the image data (into a small reused buffer,
    /// output discarded) and refuses it as soon as it exceeds what the header implies — for each row a filter byte
    /// and ⌈width × channels × bit depth / 8⌉ bytes, summed exactly over the seven Adam7 passes when interlaced —
    /// plus <see cref="InflateSlack"/> bytes. Corrupt zlib data is refused as unreadable. Call it after
    /// <see cref="Check"/> accepted <paramref name="png"/>; it returns the number of inflated bytes.
    /// </summary>
    public static long InflatedPngData(ReadOnlyMemory<byte> png, string source = "image")
    {
        var b = png.Span;
        if (!IsPng(b) || b.Length < 8 + 25) throw new UnreadableImageException(source, "its PNG header (IHDR) is missing or cut short");
        var width = BinaryPrimitives.ReadUInt32BigEndian(b[16..20]);
        var height = BinaryPrimitives.ReadUInt32BigEndian(b[20..24]);
        var depth = b[24];
        var samples = b[25] switch { 0 => 1, 2 => 3, 3 => 1, 4 => 2, 6 => 4, _ => 0 };
        var interlaced = b[28] != 0;
        var bitsPerPixel = (long)samples * depth;
        long RowsBytes(long passWidth, long passHeight) => passWidth == 0 || passHeight == 0 ? 0 : passHeight * (1 + (passWidth * bitsPerPixel + 7) / 8);
        long expected;
        if (!interlaced) expected = RowsBytes(width, height);
        else
        {
            expected = 0;
            foreach (var (x0, y0, dx, dy) in Adam7)
                expected += RowsBytes(width > x0 ? (width - x0 + dx - 1) / dx : 0, height > y0 ? (height - y0 + dy - 1) / dy : 0);
        }
        var limit = expected + InflateSlack;
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            using var zlib = new ZLibStream(new IdatStream(png), CompressionMode.Decompress);
            long inflated = 0;
            int read;
            while ((read = zlib.Read(buffer, 0, buffer.Length)) > 0)
            {
                inflated += read;
                if (inflated > limit)
                    throw new UnreadableImageException(source,
                        $"its compressed image data inflates to more than {limit:N0} bytes, the most its {width}×{height} header allows", tooLarge: true);
            }
            return inflated;
        }
        catch (InvalidDataException e)
        {
            throw new UnreadableImageException(source, "its compressed image data (IDAT) is corrupt", e);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static readonly (uint X0, uint Y0, uint Dx, uint Dy)[] Adam7 =
        [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)];

    /// <summary>The concatenated data of a PNG's IDAT chunks, read in place, walking the chunks (already checked to lie within the file) as it goes.</summary>
    private sealed class IdatStream(ReadOnlyMemory<byte> png) : Stream
    {
        private int _chunk = 8;   // offset of the chunk whose data is being read
        private int _position;    // next byte to read
        private int _end;         // end of the current chunk's data

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> destination)
        {
            var b = png.Span;
            while (_position == _end)
            {
                if (_chunk + 12 > b.Length) return 0;
                var length = BinaryPrimitives.ReadUInt32BigEndian(b[_chunk..(_chunk + 4)]);
                var type = b[(_chunk + 4)..(_chunk + 8)];
                if (type.SequenceEqual("IEND"u8) || length > (uint)(b.Length - _chunk - 12)) return 0;
                var start = _chunk + 8;
                _chunk = start + (int)length + 4;
                if (type.SequenceEqual("IDAT"u8)) { _position = start; _end = start + (int)length; }
            }
            var n = Math.Min(destination.Length, _end - _position);
            b[_position..(_position + n)].CopyTo(destination);
            _position += n;
            return n;
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
