using System.Diagnostics;
using LiveEdit.Model.World;
using LiveEdit.Testing;
using Shouldly;
using StbImageWriteSharp;
using Xunit;
using Xunit.Abstractions;

namespace LiveEdit.Model.Tests;

/// <summary>Images are refused from their header — format, pixels, decoded bytes, truncation — before the decoder runs.</summary>
public sealed class checking_images_before_decoding(ITestOutputHelper output)
{
    [Fact]
    public void a_half_megabyte_png_claiming_8192_square_16_bit_pixels_is_refused_in_milliseconds_without_allocating()
    {
        var bomb = HostileImages.PngBomb;
        bomb.Length.ShouldBeLessThan(1_000_000);
        var (error, elapsed, allocated) = Measure(() => Should.Throw<UnreadableImageException>(() => RgbImage.Decode(bomb, "bomb.png")));
        output.WriteLine($"PNG bomb ({bomb.Length:N0} bytes, 8192×8192×16-bit RGBA) refused in {elapsed.TotalMilliseconds:0.0} ms, {allocated:N0} bytes allocated: {error.Message}");
        error.TooLarge.ShouldBeTrue();
        error.Reason.ShouldContain("67.1 megapixels");
        elapsed.ShouldBeLessThan(TimeSpan.FromMilliseconds(500));
        allocated.ShouldBeLessThan(1_000_000);
    }

    [Fact]
    public void a_70_byte_bmp_claiming_8000_square_is_refused_as_a_format_that_is_not_accepted()
    {
        var bmp = HostileImages.TruncatedBmp();
        bmp.Length.ShouldBe(70);
        var (error, elapsed, _) = Measure(() => Should.Throw<UnreadableImageException>(() => RgbImage.Decode(bmp, "tiny.bmp")));
        output.WriteLine($"70-byte BMP refused in {elapsed.TotalMilliseconds:0.0} ms: {error.Message}");
        error.UnsupportedFormat.ShouldBeTrue();
        error.Reason.ShouldBe("it is a BMP file; only PNG or JPEG images are accepted");
        Should.Throw<UnreadableImageException>(() => RgbImage.Decode(HostileImages.Gif())).Reason.ShouldContain("GIF");
    }

    [Fact]
    public void a_truncated_png_or_jpeg_is_refused_before_decoding_with_a_printable_message()
    {
        var png = new RgbImage(64, 64, Noise(64 * 64 * 3)).ToPng();
        var cut = Should.Throw<UnreadableImageException>(() => RgbImage.Decode(png[..(png.Length / 2)], "cut.png"));
        cut.Reason.ShouldContain("truncated");
        cut.Message.ShouldAllBe(c => !char.IsControl(c));

        var jpeg = Jpeg(64, 64);
        Should.Throw<UnreadableImageException>(() => RgbImage.Decode(jpeg[..(jpeg.Length - 200)], "cut.jpg")).Reason.ShouldContain("truncated");
        Should.Throw<UnreadableImageException>(() => RgbImage.Decode(png[..20], "header.png")).Reason.ShouldContain("cut short");
    }

    [Fact]
    public void a_12_megapixel_phone_jpeg_is_accepted_and_one_pixel_over_40_megapixels_is_not()
    {
        var jpeg = Jpeg(4000, 3000);
        var (image, elapsed, allocated) = Measure(() => RgbImage.Decode(jpeg, "phone.jpg"));
        output.WriteLine($"4000×3000 JPEG ({jpeg.Length:N0} bytes) decoded in {elapsed.TotalMilliseconds:0} ms, {allocated / 1e6:0} MB allocated");
        image.Width.ShouldBe(4000);
        image.Height.ShouldBe(3000);

        ImageHeader.Check(HostileImages.ZeroPng(8000, 5000, 8, 6)).Pixels.ShouldBe(ImageHeader.MaxPixels);
        Should.Throw<UnreadableImageException>(() => ImageHeader.Check(HostileImages.ZeroPng(8001, 5000))).TooLarge.ShouldBeTrue();
        // Within the pixel cap but 16-bit: more decoded bytes than the cap allows.
        Should.Throw<UnreadableImageException>(() => ImageHeader.Check(HostileImages.ZeroPng(6000, 5000, 16, 2))).Reason.ShouldContain("MB");
    }

