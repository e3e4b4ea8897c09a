using LiveEdit.Model.Images;

namespace LiveEdit.Bench.Tests;

internal static class Images
{
    /// <summary>A deterministic test image: a gradient whose colour depends on <paramref name="tone"/>.</summary>
    public static RgbImage Gradient(int width, int height, int tone)
    {
        var pixels = new byte[width * height * 3];
        for (var y = 0; y < height; y++)
        for (var x = 0; x < width; x++)
        {
            var p = 3 * (y * width + x);
            pixels[p] = (byte)(tone * 40 + x * 3);
            pixels[p + 1] = (byte)(y * 5);
            pixels[p + 2] = (byte)(255 - tone * 30);
        }
        return new RgbImage(width, height, pixels);
    }
}
