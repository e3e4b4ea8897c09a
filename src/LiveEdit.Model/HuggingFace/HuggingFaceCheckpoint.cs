using System.Text.Json;

namespace LiveEdit.Model.HuggingFace;

/// <summary>
/// The weights of a Hugging Face checkpoint folder: <c>model.safetensors</c>, or the shards a
/// <c>model.safetensors.index.json</c> names in its <c>weight_map</c>. Every file's header is validated when the folder
/// is opened, and the index must agree with the shards exactly (each listed tensor in its shard, no shard holding a
/// tensor the index does not place there, no shard outside the folder). Tensors are read later, one at a time.
/// </summary>
public sealed class HuggingFaceCheckpoint : IDisposable
{
    /// <summary>The single-file weights' name.</summary>
    public const string SingleFile = "model.safetensors";

    /// <summary>The shard index's name.</summary>
    public const string IndexFile = "model.safetensors.index.json";

    private readonly List<SafetensorsFile> _files;
    private readonly Dictionary<string, (SafetensorsFile File, SafetensorsTensorInfo Info)> _tensors;

    private HuggingFaceCheckpoint(string folder, List<SafetensorsFile> files, Dictionary<string, (SafetensorsFile, SafetensorsTensorInfo)> tensors)
    {
        Folder = folder;
        _files = files;
        _tensors = tensors;
    }

    /// <summary>The folder.</summary>
    public string Folder { get; }

    /// <summary>The weight files opened (one, or every shard in name order).</summary>
    public IReadOnlyList<SafetensorsFile> Files => _files;

    /// <summary>Every tensor of the checkpoint by its key in the files, with the file that holds it.</summary>
    public IReadOnlyDictionary<string, (SafetensorsFile File, SafetensorsTensorInfo Info)> Tensors => _tensors;

    /// <summary>Opens the weights of <paramref name="folder"/>; <see cref="CheckpointFormatException"/> names what is wrong.</summary>
    public static HuggingFaceCheckpoint Open(string folder)
    {
        if (!Directory.Exists(folder)) throw new CheckpointFormatException($"{folder}: no such folder");
        var index = Path.Combine(folder, IndexFile);
        var single = Path.Combine(folder, SingleFile);
        if (File.Exists(index)) return OpenSharded(folder, index);
        if (File.Exists(single))
        {
            var file = SafetensorsFile.Open(single);
            return new HuggingFaceCheckpoint(folder, [file], file.Tensors.ToDictionary(p => p.Key, p => (file, p.Value), StringComparer.Ordinal));
        }
        var other = Directory.EnumerateFiles(folder).Select(Path.GetFileName)
            .Where(n => n!.EndsWith(".bin", StringComparison.Ordinal) || n.EndsWith(".pt", StringComparison.Ordinal) || n.EndsWith(".pth", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal).ToList();
        throw new CheckpointFormatException(
            $"{folder}: neither {SingleFile} nor {IndexFile} is there" +
            (other.Count > 0 ? $" ({string.Join(", ", other)} are pickled PyTorch files, which are not read: save the model as safetensors)" : ""));
    }

    /// <summary>The folder's <c>config.json</c> text.</summary>
    public string ReadConfigJson()
    {
        var path = Path.Combine(Folder, "config.json");
        if (!File.Exists(path)) throw new CheckpointFormatException($"{Folder}: config.json is missing");
        return File.ReadAllText(path);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var f in _files) f.Dispose();
    }

    private static HuggingFaceCheckpoint OpenSharded(string folder, string indexPath)
    {
        var map = ReadWeightMap(indexPath);
        var files = new List<SafetensorsFile>();
        try
        {
            var byShard = new Dictionary<string, SafetensorsFile>(StringComparer.Ordinal);
            foreach (var shard in map.Values.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
            {
                var path = Path.Combine(folder, shard);
                if (!File.Exists(path)) throw new CheckpointFormatException($"{indexPath}: shard '{shard}' is not in the folder");
                var file = SafetensorsFile.Open(path);
                files.Add(file);
                byShard.Add(shard, file);
            }

            var tensors = new Dictionary<string, (SafetensorsFile, SafetensorsTensorInfo)>(StringComparer.Ordinal);
            var problems = new List<string>();
            foreach (var (name, shard) in map)
            {
                if (byShard[shard].Tensors.TryGetValue(name, out var info)) tensors.Add(name, (byShard[shard], info));
                else problems.Add($"'{name}' is listed in {shard}, which does not hold it");
            }
            foreach (var (shard, file) in byShard)
            {
                foreach (var name in file.Tensors.Keys.Order(StringComparer.Ordinal))
                {
                    if (!map.TryGetValue(name, out var listed)) problems.Add($"{shard} holds '{name}', which the index does not list");
                    else if (listed != shard) problems.Add($"{shard} holds '{name}', which the index places in {listed}");
                }
            }
            if (problems.Count > 0)
                throw new CheckpointFormatException($"{indexPath} disagrees with its shards:\n  " + string.Join("\n  ", problems));
            return new HuggingFaceCheckpoint(folder, files, tensors);
        }
        catch
        {
            foreach (var f in files) f.Dispose();
            throw;
        }
    }

    private static Dictionary<string, string> ReadWeightMap(string indexPath)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllBytes(indexPath), new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException e)
        {
            throw new CheckpointFormatException($"{indexPath}: not valid JSON ({e.Message})", e);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("weight_map", out var weightMap)
                || weightMap.ValueKind != JsonValueKind.Object)
                throw new CheckpointFormatException($"{indexPath}: weight_map is missing or not an object");
            var map = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var entry in weightMap.EnumerateObject())
            {
                if (entry.Value.ValueKind != JsonValueKind.String)
                    throw new CheckpointFormatException($"{indexPath}: weight_map.{entry.Name} is not a file name");
                var shard = entry.Value.GetString()!;
                if (shard.Length == 0 || shard != Path.GetFileName(shard) || shard is "." or ".." || shard.Contains('\\')
                    || !shard.EndsWith(".safetensors", StringComparison.Ordinal))
                    throw new CheckpointFormatException($"{indexPath}: weight_map.{entry.Name} names '{shard}', not a .safetensors file in the folder");
                if (!map.TryAdd(entry.Name, shard)) throw new CheckpointFormatException($"{indexPath}: weight_map names '{entry.Name}' twice");
            }
            if (map.Count == 0) throw new CheckpointFormatException($"{indexPath}: weight_map is empty");
            return map;
        }
    }
}
