namespace LiveEdit.Model.Llava;

/// <summary>
/// PIL's bicubic resampling of 8-bit images (Pillow's Resample.c): a separable convolution with the cubic kernel
/// a = −0.5, its support widened by the scale when shrinking (antialiasing), coefficients normalised per output pixel
/// and turned into 22-bit fixed point; the horizontal pass first, rounded and clipped to bytes, then the vertical pass.
/// Bytes out are PIL's bytes.
/// </summary>
public static class BicubicResize
{
    private const int PrecisionBits = 32 - 8 - 2;

    /// <summary>The cubic convolution kernel with a = −0.5, as PIL's bicubic_filter.</summary>
    public static double Kernel(double x)
    {
        const double a = -0.5;
        if (x < 0) x = -x;
        if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
        if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
        return 0;
    }

    /// <summary>
    /// PIL's precompute_coeffs for one axis: for each output position the first input index, the number of taps and the
    /// normalised weights (double).
    /// </summary>
    public static (int[] Start, int[] Count, double[][] Weights) Coefficients(int inSize, int outSize)
    {
        var scale = inSize / (double)outSize;
        var filterScale = Math.Max(scale, 1.0);
        var support = 2.0 * filterScale;
        var start = new int[outSize];
        var count = new int[outSize];
        var weights = new double[outSize][];
        for (var xx = 0; xx < outSize; xx++)
        {
            var center = (xx + 0.5) * scale;
            var ss = 1.0 / filterScale;
            // C's (int) cast truncates towards zero, as C#'s does.
            var xmin = (int)(center - support + 0.5);
            if (xmin < 0) xmin = 0;
            var xmax = (int)(center + support + 0.5);
            if (xmax > inSize) xmax = inSize;
            xmax -= xmin;
            var k = new double[xmax];
            var ww = 0.0;
            for (var x = 0; x < xmax; x++)
            {
                k[x] = Kernel((x + xmin - center + 0.5) * ss);
                ww += k[x];
            }
            if (ww != 0) for (var x = 0; x < xmax; x++) k[x] /= ww;
            start[xx] = xmin;
            count[xx] = xmax;
            weights[xx] = k;
        }
        return (start, count, weights);
    }

    private static (int[] Start, int[] Count, int[][] Weights) FixedPoint(int inSize, int outSize)
    {
        var (start, count, weights) = Coefficients(inSize, outSize);
        var fixedWeights = new int[outSize][];
        for (var i = 0; i < outSize; i++)
        {
            fixedWeights[i] = new int[weights[i].Length];
            for (var x = 0; x < weights[i].Length; x++)
            {
                var w = weights[i][x];
                fixedWeights[i][x] = w < 0 ? (int)(-0.5 + w * (1 << PrecisionBits)) : (int)(0.5 + w * (1 << PrecisionBits));
            }
        }
        return (start, count, fixedWeights);
    }

    private static byte Clip8(int value) => (byte)Math.Clamp(value >> PrecisionBits, 0, 255);

    /// <summary>RGB bytes (row-major, 3 a pixel) resized from <paramref name="width"/>×<paramref name="height"/> to <paramref name="outWidth"/>×<paramref name="outHeight"/>.</summary>
    public static byte[] Resize(byte[] pixels, int width, int height, int outWidth, int outHeight)
    {
        ArgumentNullException.ThrowIfNull(pixels);
        if (pixels.Length != width * height * 3) throw new ArgumentException("pixels must hold width × height × 3 bytes", nameof(pixels));
        if (outWidth < 1 || outHeight < 1) throw new ArgumentOutOfRangeException(nameof(outWidth), "output sides must be positive");
        var current = pixels;
        var currentWidth = width;
        if (outWidth != width)
        {
            var (start, count, k) = FixedPoint(width, outWidth);
            var output = new byte[outWidth * height * 3];
            for (var y = 0; y < height; y++)
            {
                var row = y * width * 3;
                for (var xx = 0; xx < outWidth; xx++)
                {
                    int s0 = 1 << (PrecisionBits - 1), s1 = s0, s2 = s0;
                    var w = k[xx];
                    var p = row + start[xx] * 3;
                    for (var x = 0; x < count[xx]; x++, p += 3)
                    {
                        s0 += current[p] * w[x];
                        s1 += current[p + 1] * w[x];
                        s2 += current[p + 2] * w[x];
                    }
                    var o = (y * outWidth + xx) * 3;
                    output[o] = Clip8(s0);
                    output[o + 1] = Clip8(s1);
                    output[o + 2] = Clip8(s2);
                }
            }
            current = output;
            currentWidth = outWidth;
        }
        if (outHeight != height)
        {
            var (start, count, k) = FixedPoint(height, outHeight);
            var output = new byte[currentWidth * outHeight * 3];
            var stride = currentWidth * 3;
            for (var yy = 0; yy < outHeight; yy++)
            {
                var w = k[yy];
                for (var i = 0; i < stride; i++)
                {
                    var s = 1 << (PrecisionBits - 1);
                    var p = start[yy] * stride + i;
                    for (var y = 0; y < count[yy]; y++, p += stride) s += current[p] * w[y];
                    output[yy * stride + i] = Clip8(s);
                }
            }
            current = output;
        }
        return ReferenceEquals(current, pixels) ? (byte[])pixels.Clone() : current;
    }
}
