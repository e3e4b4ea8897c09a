using StbImageSharp;
using StbImageWriteSharp;
using static TorchSharp.torch;

namespace LiveEdit.Model.Images;

/// <summary>An 8-bit RGB image, row-major, 3 bytes a pixel: what SynthWorld renders and what a user gives.</summary>
public sealed class RgbImage
{
    /// <summary>Wraps pixel bytes (length must be width × height × 3).</summary>
    public RgbImage(int width, int height, byte[] pixels)
    {
        if (width < 1 || height < 1) throw new ArgumentOutOfRangeException(nameof(width), "image sides must be positive");
        if (pixels.Length != width * height * 3) throw new ArgumentException($"expected {width * height * 3} bytes, got {pixels.Length}", nameof(pixels));
        Width = width;
        Height = height;
        Pixels = pixels;
    }

    public int Width { get; }
    public int Height { get; }

    /// <summary>RGB bytes, row-major.</summary>
    public byte[] Pixels { get; }

    /// <summary>[3, H, W] float32 in [0, 1], in the caller's dispose scope.</summary>
    public Tensor ToTensor()
    {
        var data = new float[3 * Width * Height];
        WriteChannelsFirst(data, 0);
        return tensor(data, [3, Height, Width]);
    }

    /// <summary>Writes this image as channels-first floats in [0, 1] into <paramref name="buffer"/> at <paramref name="offset"/>.</summary>
    public void WriteChannelsFirst(float[] buffer, int offset)
    {
        var plane = Width * Height;
        for (var p = 0; p < plane; p++)
        {
            buffer[offset + p] = Pixels[3 * p] / 255f;
            buffer[offset + plane + p] = Pixels[3 * p + 1] / 255f;
            buffer[offset + 2 * plane + p] = Pixels[3 * p + 2] / 255f;
        }
    }

    /// <summary>PNG bytes of this image.</summary>
    public byte[] ToPng()
    {
        using var stream = new MemoryStream();
        new ImageWriter().WritePng(Pixels, Width, Height, StbImageWriteSharp.ColorComponents.RedGreenBlue, stream);
        return stream.ToArray();
    }

    /// <summary>Writes a PNG file.</summary>
    public void SavePng(string path) => File.WriteAllBytes(path, ToPng());

    /// <summary>
    /// Decodes a PNG or JPEG file's bytes to RGB, after <see cref="ImageHeader.Check"/> has read its header: another
    /// format, too many pixels or decoded bytes, a file cut short or a JPEG with too many scans is refused before the
    /// decoder sees it; a PNG's image data is then inflated once, discarding the output, and refused as soon as it
    /// holds more than the header implies (<see cref="ImageHeader.InflatedPngData"/>).
    /// Throws <see cref="UnreadableImageException"/> for anything that is not a decodable image.
    /// </summary>
    public static RgbImage Decode(byte[] bytes, string source = "image")
    {
        var header = ImageHeader.Check(bytes, source);
        if (header.Format == ImageFormat.Png) ImageHeader.InflatedPngData(bytes, source);
        try
        {
            var result = ImageResult.FromMemory(bytes, StbImageSharp.ColorComponents.RedGreenBlue);
            if (result?.Data is null || result.Width < 1 || result.Height < 1 || result.Data.Length < result.Width * result.Height * 3)
                throw new UnreadableImageException(source, "the image data is truncated or corrupt");
            return new RgbImage(result.Width, result.Height, result.Data[..(result.Width * result.Height * 3)]);
        }
        catch (UnreadableImageException) { throw; }
        catch (Exception e)
        {
            // The decoder's own message is not shown: it may quote the file's bytes.
            throw new UnreadableImageException(source, "the image data is truncated or corrupt", e);
        }
    }

    /// <summary>Reads an image file (see <see cref="Decode"/>).</summary>
    public static RgbImage Load(string path)
    {
        if (!File.Exists(path)) throw new UnreadableImageException(path, "the file does not exist");
        return Decode(File.ReadAllBytes(path), path);
    }

    /// <summary>
    /// Reads an image file and brings it to the model's input size: centre-cropped to a square, then
    /// resized with area averaging (down) or bilinear interpolation (up).
    /// </summary>
    public static RgbImage LoadForModel(string path, int size) => Load(path).ToModelInput(size);

    /// <summary>TinyVLM's preprocessing: <see cref="CenterSquare"/> to its input side.</summary>
    public RgbImage ToModelInput(int size) => CenterSquare(size);

    /// <summary>
    /// This image centre-cropped to a square and resized to size × size with area averaging (down) or bilinear
    /// interpolation (up); itself when it already is that size.
    /// </summary>
    public RgbImage CenterSquare(int size)
    {
        if (Width == size && Height == size) return this;
        var side = Math.Min(Width, Height);
        var x0 = (Width - side) / 2;
        var y0 = (Height - side) / 2;
        var output = new byte[size * size * 3];
        var scale = side / (double)size;
        for (var y = 0; y < size; y++)
        for (var x = 0; x < size; x++)
        for (var c = 0; c < 3; c++)
        {
            double value;
            if (scale > 1)
            {
                // Box filter over the source pixels this output pixel covers.
                var sx0 = (int)Math.Floor(x * scale); var sx1 = Math.Max(sx0 + 1, (int)Math.Floor((x + 1) * scale));
                var sy0 = (int)Math.Floor(y * scale); var sy1 = Math.Max(sy0 + 1, (int)Math.Floor((y + 1) * scale));
                double sum = 0; var n = 0;
                for (var sy = sy0; sy < sy1 && sy < side; sy++)
                for (var sx = sx0; sx < sx1 && sx < side; sx++) { sum += Pixels[((y0 + sy) * Width + x0 + sx) * 3 + c]; n++; }
                value = sum / Math.Max(1, n);
            }
            else
            {
                var fx = Math.Clamp((x + 0.5) * scale - 0.5, 0, side - 1);
                var fy = Math.Clamp((y + 0.5) * scale - 0.5, 0, side - 1);
                int ix = (int)fx, iy = (int)fy;
                int ix1 = Math.Min(ix + 1, side - 1), iy1 = Math.Min(iy + 1, side - 1);
                double ax = fx - ix, ay = fy - iy;
                double P(int sx, int sy) => Pixels[((y0 + sy) * Width + x0 + sx) * 3 + c];
                value = (1 - ay) * ((1 - ax) * P(ix, iy) + ax * P(ix1, iy)) + ay * ((1 - ax) * P(ix, iy1) + ax * P(ix1, iy1));
            }
            output[(y * size + x) * 3 + c] = (byte)Math.Clamp((int)Math.Round(value), 0, 255);
        }
        return new RgbImage(size, size, output);
    }
}

/// <summary>A file or byte array that is not a readable image; the message says why and what to do.</summary>
public sealed class UnreadableImageException : Exception
{
    public UnreadableImageException(string source, string reason, Exception? inner = null, bool unsupportedFormat = false, bool tooLarge = false)
        : base($"cannot read image '{source}': {reason}. Give a PNG or JPEG file.", inner)
    {
        ImageSource = source;
        Reason = reason;
        UnsupportedFormat = unsupportedFormat;
        TooLarge = tooLarge;
    }

    /// <summary>The file is an image in a format that is not accepted (BMP, GIF, …).</summary>
    public bool UnsupportedFormat { get; }

    /// <summary>The image would decode to more pixels or bytes than accepted.</summary>
    public bool TooLarge { get; }

    /// <summary>The path or label of the input.</summary>
    public string ImageSource { get; }

    /// <summary>Why it could not be read.</summary>
    public string Reason { get; }
}
