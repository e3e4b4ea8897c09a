using LiveEdit.Inference.Errors;
using LiveEdit.Model.Text;
using Microsoft.AspNetCore.Http.Features;

namespace LiveEdit.Inference.Endpoints;

/// <summary>Reading multipart forms with clear errors.</summary>
internal static class Forms
{
    /// <summary>Largest image file accepted, in bytes.</summary>
    public const int MaxImageBytes = 10 * 1024 * 1024;

    /// <summary>Limits of the form reader: a request that exceeds one is a 400, not a 500.</summary>
    public static void Limit(FormOptions options)
    {
        options.ValueCountLimit = 64;
        options.KeyLengthLimit = 64;
        options.ValueLengthLimit = 64 * 1024;
        options.MultipartBoundaryLengthLimit = 70; // RFC 2046's maximum
        options.MultipartHeadersCountLimit = 8;
        options.MultipartHeadersLengthLimit = 4096;
    }

    public static async Task<IFormCollection> ReadFormAsync(HttpRequest request, IReadOnlySet<string> fields, CancellationToken ct)
    {
        if (!request.HasFormContentType)
            throw new RequestInputException("not_a_form", "send multipart/form-data (fields and an 'image' file)", StatusCodes.Status415UnsupportedMediaType);
        IFormCollection form;
        try
        {
            form = await request.ReadFormAsync(ct);
        }
        catch (InvalidDataException e)
        {
            // The form reader's own limits and syntax checks (boundary missing or too long, too many values, …).
            throw new RequestInputException("malformed_form", $"the form cannot be read: {Printable.Excerpt(e.Message, 120)}");
        }
        catch (IOException) when (!ct.IsCancellationRequested)
        {
            throw new RequestInputException("malformed_form", "the form ends before its closing boundary (truncated body)");
        }
        foreach (var key in form.Keys)
        {
            if (!fields.Contains(key)) throw new RequestInputException("unknown_field", $"unknown field '{Printable.Excerpt(key)}' (known: {string.Join(", ", fields)})");
        }
        foreach (var file in form.Files)
        {
            if (file.Name != "image") throw new RequestInputException("unknown_field", $"unknown file field '{Printable.Excerpt(file.Name)}' (only 'image')");
        }
        if (form.Files.Count > 1) throw new RequestInputException("duplicate_field", "'image' is given more than once");
        return form;
    }

    public static string Required(IFormCollection form, string name, int maxLength, string allowedControls = "") =>
        Optional(form, name, maxLength, allowedControls) ?? throw new RequestInputException("missing_field", $"'{name}' is required and must not be empty");

    public static string? Optional(IFormCollection form, string name, int maxLength, string allowedControls = "")
    {
        var values = form[name];
        if (values.Count > 1) throw new RequestInputException("duplicate_field", $"'{name}' is given {values.Count} times; give it once");
        var value = values.ToString();
        if (string.IsNullOrWhiteSpace(value)) return null;
        return Text(name, value, maxLength, allowedControls);
    }

    /// <summary>Checks one text value: length, control characters, broken UTF-16.</summary>
    public static string Text(string name, string value, int maxLength, string allowedControls = "")
    {
        if (value.Length > maxLength) throw new RequestInputException("field_too_long", $"'{name}' is {value.Length} characters; at most {maxLength}");
        var at = Printable.FirstControl(value, allowedControls);
        if (at >= 0)
            throw new RequestInputException("control_character", $"'{name}' contains the control character U+{(int)value[at]:X4} at position {at}; text fields take printable characters only");
        for (var i = 0; i < value.Length; i++)
        {
            if (char.IsHighSurrogate(value[i]) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1])) { i++; continue; }
            if (char.IsSurrogate(value[i])) throw new RequestInputException("invalid_text", $"'{name}' contains a lone UTF-16 surrogate at position {i}");
        }
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
