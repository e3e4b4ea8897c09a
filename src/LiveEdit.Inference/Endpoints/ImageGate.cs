using LiveEdit.Hosting.Serving;
using LiveEdit.Inference.Errors;
using LiveEdit.Model.Images;

namespace LiveEdit.Inference.Endpoints;

/// <summary>
/// Where uploaded images are decoded: the header is checked first (format, pixels, decoded bytes, truncation), then
/// at most <c>Images:MaxConcurrentDecodes</c> decodes run at once; a request that cannot get a slot within
/// <c>Images:DecodeWaitMilliseconds</c> is answered 503 with Retry-After, so a burst of large images cannot take
/// the host's memory.
/// </summary>
public sealed class ImageGate(IConfiguration configuration) : IDisposable
{
    private readonly SemaphoreSlim _slots = new(Math.Max(1, configuration.GetValue("Images:MaxConcurrentDecodes", 2)));
    private readonly TimeSpan _wait = TimeSpan.FromMilliseconds(Math.Max(0, configuration.GetValue("Images:DecodeWaitMilliseconds", 2_000)));

    /// <summary>The decoded image (the model brings it to its own input when it uses it); throws <see cref="UnreadableImageException"/> (415/422) or 503 when saturated.</summary>
    public async Task<RgbImage> DecodeAsync(ModelRuntime runtime, byte[] bytes, string source, CancellationToken ct)
    {
        ImageHeader.Check(bytes, source);
        if (!await _slots.WaitAsync(_wait, ct))
        {
            throw new RequestInputException("decoder_busy", "every image decoder is busy; retry in a second", StatusCodes.Status503ServiceUnavailable,
                headers: new Dictionary<string, string> { ["Retry-After"] = "1" });
        }
        try
        {
            return runtime.ReadImage(bytes, source);
        }
        finally
        {
            _slots.Release();
        }
    }

    public void Dispose() => _slots.Dispose();
}
