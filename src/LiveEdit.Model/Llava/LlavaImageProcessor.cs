using System.Text.Json;
using LiveEdit.Model.Images;
using static TorchSharp.torch;

namespace LiveEdit.Model.Llava;

// transformers commit 8f3e5ebe573f12bad1e1a7fce9e6589311f041ed src/transformers/models/clip/image_processing_clip.py
// L106–L108 (CLIPImageProcessor defaults: size shortest_edge 224, crop_size 224×224), L98 (rescale_factor 1/255),
// L119–L120 (image_mean, image_std default to OPENAI_CLIP_MEAN / OPENAI_CLIP_STD) and L284–L305 (preprocess: resize,
// centre crop, rescale, normalise, in that order).
// transformers commit bf777f4ca88a31322a765c0010e02762d3ff65be src/transformers/models/llava/image_processing_llava.py
// L100 (LlavaImageProcessor: do_pad defaults to False), L115–L117 and L129–L130 (the same defaults as CLIP's) and
// L408–L428 (preprocess per image: pad to square L409–L414, resize L416–L417, centre crop L419–L420, rescale L422–L423,
// normalise L425–L428).
/// <summary>
/// A checkpoint's image preprocessing as its <c>preprocessor_config.json</c> describes it, following the PIL path of
/// transformers' image processors step by step: CLIPImageProcessor / LlavaImageProcessor (optionally pad to a square with
/// the mean colour, resize the shortest edge, centre crop, rescale, normalise) and SiglipImageProcessor (resize to
/// height × width, rescale, normalise). Resizing is PIL's bicubic resampling with its 8-bit fixed-point arithmetic, so the
/// resized bytes are PIL's. The image arrives decoded to RGB by <see cref="RgbImage.Decode"/> (header checks first; grey
/// replicated, alpha dropped as PIL's <c>convert("RGB")</c> does).
/// </summary>
public sealed class LlavaImageProcessor : IImageProcessor
{
    /// <summary>Largest side a resize, crop or square may have.</summary>
    public const int MaxSide = 4096;

    private static readonly double[] ClipMean = [0.48145466, 0.4578275, 0.40821073];
    private static readonly double[] ClipStd = [0.26862954, 0.26130258, 0.27577711];

    private LlavaImageProcessor(string type, bool pad, int? shortestEdge, (int Height, int Width)? resizeTo, (int Height, int Width)? crop,
        double? rescale, double[]? mean, double[]? std, double[] padMean)
    {
        ProcessorType = type;
        PadToSquare = pad;
        ShortestEdge = shortestEdge;
        ResizeTo = resizeTo;
        Crop = crop;
        RescaleFactor = rescale;
        Mean = mean;
        Std = std;
        _padMean = padMean;
        OutputSize = crop?.Height ?? resizeTo?.Height ?? shortestEdge ?? 0;
    }

    private readonly double[] _padMean;

    /// <summary><c>image_processor_type</c> as the file names it.</summary>
    public string ProcessorType { get; }

    /// <summary>Pad to a square with the mean colour before resizing (<c>do_pad</c>, or the original LLaVA's <c>image_aspect_ratio: "pad"</c>).</summary>
    public bool PadToSquare { get; }

    /// <summary>Resize so the shorter side is this long (<c>size.shortest_edge</c>), or null.</summary>
    public int? ShortestEdge { get; }

    /// <summary>Resize to exactly this size (<c>size.height</c>, <c>size.width</c>), or null.</summary>
    public (int Height, int Width)? ResizeTo { get; }

    /// <summary>Centre crop to this size (<c>crop_size</c> when <c>do_center_crop</c>), or null.</summary>
    public (int Height, int Width)? Crop { get; }

    /// <summary><c>rescale_factor</c> when <c>do_rescale</c>, or null.</summary>
    public double? RescaleFactor { get; }

    /// <summary><c>image_mean</c> when <c>do_normalize</c>, or null.</summary>
    public double[]? Mean { get; }

    /// <summary><c>image_std</c> when <c>do_normalize</c>, or null.</summary>
    public double[]? Std { get; }

    /// <inheritdoc />
    public int OutputSize { get; }

