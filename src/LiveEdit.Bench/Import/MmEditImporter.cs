using System.Text;
using System.Text.Json;
using LiveEdit.Bench.Streams;
using LiveEdit.Model.Images;
using LiveEdit.Model.Vlm;

namespace LiveEdit.Bench.Import;

/// <summary>
/// Converts MMEdit (E-VQA, E-IC) and VLKEB files into a <see cref="BenchStream"/>. The input is a JSON array
/// of records or JSON lines; each record carries <c>src</c> (edit prompt), <c>rephrase</c> (text generality),
/// <c>alt</c> (new target), <c>image</c>, <c>image_rephrase</c> (image generality), <c>loc</c> / <c>loc_ans</c>
/// (text locality), <c>m_loc</c> / <c>m_loc_q</c> / <c>m_loc_a</c> (image locality); image paths are relative
/// to an image root. Images are centre-cropped to a square of the stream's image size and written as PNG (the
/// model brings them to its own input when it reads them). Any bad record stops the import with its record number
/// and line, and nothing is written.
/// </summary>
public static class MmEditImporter
{
    /// <summary>The fields every record must carry.</summary>
    public static readonly IReadOnlyList<string> RequiredFields =
        ["src", "rephrase", "alt", "image", "image_rephrase", "loc", "loc_ans", "m_loc", "m_loc_q", "m_loc_a"];

    /// <summary>Fields those data sets also carry that the benchmark does not use; accepted and ignored.</summary>
    public static readonly IReadOnlyList<string> IgnoredFields = ["pred", "case_id", "id", "port_new", "answers"];

    /// <summary>Reads <paramref name="inputFile"/>, resolves images under <paramref name="imageRoot"/>, writes a stream to <paramref name="outputFolder"/>.</summary>
    /// <exception cref="StreamFormatException">A malformed record, a missing or unreadable image, an unknown field.</exception>
    /// <param name="checkEditText">When given (a model's <see cref="IVisionLanguageModel.CheckEditText"/>), every edit's
    /// prompt and target are checked against what the model can learn (the same check the host makes at proposal), and a
    /// record that cannot be learned stops the import.</param>
    public static BenchStream Import(string inputFile, string imageRoot, ExternalLayout layout, int imageSize, string outputFolder, string? command = null,
        Func<string, string, EditTextProblem?>? checkEditText = null)
    {
        if (!File.Exists(inputFile)) throw new StreamFormatException(inputFile, null, "no such file");
        if (!Directory.Exists(imageRoot)) throw new StreamFormatException(imageRoot, null, "no such image folder");
        var bytes = File.ReadAllBytes(inputFile);
        var records = ReadRecords(inputFile, bytes);
        if (records.Count == 0) throw new StreamFormatException(inputFile, null, "holds no records");

        var cases = new List<BenchCase>(records.Count);
        var images = new Dictionary<string, RgbImage>(StringComparer.Ordinal);
        var converted = new Dictionary<string, string>(StringComparer.Ordinal); // source path → stream path (shared images stored once)
        var source = layout switch { ExternalLayout.EVqa => "mmedit-evqa", ExternalLayout.EIc => "mmedit-eic", _ => "vlkeb" };

        for (var i = 0; i < records.Count; i++)
        {
            var (record, line) = records[i];
            var where = $"record {i + 1}";
            string Field(string name)
            {
                if (!record.TryGetProperty(name, out var value))
                    throw new StreamFormatException(inputFile, line, $"{where}: field '{name}' is missing");
                // Some releases store a field as a one-element list.
                if (value.ValueKind == JsonValueKind.Array && value.GetArrayLength() == 1) value = value[0];
                if (value.ValueKind != JsonValueKind.String)
                    throw new StreamFormatException(inputFile, line, $"{where}: field '{name}' must be a string, not {value.ValueKind}");
                var text = value.GetString()!.Trim();
                if (text.Any(char.IsControl))
                    throw new StreamFormatException(inputFile, line, $"{where}: field '{name}' contains control characters: \"{LiveEdit.Model.Text.Printable.Excerpt(text)}\"");
                if (text.Length == 0) throw new StreamFormatException(inputFile, line, $"{where}: field '{name}' is empty");
                if (text.Length > BenchStream.MaxTextLength)
                    throw new StreamFormatException(inputFile, line, $"{where}: field '{name}' is {text.Length} characters; at most {BenchStream.MaxTextLength}");
                return text;
            }

            foreach (var property in record.EnumerateObject())
            {
                if (!RequiredFields.Contains(property.Name) && !IgnoredFields.Contains(property.Name))
                    throw new StreamFormatException(inputFile, line,
                        $"{where}: unknown field '{LiveEdit.Model.Text.Printable.Excerpt(property.Name)}' (known: {string.Join(", ", RequiredFields.Concat(IgnoredFields))})");
            }

            var id = $"{source}-{i + 1:D6}";
            string Image(string field, string role)
            {
                var relative = Field(field);
                if (converted.TryGetValue(relative, out var existing)) return existing;
                var path = Path.GetFullPath(Path.Combine(imageRoot, relative));
                if (!File.Exists(path)) throw new StreamFormatException(inputFile, line, $"{where}: image '{LiveEdit.Model.Text.Printable.Excerpt(relative, 120)}' ({field}) not found under {imageRoot}");
                RgbImage image;
                try
                {
                    image = RgbImage.Load(path).CenterSquare(imageSize);
                }
                catch (UnreadableImageException e)
                {
                    throw new StreamFormatException(inputFile, line, $"{where}: image '{LiveEdit.Model.Text.Printable.Excerpt(relative, 120)}' ({field}): {LiveEdit.Model.Text.Printable.Excerpt(e.Message, 200)}", e);
                }
                var streamPath = $"{BenchStream.ImagesFolder}/{id}-{role}.png";
                images[streamPath] = image;
                converted[relative] = streamPath;
                return streamPath;
            }

            var src = Field("src");
            if (checkEditText?.Invoke(src, Field("alt")) is { } problem)
                throw new StreamFormatException(inputFile, line, $"{where}: {problem.Message} (field '{(problem.Field == "target" ? "alt" : "src")}')");
            cases.Add(new BenchCase(
                id,
                [source],
                new EditProbe(Image("image", "edit"), src, Field("alt")),
                new TextProbe(Field("rephrase")),
                new ImageProbe(Image("image_rephrase", "mgen"), src),
                new AnsweredTextProbe(Field("loc"), Field("loc_ans")),
                new AnsweredImageProbe(Image("m_loc", "mloc"), Field("m_loc_q"), Field("m_loc_a"))));
        }

        var manifest = new StreamManifest(BenchStream.FormatName, BenchStream.FormatVersion,
            Path.GetFileNameWithoutExtension(inputFile), source, cases.Count, imageSize, Seed: null, command);
        return BenchStream.Write(outputFolder, manifest, cases, images);
    }

