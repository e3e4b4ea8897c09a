using LiveEdit.Model.Images;
namespace LiveEdit.Research.World;

/// <summary>
/// Draws an entity: random centre, scale, rotation, background tint and gradient, pixel noise, 2×2 supersampling.
/// Everything comes from one seeded generator, so (seed, entity, split, index) fixes the bytes.
/// </summary>
internal static class WorldRenderer
{
    public static RgbImage Render(VisualIdentity look, int size, WorldRandom rng)
    {
        var radius = rng.NextDouble(0.28, 0.42) * size;                // half-size of the body in pixels
        var margin = radius * 0.9;
        var cx = rng.NextDouble(margin, size - margin);
        var cy = rng.NextDouble(margin, size - margin);
        var angle = rng.NextDouble(0, 2 * Math.PI);
        var (cos, sin) = (Math.Cos(angle), Math.Sin(angle));

        // Background: a low-saturation tint with a linear gradient, so colour words stay about the body.
        var grey = rng.NextDouble(60, 190);
        var tint = new double[3];
        for (var c = 0; c < 3; c++) tint[c] = grey + rng.NextDouble(-28, 28);
        var gx = rng.NextDouble(-1.2, 1.2);
        var gy = rng.NextDouble(-1.2, 1.2);
        var noise = rng.NextDouble(3, 12);
        var jitter = rng.NextDouble(-18, 18);                           // brightness jitter of the body

        var body = SynthWorld.Colours[look.BodyColour].Rgb;
        var mark = SynthWorld.Colours[look.PatternColour].Rgb;
        var pixels = new byte[size * size * 3];
        Span<double> sum = stackalloc double[3];
        for (var y = 0; y < size; y++)
        for (var x = 0; x < size; x++)
        {
            sum.Clear();
            for (var sy = 0; sy < 2; sy++)
            for (var sx = 0; sx < 2; sx++)
            {
                var px = x + 0.25 + 0.5 * sx - cx;
                var py = y + 0.25 + 0.5 * sy - cy;
                // Into the entity's frame: unrotate and scale so the body spans [-1, 1].
                var u = (cos * px + sin * py) / radius;
                var v = (-sin * px + cos * py) / radius;
                var colour = Paint(look, u, v, body, mark);
                for (var c = 0; c < 3; c++)
                    sum[c] += colour is null ? tint[c] + gx * (x - size / 2.0) + gy * (y - size / 2.0) : colour[c] + jitter;
            }
            for (var c = 0; c < 3; c++)
            {
                var value = sum[c] / 4 + noise * rng.NextGaussian();
                pixels[(y * size + x) * 3 + c] = (byte)Math.Clamp((int)Math.Round(value), 0, 255);
            }
        }
        return new RgbImage(size, size, pixels);
    }

    /// <summary>The entity's colour at (u, v) in its own frame, or null outside the body.</summary>
    private static byte[]? Paint(VisualIdentity look, double u, double v, byte[] body, byte[] mark)
    {
        if (!Inside(look.Shape, u, v)) return null;
        // Eyes sit on top of the pattern, dark on light bodies.
        if (look.Eyes > 0)
        {
            foreach (var e in look.Eyes == 1 ? OneEye : TwoEyes)
                if ((u - e) * (u - e) + (v + 0.3) * (v + 0.3) < 0.14 * 0.14) return Eye;
        }
        var r = Math.Sqrt(u * u + v * v);
        var marked = look.Pattern switch
        {
            Pattern.Solid => false,
            Pattern.Stripes => Mod(Math.Floor((u + 1) * 2.5), 2) == 1,
            Pattern.Dots => Dot(u, v),
            Pattern.Checker => Mod(Math.Floor((u + 1) * 2) + Math.Floor((v + 1) * 2), 2) == 1,
            Pattern.Split => u > 0,
            Pattern.Ring => r > 0.35 && r < 0.65,
            _ => false,
        };
        return marked ? mark : body;
    }

    private static readonly byte[] Eye = [15, 15, 15];
    private static readonly double[] OneEye = [0.0];
    private static readonly double[] TwoEyes = [-0.3, 0.3];

    private static bool Dot(double u, double v)
    {
        var fu = (u + 1) * 2 - Math.Floor((u + 1) * 2) - 0.5;
        var fv = (v + 1) * 2 - Math.Floor((v + 1) * 2) - 0.5;
        return fu * fu + fv * fv < 0.28 * 0.28;
    }

    private static double Mod(double a, double m) => ((a % m) + m) % m;

    private static bool Inside(Shape shape, double u, double v) => shape switch
    {
        Shape.Circle => u * u + v * v < 1,
        Shape.Square => Math.Abs(u) < 0.82 && Math.Abs(v) < 0.82,
        Shape.Triangle => InPolygon(Triangle, u, v),
        Shape.Diamond => Math.Abs(u) / 0.75 + Math.Abs(v) < 1,
        Shape.Hexagon => InPolygon(Hexagon, u, v),
        Shape.Star => InPolygon(Star, u, v),
        Shape.Cross => (Math.Abs(u) < 0.34 && Math.Abs(v) < 0.95) || (Math.Abs(v) < 0.34 && Math.Abs(u) < 0.95),
        Shape.Crescent => u * u + v * v < 1 && (u - 0.45) * (u - 0.45) + (v + 0.15) * (v + 0.15) > 0.75 * 0.75,
        _ => false,
    };

    private static readonly (double X, double Y)[] Triangle = [(0, -1), (0.95, 0.75), (-0.95, 0.75)];
    private static readonly (double X, double Y)[] Hexagon = Regular(6, 0.95, 0.95, 0);
    private static readonly (double X, double Y)[] Star = Regular(10, 1.0, 0.45, -Math.PI / 2);

    private static (double X, double Y)[] Regular(int n, double outer, double inner, double start)
    {
        var points = new (double, double)[n];
        for (var i = 0; i < n; i++)
        {
            var r = i % 2 == 0 ? outer : inner;
            var a = start + 2 * Math.PI * i / n;
            points[i] = (r * Math.Cos(a), r * Math.Sin(a));
        }
        return points;
    }

    private static bool InPolygon((double X, double Y)[] poly, double x, double y)
    {
        var inside = false;
        for (int i = 0, j = poly.Length - 1; i < poly.Length; j = i++)
        {
            if ((poly[i].Y > y) != (poly[j].Y > y) &&
                x < (poly[j].X - poly[i].X) * (y - poly[i].Y) / (poly[j].Y - poly[i].Y) + poly[i].X)
                inside = !inside;
        }
        return inside;
    }
}