    /// <summary>
    /// Reads <c>preprocessor_config.json</c> in <paramref name="folder"/>. Throws <see cref="LlavaFileException"/> naming
    /// the field when the file is missing, asks for a resampling filter other than bicubic, or would not give a square
    /// output.
    /// </summary>
    public static LlavaImageProcessor Load(string folder)
    {
        var path = Path.Combine(folder, "preprocessor_config.json");
        using var doc = TokenizerJson.Read(path);
        return Parse(doc.RootElement, path);
    }

    private static LlavaImageProcessor Parse(JsonElement root, string file)
    {
        if (root.ValueKind != JsonValueKind.Object) throw new LlavaFileException(file, "the file must hold a JSON object");
        var type = root.TryGetProperty("image_processor_type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString()! : "CLIPImageProcessor";
        var baseType = type.EndsWith("Fast", StringComparison.Ordinal) ? type[..^4] : type;
        var siglip = baseType == "SiglipImageProcessor";
        if (baseType is not ("CLIPImageProcessor" or "LlavaImageProcessor" or "SiglipImageProcessor"))
            throw new LlavaFileException(file, $"image_processor_type \"{type}\" is not supported (CLIPImageProcessor, LlavaImageProcessor or SiglipImageProcessor)");

        bool Flag(string name, bool fallback) => TokenizerJson.Bool(root, name, file) ?? fallback;
        if (root.TryGetProperty("resample", out var resample) && resample.ValueKind != JsonValueKind.Null
            && !(resample.ValueKind == JsonValueKind.Number && resample.TryGetInt32(out var r) && r == 3))
            throw new LlavaFileException(file, "resample must be 3 (bicubic), the filter LLaVA's vision towers are trained with");

        var pad = Flag("do_pad", false)
            || (root.TryGetProperty("image_aspect_ratio", out var aspect) && aspect.ValueKind == JsonValueKind.String && aspect.GetString() == "pad");

        int? shortest = null;
        (int, int)? resizeTo = null;
        if (Flag("do_resize", true))
        {
            if (root.TryGetProperty("size", out var size) && size.ValueKind != JsonValueKind.Null)
            {
                if (size.ValueKind == JsonValueKind.Number) shortest = Side(size, "size", file);
                else if (size.ValueKind == JsonValueKind.Object && size.TryGetProperty("shortest_edge", out var se)) shortest = Side(se, "size.shortest_edge", file);
                else if (size.ValueKind == JsonValueKind.Object && size.TryGetProperty("height", out var h) && size.TryGetProperty("width", out var w))
                    resizeTo = (Side(h, "size.height", file), Side(w, "size.width", file));
                else throw new LlavaFileException(file, "size must hold shortest_edge, or height and width");
                if (siglip && shortest is { } s) { resizeTo = (s, s); shortest = null; }
            }
            else if (siglip) resizeTo = (224, 224);
            else shortest = 224;
        }

        (int, int)? crop = null;
        if (Flag("do_center_crop", !siglip))
        {
            if (root.TryGetProperty("crop_size", out var cs) && cs.ValueKind != JsonValueKind.Null)
            {
                if (cs.ValueKind == JsonValueKind.Number) { var c = Side(cs, "crop_size", file); crop = (c, c); }
                else if (cs.ValueKind == JsonValueKind.Object && cs.TryGetProperty("height", out var ch) && cs.TryGetProperty("width", out var cw))
                    crop = (Side(ch, "crop_size.height", file), Side(cw, "crop_size.width", file));
                else throw new LlavaFileException(file, "crop_size must hold height and width");
            }
            else crop = (224, 224);
        }

        double? rescale = null;
        if (Flag("do_rescale", true))
        {
            rescale = 1 / 255.0;
            if (root.TryGetProperty("rescale_factor", out var rf) && rf.ValueKind != JsonValueKind.Null)
            {
                if (rf.ValueKind != JsonValueKind.Number || !double.IsFinite(rf.GetDouble()) || rf.GetDouble() <= 0)
                    throw new LlavaFileException(file, "rescale_factor must be a positive number");
                rescale = rf.GetDouble();
            }
        }

        var mean = Triple(root, "image_mean", siglip ? [0.5, 0.5, 0.5] : ClipMean, file, allowZero: true);
        double[]? normMean = null, normStd = null;
        if (Flag("do_normalize", true))
        {
            normMean = mean;
            normStd = Triple(root, "image_std", siglip ? [0.5, 0.5, 0.5] : ClipStd, file, allowZero: false);
        }

        if (!Flag("do_convert_rgb", true))
            throw new LlavaFileException(file, "do_convert_rgb false is not supported: images are always decoded to RGB");

        // The vision tower reads a square: whatever comes last must be one.
        (int H, int W)? last = crop ?? resizeTo;
        if (last is null && shortest is { } sh && pad) last = (sh, sh);
        if (last is null) throw new LlavaFileException(file, "the output would not have a fixed size: set crop_size (with do_center_crop) or size.height and size.width");
        if (last.Value.H != last.Value.W) throw new LlavaFileException(file, $"the output would be {last.Value.H}×{last.Value.W}; the vision tower reads a square");
        return new LlavaImageProcessor(type, pad, shortest, resizeTo, crop, rescale, normMean, normStd, mean);
    }

    private static int Side(JsonElement value, string name, string file)
    {
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt32(out var side) || side < 1 || side > MaxSide)
            throw new LlavaFileException(file, $"{name} must be a whole number from 1 to {MaxSide}");
        return side;
    }