    /// <summary>Splits the input into records with the 1-based line each starts on.</summary>
    private static List<(JsonElement Record, int Line)> ReadRecords(string file, byte[] bytes)
    {
        var records = new List<(JsonElement, int)>();
        var text = bytes.AsSpan();
        if (text.StartsWith("\uFEFF"u8)) text = text[3..];
        var firstNonSpace = text.IndexOfAnyExcept(" \t\r\n"u8);
        if (firstNonSpace < 0) return records;

        if (text[firstNonSpace] == (byte)'[')
        {
            // A JSON array: walk it with a reader so every record knows its line.
            var reader = new Utf8JsonReader(text, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow });
            try
            {
                reader.Read(); // [
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    var line = LineOf(text, (int)reader.TokenStartIndex);
                    if (reader.TokenType != JsonTokenType.StartObject)
                        throw new StreamFormatException(file, line, $"record {records.Count + 1} is a {reader.TokenType}, not an object");
                    using var doc = JsonDocument.ParseValue(ref reader);
                    records.Add((doc.RootElement.Clone(), line));
                }
            }
            catch (JsonException e)
            {
                throw new StreamFormatException(file, (int?)(e.LineNumber + 1), $"record {records.Count + 1} is not valid JSON: {LiveEdit.Model.Text.Printable.Excerpt(e.Message, 200)}", e);
            }
            return records;
        }

        // JSON lines.
        var lineNumber = 0;
        foreach (var line in Encoding.UTF8.GetString(text).Split('\n'))
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                using var doc = JsonDocument.Parse(line);
                if (doc.RootElement.ValueKind != JsonValueKind.Object)
                    throw new StreamFormatException(file, lineNumber, $"record {records.Count + 1} is a {doc.RootElement.ValueKind}, not an object");
                records.Add((doc.RootElement.Clone(), lineNumber));
            }
            catch (JsonException e)
            {
                throw new StreamFormatException(file, lineNumber, $"record {records.Count + 1} is not valid JSON: {LiveEdit.Model.Text.Printable.Excerpt(e.Message, 200)}", e);
            }
        }
        return records;
    }

    private static int LineOf(ReadOnlySpan<byte> text, int offset) => text[..offset].Count((byte)'\n') + 1;
}