    [Fact]
    public void the_largest_accepted_images_decode_in_bounded_time_and_memory()
    {
        // The worst accepted cases: 40 MP of 8-bit RGBA PNG (the decoded-bytes cap exactly) and a 40 MP JPEG.
        var png = HostileImages.ZeroPng(8000, 5000, 8, 6);
        var (fromPng, pngTime, pngBytes) = Measure(() => RgbImage.Decode(png, "largest.png"), out var pngPeak);
        output.WriteLine($"8000×5000 RGBA PNG ({png.Length:N0} bytes) decoded in {pngTime.TotalMilliseconds:0} ms, {pngBytes / 1e6:0} MB allocated, private memory peak +{pngPeak / 1e6:0} MB");
        fromPng.Width.ShouldBe(8000);

        var jpeg = Jpeg(8000, 5000);
        var (fromJpeg, jpegTime, jpegBytes) = Measure(() => RgbImage.Decode(jpeg, "largest.jpg"), out var jpegPeak);
        output.WriteLine($"8000×5000 JPEG ({jpeg.Length:N0} bytes) decoded in {jpegTime.TotalMilliseconds:0} ms, {jpegBytes / 1e6:0} MB allocated, private memory peak +{jpegPeak / 1e6:0} MB");
        fromJpeg.Height.ShouldBe(5000);
        // A bound, not a benchmark: both stay within a small multiple of the 160 MB cap on decoded bytes.
        pngBytes.ShouldBeLessThan(4 * ImageHeader.MaxDecodedBytes);
        jpegBytes.ShouldBeLessThan(4 * ImageHeader.MaxDecodedBytes);
        pngPeak.ShouldBeLessThan(4 * ImageHeader.MaxDecodedBytes);
        jpegPeak.ShouldBeLessThan(4 * ImageHeader.MaxDecodedBytes);
    }

    /// <summary>Time, managed bytes allocated, and the peak growth of the process's private memory (sampled every 2 ms, native buffers included).</summary>
    private static (T Result, TimeSpan Elapsed, long Allocated) Measure<T>(Func<T> run) => Measure(run, out _);

    private static (T Result, TimeSpan Elapsed, long Allocated) Measure<T>(Func<T> run, out long peakGrowth)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        using var process = Process.GetCurrentProcess();
        process.Refresh();
        var baseline = process.PrivateMemorySize64;
        var peak = baseline;
        var done = false;
        var sampler = new Thread(() =>
        {
            using var self = Process.GetCurrentProcess();
            while (!Volatile.Read(ref done))
            {
                self.Refresh();
                peak = Math.Max(peak, self.PrivateMemorySize64);
                Thread.Sleep(2);
            }
        });
        sampler.Start();
        var before = GC.GetAllocatedBytesForCurrentThread();
        var watch = Stopwatch.StartNew();
        var result = run();
        var elapsed = watch.Elapsed;
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Volatile.Write(ref done, true);
        sampler.Join();
        peakGrowth = peak - baseline;
        return (result, elapsed, allocated);
    }

    private static byte[] Noise(int length)
    {
        var bytes = new byte[length];
        new Random(5).NextBytes(bytes);
        return bytes;
    }

    /// <summary>A JPEG of smooth gradients (what a photo compresses like), written by StbImageWriteSharp.</summary>
    public static byte[] Jpeg(int width, int height)
    {
        var pixels = new byte[width * height * 3];
        for (var y = 0; y < height; y++)
        for (var x = 0; x < width; x++)
        {
            var p = (y * width + x) * 3;
            pixels[p] = (byte)(x * 255 / width);
            pixels[p + 1] = (byte)(y * 255 / height);
            pixels[p + 2] = (byte)((x + y) % 256);
        }
        using var stream = new MemoryStream();
        new ImageWriter().WriteJpg(pixels, width, height, ColorComponents.RedGreenBlue, stream, 90);
        return stream.ToArray();
    }
}
