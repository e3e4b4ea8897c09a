using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using LiveEdit.Model.Images;

namespace LiveEdit.Bench.Streams;

/// <summary>
/// A benchmark stream on disk: a folder with <c>manifest.json</c>, <c>cases.jsonl</c> (one
/// <see cref="BenchCase"/> per line, in edit order) and the PNG images the cases name. Reading checks
/// everything (fields, image files, sizes) before returning; writing goes to a temporary folder that is
/// renamed at the end, so a failed write leaves nothing behind.
/// </summary>
public sealed class BenchStream
{
    /// <summary>Value of <see cref="StreamManifest.Format"/>.</summary>
    public const string FormatName = "liveedit-bench-stream";

    /// <summary>The format version this code reads and writes.</summary>
    public const int FormatVersion = 1;

    /// <summary>Longest prompt, target or answer accepted, in characters.</summary>
    public const int MaxTextLength = 512;

    public const string ManifestFile = "manifest.json";
    public const string CasesFile = "cases.jsonl";
    public const string ImagesFolder = "images";

    /// <summary>Options shared by reader and writer: camelCase, unknown members refused, compact lines.</summary>
    public static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
        WriteIndented = false,
    };

    private static readonly JsonSerializerOptions ManifestJson = new(Json) { WriteIndented = true };

    private BenchStream(string folder, StreamManifest manifest, IReadOnlyList<BenchCase> cases)
    {
        Folder = folder;
        Manifest = manifest;
        Cases = cases;
    }

    /// <summary>The stream folder.</summary>
    public string Folder { get; }

    public StreamManifest Manifest { get; }

    /// <summary>The cases in edit order.</summary>
    public IReadOnlyList<BenchCase> Cases { get; }

    /// <summary>Absolute path of an image named by a case.</summary>
    public string ImagePath(string relative) => Path.Combine(Folder, relative);

    /// <summary>Reads and fully validates a stream folder.</summary>
    /// <exception cref="StreamFormatException">Anything wrong, with the file and line.</exception>
    public static BenchStream Read(string folder)
    {
        if (!Directory.Exists(folder)) throw new StreamFormatException(folder, null, "no such stream folder");
        var manifestPath = Path.Combine(folder, ManifestFile);
        if (!File.Exists(manifestPath)) throw new StreamFormatException(manifestPath, null, "missing; a stream folder needs manifest.json");
        StreamManifest manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<StreamManifest>(File.ReadAllText(manifestPath), Json)
                       ?? throw new StreamFormatException(manifestPath, null, "is null");
        }
        catch (JsonException e)
        {
            throw new StreamFormatException(manifestPath, (int?)(e.LineNumber + 1), e.Message, e);
        }
        if (manifest.Format != FormatName) throw new StreamFormatException(manifestPath, null, $"format is '{manifest.Format}', expected '{FormatName}'");
        if (manifest.Version != FormatVersion) throw new StreamFormatException(manifestPath, null, $"format version {manifest.Version} is not supported (this build reads {FormatVersion})");

        var casesPath = Path.Combine(folder, CasesFile);
        if (!File.Exists(casesPath)) throw new StreamFormatException(casesPath, null, "missing");
        var cases = new List<BenchCase>();
        var ids = new HashSet<string>(StringComparer.Ordinal);
        var lineNumber = 0;
        foreach (var line in File.ReadLines(casesPath, Encoding.UTF8))
        {
            lineNumber++;
            if (line.Length == 0) throw new StreamFormatException(casesPath, lineNumber, "empty line (one case per line, no blank lines)");
            BenchCase? c;
            try
            {
                c = JsonSerializer.Deserialize<BenchCase>(line, Json);
            }
            catch (JsonException e)
            {
                throw new StreamFormatException(casesPath, lineNumber, e.Message, e);
            }
            if (c is null) throw new StreamFormatException(casesPath, lineNumber, "null is not a case");
            Validate(c, folder, manifest.ImageSize, casesPath, lineNumber);
            if (!ids.Add(c.Id)) throw new StreamFormatException(casesPath, lineNumber, $"case id '{c.Id}' appears twice");
            cases.Add(c);
        }
        if (cases.Count != manifest.Cases)
            throw new StreamFormatException(manifestPath, null, $"says {manifest.Cases} cases but {CasesFile} has {cases.Count}");
        return new BenchStream(Path.GetFullPath(folder), manifest, cases);
    }

    private static void Validate(BenchCase c, string folder, int imageSize, string file, int line)
    {
        void Text(string value, string field)
        {
            if (string.IsNullOrWhiteSpace(value)) throw new StreamFormatException(file, line, $"{field} is empty");
            if (value.Length > MaxTextLength) throw new StreamFormatException(file, line, $"{field} is {value.Length} characters; at most {MaxTextLength}");
        }

        void Image(string relative, string field)
        {
            Text(relative, field);
            if (Path.IsPathRooted(relative) || relative.Split('/', '\\').Contains(".."))
                throw new StreamFormatException(file, line, $"{field} '{relative}' must be a path inside the stream folder");
            var path = Path.Combine(folder, relative);
            if (!File.Exists(path)) throw new StreamFormatException(file, line, $"{field} '{relative}' does not exist");
            RgbImage image;
            try
            {
                image = RgbImage.Load(path);
            }
            catch (UnreadableImageException e)
            {
                throw new StreamFormatException(file, line, $"{field} '{relative}': {e.Message}", e);
            }
            if (image.Width != imageSize || image.Height != imageSize)
                throw new StreamFormatException(file, line, $"{field} '{relative}' is {image.Width}×{image.Height}; the manifest says {imageSize}×{imageSize}");
        }

        Text(c.Id, "id");
        Image(c.Edit.Image, "edit.image");
        Text(c.Edit.Prompt, "edit.prompt");
        Text(c.Edit.Target, "edit.target");
        Text(c.TextGenerality.Prompt, "textGenerality.prompt");
        Image(c.ImageGenerality.Image, "imageGenerality.image");
        Text(c.ImageGenerality.Prompt, "imageGenerality.prompt");
        Text(c.TextLocality.Prompt, "textLocality.prompt");
        Text(c.TextLocality.Answer, "textLocality.answer");
        Image(c.ImageLocality.Image, "imageLocality.image");
        Text(c.ImageLocality.Prompt, "imageLocality.prompt");
        Text(c.ImageLocality.Answer, "imageLocality.answer");
    }

    /// <summary>
    /// Writes a stream folder from cases and the images they name (relative path → image, all of
    /// <see cref="StreamManifest.ImageSize"/>). Refuses to overwrite an existing folder. Bytes depend only on
    /// the inputs: same cases and images, same files.
    /// </summary>
    public static BenchStream Write(string folder, StreamManifest manifest, IReadOnlyList<BenchCase> cases, IReadOnlyDictionary<string, RgbImage> images)
    {
        if (Directory.Exists(folder) || File.Exists(folder)) throw new IOException($"{folder} already exists; choose a new folder for the stream");
        if (manifest.Cases != cases.Count) throw new ArgumentException($"manifest says {manifest.Cases} cases, {cases.Count} given", nameof(manifest));
        var parent = Path.GetDirectoryName(Path.GetFullPath(folder))!;
        Directory.CreateDirectory(parent);
        var temp = Path.Combine(parent, $".{Path.GetFileName(folder)}.partial-{Guid.NewGuid():N}");
        try
        {
            Directory.CreateDirectory(Path.Combine(temp, ImagesFolder));
            foreach (var (relative, image) in images.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            {
                var path = Path.Combine(temp, relative);
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                image.SavePng(path);
            }
            using (var writer = new StreamWriter(Path.Combine(temp, CasesFile), false, new UTF8Encoding(false)) { NewLine = "\n" })
            {
                foreach (var c in cases) writer.WriteLine(JsonSerializer.Serialize(c, Json));
            }
            File.WriteAllText(Path.Combine(temp, ManifestFile), JsonSerializer.Serialize(manifest, ManifestJson) + "\n", new UTF8Encoding(false));
            Read(temp); // a stream that does not read back is never published
            Directory.Move(temp, folder);
        }
        catch
        {
            if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
            throw;
        }
        return Read(folder);
    }
}
