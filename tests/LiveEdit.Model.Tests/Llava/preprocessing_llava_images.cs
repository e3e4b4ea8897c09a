using LiveEdit.Model.Images;
using LiveEdit.Model.Llava;
using Shouldly;
using StbImageWriteSharp;
using Xunit;
using static TorchSharp.torch;
using T = LiveEdit.Testing.Llava.TinyTokenizerFiles;

namespace LiveEdit.Model.Tests.Llava;

/// <summary>
/// The image processor against pixels computed by hand. The bicubic weights for shrinking 4 pixels to 2 are derived from
/// PIL's kernel (a = −0.5): the scale is 2, so the support widens to 4 and the kernel is read at (x − 1 + 0.5) / 2 for
/// taps x = 0…3 around centre 1: K(−0.25) = K(0.25) = 0.8671875, K(0.75) = 0.2265625, K(1.25) = −0.0703125, summing to
/// 1.890625; the second output pixel mirrors them.
/// </summary>
public sealed class preprocessing_llava_images : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("liveedit-processor-").FullName;

    private static readonly double[] HandWeights = [0.8671875 / 1.890625, 0.8671875 / 1.890625, 0.2265625 / 1.890625, -0.0703125 / 1.890625];

    private LlavaImageProcessor Processor(string json)
    {
        File.WriteAllText(Path.Combine(_folder, "preprocessor_config.json"), json);
        return LlavaImageProcessor.Load(_folder);
    }

    private static float[,,] Values(Tensor t)
    {
        using var _ = t;
        var shape = t.shape;
        var data = t.data<float>().ToArray();
        var result = new float[shape[0], shape[1], shape[2]];
        for (var c = 0; c < shape[0]; c++)
        for (var y = 0; y < shape[1]; y++)
        for (var x = 0; x < shape[2]; x++)
            result[c, y, x] = data[(c * shape[1] + y) * shape[2] + x];
        return result;
    }

    /// <summary>4 → 2 with the hand-derived weights, rounded to a byte as PIL's fixed point does away from ties.</summary>
    private static int[] HandShrink(int a, int b, int c, int d)
    {
        int[] v = [a, b, c, d];
        double first = 0, second = 0;
        for (var i = 0; i < 4; i++) { first += HandWeights[i] * v[i]; second += HandWeights[3 - i] * v[i]; }
        return [Math.Clamp((int)Math.Floor(first + 0.5), 0, 255), Math.Clamp((int)Math.Floor(second + 0.5), 0, 255)];
    }

    [Fact]
    public void the_bicubic_weights_for_shrinking_four_pixels_to_two_are_the_hand_derived_ones()
    {
        BicubicResize.Kernel(0.25).ShouldBe(0.8671875);
        BicubicResize.Kernel(0.75).ShouldBe(0.2265625);
        BicubicResize.Kernel(1.25).ShouldBe(-0.0703125);
        BicubicResize.Kernel(2.5).ShouldBe(0);
        var (start, count, weights) = BicubicResize.Coefficients(4, 2);
        start.ShouldBe([0, 0]);
        count.ShouldBe([4, 4]);
        for (var i = 0; i < 4; i++)
        {
            weights[0][i].ShouldBe(HandWeights[i], 1e-12);
            weights[1][i].ShouldBe(HandWeights[3 - i], 1e-12);
        }
    }

    [Fact]
    public void a_four_by_four_image_shrinks_to_the_hand_computed_two_by_two()
    {
        // Rows of distinct values; red varies along x, green along y, blue both ways.
        int[,] red = { { 0, 100, 200, 255 }, { 10, 90, 180, 250 }, { 30, 60, 90, 120 }, { 255, 0, 255, 0 } };
        var pixels = new byte[4 * 4 * 3];
        for (var y = 0; y < 4; y++)
        for (var x = 0; x < 4; x++)
        {
            pixels[(y * 4 + x) * 3] = (byte)red[y, x];
            pixels[(y * 4 + x) * 3 + 1] = (byte)red[x, y];
            pixels[(y * 4 + x) * 3 + 2] = (byte)(40 * x + 20 * y);
        }
        var processor = Processor("""{"image_processor_type":"CLIPImageProcessor","size":{"shortest_edge":2},"crop_size":{"height":2,"width":2},"do_rescale":false,"do_normalize":false,"resample":3}""");
        processor.OutputSize.ShouldBe(2);
        var output = Values(processor.Process(new RgbImage(4, 4, pixels)));

        for (var c = 0; c < 3; c++)
        {
            // Horizontal pass first, each row rounded to bytes; then the vertical pass over those bytes.
            var rows = new int[4][];
            for (var y = 0; y < 4; y++)
                rows[y] = HandShrink(pixels[(y * 4) * 3 + c], pixels[(y * 4 + 1) * 3 + c], pixels[(y * 4 + 2) * 3 + c], pixels[(y * 4 + 3) * 3 + c]);
            for (var x = 0; x < 2; x++)
            {
                var column = HandShrink(rows[0][x], rows[1][x], rows[2][x], rows[3][x]);
                output[c, 0, x].ShouldBe(column[0], $"channel {c}, (0, {x})");
                output[c, 1, x].ShouldBe(column[1], $"channel {c}, (1, {x})");
            }
        }
        // One value worked through in full: red row 0 = 0, 100, 200, 255 → 0.4587·100 + 0.1198·200 − 0.0372·255 = 60.35 → 60.
        HandShrink(0, 100, 200, 255)[0].ShouldBe(60);
    }

    [Fact]
    public void rescale_and_normalise_use_the_clip_mean_and_std()
    {
        T.WriteClipPreprocessor(_folder, 2);
        var processor = LlavaImageProcessor.Load(_folder);
        byte[] pixels = [255, 0, 128, 255, 0, 128, 255, 0, 128, 255, 0, 128];
        var output = Values(processor.Process(new RgbImage(2, 2, pixels)));
        // (255/255 − 0.48145466) / 0.26862954, (0 − 0.4578275) / 0.26130258, (128/255 − 0.40821073) / 0.27577711.
        output[0, 1, 1].ShouldBe(1.9303361f, 1e-5f);
        output[1, 0, 0].ShouldBe(-1.7520971f, 1e-5f);
        output[2, 1, 0].ShouldBe(0.3399486f, 1e-5f);
    }

    [Fact]
    public void pad_to_square_centres_the_image_on_the_mean_colour()
    {
        T.WriteClipPreprocessor(_folder, 5, pad: true);
        var json = File.ReadAllText(Path.Combine(_folder, "preprocessor_config.json"))
            .Replace("\"do_normalize\": true", "\"do_normalize\": false", StringComparison.Ordinal)
            .Replace("\"do_rescale\": true", "\"do_rescale\": false", StringComparison.Ordinal);
        var processor = Processor(json);
        processor.PadToSquare.ShouldBeTrue();
        // 5 wide, 2 tall, white: the square is 5×5 with the image in rows (5 − 2) // 2 = 1 and 2; no resize is needed.
        var output = Values(processor.Process(new RgbImage(5, 2, Enumerable.Repeat((byte)255, 5 * 2 * 3).ToArray())));
        // int(0.48145466 × 255) = 122, int(0.4578275 × 255) = 116, int(0.40821073 × 255) = 104.
        float[] fill = [122, 116, 104];
        for (var y = 0; y < 5; y++)
        for (var x = 0; x < 5; x++)
        for (var c = 0; c < 3; c++)
            output[c, y, x].ShouldBe(y is 1 or 2 ? 255 : fill[c]);

        // 2 wide, 5 tall: the image in columns 1 and 2.
        output = Values(processor.Process(new RgbImage(2, 5, Enumerable.Repeat((byte)0, 5 * 2 * 3).ToArray())));
        for (var y = 0; y < 5; y++)
        for (var x = 0; x < 5; x++)
            output[0, y, x].ShouldBe(x is 1 or 2 ? 0 : 122);
    }

    [Fact]
    public void the_original_llava_aspect_ratio_setting_pads_too()
    {
        var processor = Processor("""{"image_aspect_ratio":"pad","size":{"shortest_edge":4},"crop_size":{"height":4,"width":4}}""");
        processor.PadToSquare.ShouldBeTrue();
    }

    [Fact]
    public void the_shortest_edge_keeps_the_aspect_ratio_truncated_as_transformers_does()
    {
        // A 333×500 portrait to shortest edge 336: the long side is int(336 × 500 / 333) = int(504.50…) = 504.
        LlavaImageProcessor.ShortestEdgeSize(height: 500, width: 333, edge: 336).ShouldBe((504, 336));
        LlavaImageProcessor.ShortestEdgeSize(height: 3, width: 5, edge: 2).ShouldBe((2, 3));
        LlavaImageProcessor.ShortestEdgeSize(height: 7, width: 7, edge: 2).ShouldBe((2, 2));
    }

    [Fact]
    public void an_odd_aspect_ratio_is_resized_then_cropped_in_the_centre()
    {
        // 6 wide, 2 tall: shortest edge 2 leaves it as is (6×2); the centre crop 2×2 starts at column (6 − 2) // 2 = 2.
        var pixels = new byte[6 * 2 * 3];
        for (var y = 0; y < 2; y++)
        for (var x = 0; x < 6; x++) pixels[(y * 6 + x) * 3] = (byte)(10 * x + y);
        var processor = Processor("""{"size":{"shortest_edge":2},"crop_size":{"height":2,"width":2},"do_rescale":false,"do_normalize":false}""");
        var output = Values(processor.Process(new RgbImage(6, 2, pixels)));
        output[0, 0, 0].ShouldBe(20);
        output[0, 0, 1].ShouldBe(30);
        output[0, 1, 0].ShouldBe(21);
        output[0, 1, 1].ShouldBe(31);
    }

    [Fact]
    public void siglip_resizes_to_height_by_width_and_normalises_with_one_half()
    {
        T.WriteSiglipPreprocessor(_folder, 2);
        var processor = LlavaImageProcessor.Load(_folder);
        processor.Crop.ShouldBeNull();
        var pixels = new byte[4 * 4 * 3];
        int[] row = [0, 100, 200, 255];
        for (var y = 0; y < 4; y++)
        for (var x = 0; x < 4; x++) pixels[(y * 4 + x) * 3] = (byte)row[x];
        var output = Values(processor.Process(new RgbImage(4, 4, pixels)));
        // Every row is 0, 100, 200, 255 → 60, 221 (hand weights: 0.1198·100 + 0.4587·200 + 0.4587·255 = 220.7); columns are constant so the vertical pass keeps them.
        var shrunk = HandShrink(0, 100, 200, 255);
        shrunk.ShouldBe([60, 221]);
        output[0, 0, 0].ShouldBe(((float)(60 / 255.0) - 0.5f) / 0.5f, 1e-6f);
        output[0, 1, 1].ShouldBe(((float)(221 / 255.0) - 0.5f) / 0.5f, 1e-6f);
        output[1, 0, 0].ShouldBe(-1f);
    }

    [Fact]
    public void grey_and_rgba_pngs_are_read_as_pil_converts_them_to_rgb()
    {
        var grey = new byte[] { 0, 50, 100, 150, 200, 250 };
        var greyPath = Path.Combine(_folder, "grey.png");
        using (var s = File.Create(greyPath)) new ImageWriter().WritePng(grey, 3, 2, ColorComponents.Grey, s);
        var image = RgbImage.Load(greyPath);
        for (var p = 0; p < 6; p++) image.Pixels[(3 * p)..(3 * p + 3)].ShouldBe([grey[p], grey[p], grey[p]]);

        // convert("RGB") drops alpha without blending: a fully transparent pixel keeps its colour.
        var rgba = new byte[] { 10, 20, 30, 0, 40, 50, 60, 128, 70, 80, 90, 255, 1, 2, 3, 4 };
        var rgbaPath = Path.Combine(_folder, "rgba.png");
        using (var s = File.Create(rgbaPath)) new ImageWriter().WritePng(rgba, 2, 2, ColorComponents.RedGreenBlueAlpha, s);
        RgbImage.Load(rgbaPath).Pixels.ShouldBe(new byte[] { 10, 20, 30, 40, 50, 60, 70, 80, 90, 1, 2, 3 });

        // The grey image through the processor: every channel normalised from the same byte.
        T.WriteClipPreprocessor(_folder, 2);
        var output = Values(LlavaImageProcessor.Load(_folder).Process(image));
        output[0, 0, 0].ShouldBe(output[1, 0, 0] * 0.26130258f / 0.26862954f + (0.4578275f - 0.48145466f) / 0.26862954f, 1e-5f);
    }

    [Fact]
    public void a_grey_jpeg_of_odd_aspect_ratio_comes_out_as_one_normalised_colour()
    {
        var path = Path.Combine(_folder, "grey.jpg");
        using (var s = File.Create(path)) new ImageWriter().WriteJpg(Enumerable.Repeat((byte)200, 8 * 16).ToArray(), 8, 16, ColorComponents.Grey, s, 95);
        var image = RgbImage.Load(path);
        var decoded = image.Pixels[0];
        image.Pixels.ShouldAllBe(b => b == decoded);
        T.WriteClipPreprocessor(_folder, 4);
        var processor = LlavaImageProcessor.Load(_folder);
        // 8×16 → shortest edge 4 → 4×8 → centre crop 4×4; a constant image stays constant through PIL's bicubic.
        var output = Values(processor.Process(image));
        output.GetLength(1).ShouldBe(4);
        output.GetLength(2).ShouldBe(4);
        double[] mean = [0.48145466, 0.4578275, 0.40821073], std = [0.26862954, 0.26130258, 0.27577711];
        for (var c = 0; c < 3; c++)
        for (var y = 0; y < 4; y++)
        for (var x = 0; x < 4; x++)
            output[c, y, x].ShouldBe(((float)(decoded / 255.0) - (float)mean[c]) / (float)std[c], 1e-6f);
    }

    [Fact]
    public void resizing_gives_pillows_own_bytes()
    {
        // Fixtures/pil-bicubic.json holds random images and Pillow's bicubic resizes of them (Fixtures/pil_bicubic.py):
        // shrinking by up to 61 times, growing, one axis at a time, and the size unchanged.
        var path = Path.Combine(LiveEdit.Testing.RepositoryRoot.Path, "tests", "LiveEdit.Model.Tests", "Llava", "Fixtures", "pil-bicubic.json");
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(path));
        var compared = 0;
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            int w = c.GetProperty("width").GetInt32(), h = c.GetProperty("height").GetInt32();
            var pixels = Convert.FromBase64String(c.GetProperty("pixels").GetString()!);
            foreach (var r in c.GetProperty("resized").EnumerateArray())
            {
                int tw = r.GetProperty("width").GetInt32(), th = r.GetProperty("height").GetInt32();
                BicubicResize.Resize(pixels, w, h, tw, th).ShouldBe(Convert.FromBase64String(r.GetProperty("pixels").GetString()!), $"{w}×{h} → {tw}×{th}");
                compared++;
            }
        }
        compared.ShouldBe(12);
    }

    [Fact]
    public void png_files_come_out_as_transformers_processes_them_and_jpeg_files_within_the_decoders_difference()
    {
        // Fixtures/clip-pipeline.json (Fixtures/clip_pipeline.py): RGBA, grey, palette PNGs and an RGB JPEG of odd aspect
        // ratios, each through the CLIP, CLIP-with-pad and SigLIP steps with Pillow and numpy as transformers runs them.
        var path = Path.Combine(LiveEdit.Testing.RepositoryRoot.Path, "tests", "LiveEdit.Model.Tests", "Llava", "Fixtures", "clip-pipeline.json");
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllText(path));
        var maxJpegDifference = 0;
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            var name = c.GetProperty("name").GetString()!;
            var decoded = RgbImage.Decode(Convert.FromBase64String(c.GetProperty("file").GetString()!), name);
            var pillow = new RgbImage(c.GetProperty("width").GetInt32(), c.GetProperty("height").GetInt32(), Convert.FromBase64String(c.GetProperty("rgb").GetString()!));
            var jpeg = name.EndsWith(".jpg", StringComparison.Ordinal);
            if (jpeg)
                for (var i = 0; i < pillow.Pixels.Length; i++) maxJpegDifference = Math.Max(maxJpegDifference, Math.Abs(decoded.Pixels[i] - pillow.Pixels[i]));
            else
                decoded.Pixels.ShouldBe(pillow.Pixels, name);
            foreach (var o in c.GetProperty("outputs").EnumerateArray())
            {
                var side = o.GetProperty("side").GetInt32();
                switch (o.GetProperty("kind").GetString())
                {
                    case "clip": T.WriteClipPreprocessor(_folder, side); break;
                    case "clip-pad": T.WriteClipPreprocessor(_folder, side, pad: true); break;
                    default: T.WriteSiglipPreprocessor(_folder, side); break;
                }
                var bytes = Convert.FromBase64String(o.GetProperty("values").GetString()!);
                var expected = new float[bytes.Length / 4];
                Buffer.BlockCopy(bytes, 0, expected, 0, bytes.Length);
                using var t = LlavaImageProcessor.Load(_folder).Process(jpeg ? pillow : decoded);
                t.shape.ShouldBe([3L, side, side]);
                t.data<float>().ToArray().ShouldBe(expected, $"{name} {o.GetProperty("kind").GetString()}");
            }
        }
        // stb_image's JPEG decoder is not libjpeg's: its pixels differ by a few levels, so a JPEG is compared through
        // Pillow's own decoding above; this bounds the difference (3 levels measured on this 4:2:0 file).
        maxJpegDifference.ShouldBeLessThanOrEqualTo(4);
    }

    [Fact]
    public void a_constant_colour_survives_any_resize()
    {
        var pixels = Enumerable.Range(0, 37 * 23).SelectMany(_ => new byte[] { 7, 128, 254 }).ToArray();
        foreach (var (w, h) in new[] { (5, 3), (100, 61), (37, 4) })
        {
            var resized = BicubicResize.Resize(pixels, 37, 23, w, h);
            for (var p = 0; p < w * h; p++) resized[(3 * p)..(3 * p + 3)].ShouldBe(new byte[] { 7, 128, 254 });
        }
    }

    [Fact]
    public void an_image_too_elongated_to_pad_or_resize_is_refused_as_too_large()
    {
        // Padded to a square, 7000×1 would be 49 megapixels; shrunk to a shortest edge of 336, 100000×1 would be
        // 33.6 million pixels wide. Both are refused before anything is allocated.
        T.WriteClipPreprocessor(_folder, 336, pad: true);
        var padding = LlavaImageProcessor.Load(_folder);
        Should.Throw<UnreadableImageException>(() => padding.Process(new RgbImage(7000, 1, new byte[7000 * 3]))).TooLarge.ShouldBeTrue();
        T.WriteClipPreprocessor(_folder, 336);
        var resizing = LlavaImageProcessor.Load(_folder);
        Should.Throw<UnreadableImageException>(() => resizing.Process(new RgbImage(100_000, 1, new byte[100_000 * 3]))).TooLarge.ShouldBeTrue();
    }

    [Theory]
    [InlineData("""{"resample":2,"size":{"shortest_edge":4},"crop_size":{"height":4,"width":4}}""", "resample")]
    [InlineData("""{"size":{"shortest_edge":4},"crop_size":{"height":4,"width":3}}""", "square")]
    [InlineData("""{"size":{"shortest_edge":4},"crop_size":{"height":4,"width":4},"image_std":[0.5,0,0.5]}""", "image_std")]
    [InlineData("""{"size":{"shortest_edge":0},"crop_size":{"height":4,"width":4}}""", "size.shortest_edge")]
    [InlineData("""{"size":{"shortest_edge":4},"do_center_crop":false}""", "fixed size")]
    [InlineData("""{"image_processor_type":"Qwen2VLImageProcessor"}""", "image_processor_type")]
    [InlineData("""{"size":{"shortest_edge":4},"crop_size":4,"rescale_factor":-1}""", "rescale_factor")]
    public void a_preprocessor_config_the_model_cannot_use_is_refused_naming_the_field(string json, string field)
    {
        Should.Throw<LlavaFileException>(() => Processor(json)).Message.ShouldContain(field);
    }

    [Fact]
    public void the_published_configs_give_the_towers_input_sizes()
    {
        T.WriteClipPreprocessor(_folder, 336);
        LlavaImageProcessor.Load(_folder).OutputSize.ShouldBe(336);
        T.WriteSiglipPreprocessor(_folder, 384);
        LlavaImageProcessor.Load(_folder).OutputSize.ShouldBe(384);
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
