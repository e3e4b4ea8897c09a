using LiveEdit.Model.Images;
using LiveEdit.Research.World;
using Shouldly;
using Xunit;

namespace LiveEdit.Model.Tests;

public sealed class reading_user_images : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("liveedit-png-").FullName;

    [Fact]
    public void a_rendering_round_trips_through_png_byte_for_byte()
    {
        var world = new SynthWorld(WorldConfig.Default);
        var image = world.Render(world.KnownEntities[3], RenderSplit.Demo, 0);
        var path = Path.Combine(_folder, "entity.png");
        image.SavePng(path);
        var back = RgbImage.LoadForModel(path, world.ImageSize);
        back.Pixels.ShouldBe(image.Pixels);
        using var t = back.ToTensor();
        t.shape.ShouldBe([3L, 32, 32]);
    }

    [Fact]
    public void a_png_of_another_size_is_cropped_and_resized_to_the_model_input()
    {
        // 100×60 image: left half red, right half blue; centre crop is 60×60, resized to 32×32.
        var pixels = new byte[100 * 60 * 3];
        for (var y = 0; y < 60; y++)
        for (var x = 0; x < 100; x++)
        {
            var p = (y * 100 + x) * 3;
            if (x < 50) pixels[p] = 200; else pixels[p + 2] = 200;
        }
        var path = Path.Combine(_folder, "wide.png");
        new RgbImage(100, 60, pixels).SavePng(path);

        var image = RgbImage.LoadForModel(path, 32);
        image.Width.ShouldBe(32);
        image.Height.ShouldBe(32);
        image.Pixels[(16 * 32 + 2) * 3].ShouldBe((byte)200, "left side stays red");
        image.Pixels[(16 * 32 + 29) * 3 + 2].ShouldBe((byte)200, "right side stays blue");

        var small = RgbImage.Decode(new RgbImage(8, 8, Enumerable.Repeat((byte)90, 8 * 8 * 3).ToArray()).ToPng()).ToModelInput(32);
        small.Pixels.ShouldAllBe(b => b == 90, "upscaling a flat image keeps it flat");
    }

    [Fact]
    public void a_corrupt_png_gives_a_clear_error()
    {
        var png = new RgbImage(16, 16, new byte[16 * 16 * 3]).ToPng();
        var path = Path.Combine(_folder, "corrupt.png");
        File.WriteAllBytes(path, png[..40]);  // header only, data cut off
        var error = Should.Throw<UnreadableImageException>(() => RgbImage.Load(path));
        error.Message.ShouldContain("corrupt.png");
        error.Message.ShouldContain("PNG");
    }

    [Fact]
    public void a_file_that_is_not_an_image_gives_a_clear_error()
    {
        var path = Path.Combine(_folder, "notes.txt");
        File.WriteAllText(path, "this is not an image");
        var error = Should.Throw<UnreadableImageException>(() => RgbImage.Load(path));
        error.Reason.ShouldContain("not a PNG");

        Should.Throw<UnreadableImageException>(() => RgbImage.Decode([])).Reason.ShouldContain("empty");
        Should.Throw<UnreadableImageException>(() => RgbImage.Load(Path.Combine(_folder, "missing.png"))).Reason.ShouldContain("does not exist");
    }

    public void Dispose() => Directory.Delete(_folder, recursive: true);
}
