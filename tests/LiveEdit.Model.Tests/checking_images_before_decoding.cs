using System.Diagnostics;
using LiveEdit.Model.Images;
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

    [Fact]
    public void a_png_whose_image_data_inflates_past_its_header_is_refused_after_inflating_little_more_than_the_header_allows()
    {
        // 16×16 RGB needs 16 × (1 + 48) = 784 inflated bytes; this IDAT inflates to 200 MB.
        var bomb = HostileImages.IdatBomb(16, 16, 200_000_000);
        bomb.Length.ShouldBeLessThan(1_000_000);
        var (error, elapsed, allocated) = Measure(() => Should.Throw<UnreadableImageException>(() => RgbImage.Decode(bomb, "idat-bomb.png")), out var peak);
        output.WriteLine($"IDAT bomb ({bomb.Length:N0} bytes, 16×16 RGB header, IDAT inflating to 200 MB) refused in {elapsed.TotalMilliseconds:0.0} ms, {allocated:N0} bytes allocated, private memory peak +{peak / 1e6:0} MB: {error.Message}");
        error.TooLarge.ShouldBeTrue();
        error.Reason.ShouldContain("inflates to more than");
        // Inflating all 200 MB takes far longer and allocates them; stopping after the first buffer takes milliseconds.
        elapsed.ShouldBeLessThan(TimeSpan.FromMilliseconds(150));
        allocated.ShouldBeLessThan(1_000_000);
        peak.ShouldBeLessThan(50_000_000);

        // The same header with data a few bytes longer than it allows is refused too; exactly its size is not.
        ImageHeader.InflatedPngData(HostileImages.IdatBomb(16, 16, 784)).ShouldBe(784);
        Should.Throw<UnreadableImageException>(() => ImageHeader.InflatedPngData(HostileImages.IdatBomb(16, 16, 784 + ImageHeader.InflateSlack + 1))).TooLarge.ShouldBeTrue();
    }

    [Fact]
    public void a_png_whose_compressed_data_is_corrupt_is_refused_as_unreadable()
    {
        var png = new RgbImage(32, 32, Noise(32 * 32 * 3)).ToPng();
        var idat = png.AsSpan().IndexOf("IDAT"u8);
        png[idat + 4] = 0x00; // the zlib header's first byte: no longer deflate
        var error = Should.Throw<UnreadableImageException>(() => RgbImage.Decode(png, "corrupt.png"));
        error.TooLarge.ShouldBeFalse();
        error.Reason.ShouldContain("corrupt");
    }

    [Fact]
    public void ordinary_and_interlaced_pngs_are_still_accepted()
    {
        var pixels = Noise(300 * 200 * 3);
        var png = new RgbImage(300, 200, pixels).ToPng();
        ImageHeader.InflatedPngData(png).ShouldBe(200 * (1 + 300 * 3));
        RgbImage.Decode(png, "ordinary.png").Pixels.ShouldBe(pixels);

        // Adam7 needs more filter bytes than the non-interlaced size (2,812 rows here, not 1,500): the limit counts them.
        var interlaced = HostileImages.InterlacedZeroPng(2000, 1500);
        ImageHeader.InflatedPngData(interlaced).ShouldBeGreaterThan(1500L * (1 + 2000 * 3) + ImageHeader.InflateSlack);
        var decoded = RgbImage.Decode(interlaced, "interlaced.png");
        decoded.Width.ShouldBe(2000);
        decoded.Height.ShouldBe(1500);
    }

    [Fact]
    public void a_progressive_jpeg_with_200_scans_is_refused_from_its_header_and_an_ordinary_jpeg_is_not()
    {
        var bomb = HostileImages.ProgressiveScanBomb(6000, 6000, 200);
        bomb.Length.ShouldBeLessThan(20_000);
        var (error, elapsed, allocated) = Measure(() => Should.Throw<UnreadableImageException>(() => RgbImage.Decode(bomb, "scans.jpg")));
        output.WriteLine($"progressive JPEG ({bomb.Length:N0} bytes, 6000×6000, 200 scans) refused in {elapsed.TotalMilliseconds:0.0} ms, {allocated:N0} bytes allocated: {error.Message}");
        error.TooLarge.ShouldBeTrue();
        error.Reason.ShouldContain($"at most {ImageHeader.MaxJpegScans} are accepted");
        elapsed.ShouldBeLessThan(TimeSpan.FromMilliseconds(500));

        Should.NotThrow(() => ImageHeader.Check(HostileImages.ProgressiveScanBomb(6000, 6000, ImageHeader.MaxJpegScans)));
        var jpeg = Jpeg(640, 480);
        RgbImage.Decode(jpeg, "ordinary.jpg").Width.ShouldBe(640);
    }

    [Fact]
    public void the_inflate_pass_costs_little_next_to_the_decode()
    {
        foreach (var (width, height, colourType) in new[] { (4000, 3000, 2), (8000, 5000, 6) })
        {
            var png = HostileImages.ZeroPng(width, height, 8, colourType);
            var best = TimeSpan.MaxValue;
            long inflated = 0;
            for (var i = 0; i < 3; i++)
            {
                var (count, elapsed, _) = Measure(() => ImageHeader.InflatedPngData(png));
                inflated = count;
                if (elapsed < best) best = elapsed;
            }
            output.WriteLine($"{width}×{height} {(colourType == 6 ? "RGBA" : "RGB")} PNG ({png.Length:N0} bytes, {inflated / 1e6:0} MB inflated): inflate pass {best.TotalMilliseconds:0} ms (best of 3)");
            best.ShouldBeLessThan(TimeSpan.FromSeconds(2));
        }

        // Zeros inflate unusually fast; a photo-like 12 MP PNG (gradients, written by StbImageWriteSharp) is the realistic case.
        var photo = Gradient(4000, 3000);
        var (_, inflateTime, _) = Measure(() => ImageHeader.InflatedPngData(photo));
        var (_, decodeTime, _) = Measure(() => RgbImage.Decode(photo, "photo.png"));
        output.WriteLine($"4000×3000 gradient RGB PNG ({photo.Length:N0} bytes): inflate pass {inflateTime.TotalMilliseconds:0} ms, whole decode (pass included) {decodeTime.TotalMilliseconds:0} ms");
        inflateTime.ShouldBeLessThan(decodeTime);
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

    /// <summary>A PNG of the same gradients as <see cref="Jpeg"/>, written by StbImageWriteSharp.</summary>
    private static byte[] Gradient(int width, int height)
    {
        using var stream = new MemoryStream();
        new ImageWriter().WritePng(GradientPixels(width, height), width, height, ColorComponents.RedGreenBlue, stream);
        return stream.ToArray();
    }

    /// <summary>A JPEG of smooth gradients (what a photo compresses like), written by StbImageWriteSharp.</summary>
    public static byte[] Jpeg(int width, int height)
    {
        using var stream = new MemoryStream();
        new ImageWriter().WriteJpg(GradientPixels(width, height), width, height, ColorComponents.RedGreenBlue, stream, 90);
        return stream.ToArray();
    }

    private static byte[] GradientPixels(int width, int height)
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
        return pixels;
    }
}