    private static double[] Triple(JsonElement root, string name, double[] fallback, string file, bool allowZero)
    {
        if (!root.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return fallback;
        double One(JsonElement e)
        {
            if (e.ValueKind != JsonValueKind.Number || !double.IsFinite(e.GetDouble()) || (!allowZero && e.GetDouble() == 0))
                throw new LlavaFileException(file, $"{name} must hold finite numbers{(allowZero ? "" : " other than 0")}");
            return e.GetDouble();
        }
        if (v.ValueKind == JsonValueKind.Number) { var x = One(v); return [x, x, x]; }
        if (v.ValueKind != JsonValueKind.Array || v.GetArrayLength() != 3) throw new LlavaFileException(file, $"{name} must be a number or a list of 3 numbers");
        return [One(v[0]), One(v[1]), One(v[2])];
    }

    /// <inheritdoc />
    public Tensor Process(RgbImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        var pixels = image.Pixels;
        int width = image.Width, height = image.Height;
        // transformers commit bf777f4ca88a31322a765c0010e02762d3ff65be src/transformers/models/llava/image_processing_llava.py
        // L409–L414: pad to a square with the mean colour first, then resize (L416–L417).
        if (PadToSquare && width != height)
        {
            var side = (long)Math.Max(width, height);
            if (side * side > ImageHeader.MaxPixels) throw TooElongated(image, $"padded to a square it would be {side}×{side} pixels");
            (pixels, width, height) = Square(pixels, width, height);
        }
        if (ShortestEdge is { } edge)
        {
            var (h, w) = ShortestEdgeSize(height, width, edge);
            if ((long)h * w > ImageHeader.MaxPixels) throw TooElongated(image, $"resized to a shortest edge of {edge} it would be {w}×{h} pixels");
            (pixels, width, height) = (BicubicResize.Resize(pixels, width, height, w, h), w, h);
        }
        else if (ResizeTo is { } to)
            (pixels, width, height) = (BicubicResize.Resize(pixels, width, height, to.Width, to.Height), to.Width, to.Height);

        // transformers commit 8f3e5ebe573f12bad1e1a7fce9e6589311f041ed src/transformers/models/clip/image_processing_clip.py L290–L293
        // and transformers commit bf777f4ca88a31322a765c0010e02762d3ff65be src/transformers/models/llava/image_processing_llava.py L419–L420: the centre crop
        // after the resize (the crop itself is BaseImageProcessor.center_crop, not cited by line).
        var (outH, outW) = Crop ?? (height, width);
        // transformers' centre crop: top-left at floor((size - crop) / 2), zeros where the crop reaches past the image.
        var top = FloorDiv(height - outH, 2);
        var left = FloorDiv(width - outW, 2);
        var plane = outH * outW;
        var data = new float[3 * plane];
        var mean = new float[3];
        var std = new float[3];
        for (var c = 0; c < 3; c++) { mean[c] = (float)(Mean?[c] ?? 0); std[c] = (float)(Std?[c] ?? 1); }
        for (var y = 0; y < outH; y++)
        for (var x = 0; x < outW; x++)
        {
            int sy = y + top, sx = x + left;
            var inside = sy >= 0 && sy < height && sx >= 0 && sx < width;
            for (var c = 0; c < 3; c++)
            {
                var v = inside ? pixels[(sy * width + sx) * 3 + c] : (byte)0;
                // transformers commit 8f3e5ebe573f12bad1e1a7fce9e6589311f041ed src/transformers/models/clip/image_processing_clip.py L295–L305
                // and transformers commit bf777f4ca88a31322a765c0010e02762d3ff65be src/transformers/models/llava/image_processing_llava.py L422–L428:
                // rescale by rescale_factor, then normalise with image_mean and image_std.
                // As numpy does it: rescale in float64 then cast to float32; normalise in float32.
                var value = RescaleFactor is { } f ? (float)(v * f) : v;
                if (Mean is not null) value = (value - mean[c]) / std[c];
                data[c * plane + y * outW + x] = value;
            }
        }
        return tensor(data, [3, outH, outW]);
    }

    private static UnreadableImageException TooElongated(RgbImage image, string what) => new("image",
        $"it is {image.Width}×{image.Height} pixels; {what}, more than the {ImageHeader.MaxPixels / 1_000_000} megapixels accepted", tooLarge: true);

    /// <summary>transformers' get_resize_output_image_size for an int size: the short side becomes <paramref name="edge"/>, the long one int(edge × long / short).</summary>
    // transformers commit 8f3e5ebe573f12bad1e1a7fce9e6589311f041ed src/transformers/models/clip/image_processing_clip.py
    // L123–L161 (CLIPImageProcessor.resize: size["shortest_edge"] with default_to_square=False, L151–L153);
    // transformers commit bf777f4ca88a31322a765c0010e02762d3ff65be src/transformers/models/llava/image_processing_llava.py
    // L230–L277 (LlavaImageProcessor.resize: shortest_edge L256–L258, or height and width L259–L260, L264–L269).
    public static (int Height, int Width) ShortestEdgeSize(int height, int width, int edge)
    {
        var (shortSide, longSide) = width <= height ? (width, height) : (height, width);
        var newLong = (int)Math.Min(int.MaxValue, edge * (double)longSide / shortSide);
        return width <= height ? (newLong, edge) : (edge, newLong);
    }

    /// <summary>The original LLaVA's expand2square: the image centred on a square of the mean colour (each channel int(mean × 255)).</summary>
    // transformers commit bf777f4ca88a31322a765c0010e02762d3ff65be src/transformers/models/llava/image_processing_llava.py
    // L151–L227 (LlavaImageProcessor.pad_to_square: unchanged when square L185–L191, side max(height, width) L193,
    // filled with the background colour and the image placed at (side − short) // 2, channels last L213–L222); the
    // colour is tuple(int(x × 255) for x in image_mean) at L412.
    private (byte[] Pixels, int Width, int Height) Square(byte[] pixels, int width, int height)
    {
        var side = Math.Max(width, height);
        var output = new byte[side * side * 3];
        var fill = new byte[3];
        for (var c = 0; c < 3; c++) fill[c] = (byte)Math.Clamp((int)(_padMean[c] * 255), 0, 255);
        for (var p = 0; p < side * side; p++) { output[3 * p] = fill[0]; output[3 * p + 1] = fill[1]; output[3 * p + 2] = fill[2]; }
        int x0 = width < side ? (side - width) / 2 : 0, y0 = height < side ? (side - height) / 2 : 0;
        for (var y = 0; y < height; y++)
            Array.Copy(pixels, y * width * 3, output, ((y0 + y) * side + x0) * 3, width * 3);
        return (output, side, side);
    }

    private static int FloorDiv(int a, int b) => (int)Math.Floor(a / (double)b);
}
