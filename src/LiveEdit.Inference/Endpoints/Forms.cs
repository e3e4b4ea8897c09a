using LiveEdit.Inference.Errors;

namespace LiveEdit.Inference.Endpoints;

/// <summary>Reading multipart forms with clear errors.</summary>
internal static class Forms
{
    /// <summary>Largest image file accepted, in bytes.</summary>
    public const int MaxImageBytes = 10 * 1024 * 1024;

    public static async Task<IFormCollection> ReadFormAsync(HttpRequest request, CancellationToken ct)
    {
        if (!request.HasFormContentType)
            throw new RequestInputException("not_a_form", "send multipart/form-data (fields and an 'image' file)", StatusCodes.Status415UnsupportedMediaType);
        return await request.ReadFormAsync(ct);
    }

    public static string Required(IFormCollection form, string name, int maxLength)
    {
        var value = form[name].ToString();
        if (string.IsNullOrWhiteSpace(value)) throw new RequestInputException("missing_field", $"'{name}' is required and must not be empty");
        if (value.Length > maxLength) throw new RequestInputException("field_too_long", $"'{name}' is {value.Length} characters; at most {maxLength}");
        return value;
    }

    public static string? Optional(IFormCollection form, string name, int maxLength)
    {
        var value = form[name].ToString();
        if (string.IsNullOrWhiteSpace(value)) return null;
        if (value.Length > maxLength) throw new RequestInputException("field_too_long", $"'{name}' is {value.Length} characters; at most {maxLength}");
        return value;
    }

    public static async Task<byte[]?> ImageAsync(IFormCollection form, bool required, CancellationToken ct)
    {
        var file = form.Files.GetFile("image");
        if (file is null)
        {
            if (required) throw new RequestInputException("missing_image", "an 'image' file is required");
            return null;
        }
        if (file.Length == 0) throw new RequestInputException("empty_image", "the 'image' file is empty");
        if (file.Length > MaxImageBytes)
            throw new RequestInputException("image_too_large", $"the image is {file.Length} bytes; at most {MaxImageBytes}", StatusCodes.Status413PayloadTooLarge);
        using var buffer = new MemoryStream((int)file.Length);
        await file.CopyToAsync(buffer, ct);
        return buffer.ToArray();
    }
}
