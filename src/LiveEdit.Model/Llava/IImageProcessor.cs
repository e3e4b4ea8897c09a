using LiveEdit.Model.Images;
using static TorchSharp.torch;

namespace LiveEdit.Model.Llava;

/// <summary>A checkpoint's image preprocessing: a decoded image to the pixel tensor its vision tower reads.</summary>
public interface IImageProcessor
{
    /// <summary>Side of the square tensor <see cref="Process"/> returns.</summary>
    int OutputSize { get; }

    /// <summary>[3, OutputSize, OutputSize] float32 (resized, cropped, rescaled and normalised), in the caller's dispose scope.</summary>
    Tensor Process(RgbImage image);
}
