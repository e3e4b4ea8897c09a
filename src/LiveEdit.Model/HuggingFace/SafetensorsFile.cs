using System.Buffers.Binary;
using System.Text.Json;
using Microsoft.Win32.SafeHandles;
using static TorchSharp.torch;

namespace LiveEdit.Model.HuggingFace;

/// <summary>One tensor's entry in a safetensors header.</summary>
/// <param name="Name">The key in the header.</param>
/// <param name="DTypeName">The header's dtype name ("F32", "F16", "BF16", …).</param>
/// <param name="DType">The torch type of the stored elements.</param>
/// <param name="Shape">The stored shape.</param>
/// <param name="FileOffset">Where its bytes start in the file (past the header).</param>
/// <param name="ByteLength">How many bytes it holds (elements × element size).</param>
public sealed record SafetensorsTensorInfo(string Name, string DTypeName, ScalarType DType, long[] Shape, long FileOffset, long ByteLength)
{
    /// <summary>The shape as "[a, b]".</summary>
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}

/// <summary>
/// A safetensors file opened for reading: an 8-byte little-endian header length, a JSON header naming every tensor's
/// dtype, shape and byte range, then the raw little-endian tensors. The header is validated as hostile input when the
/// file is opened (sizes, dtype names, offsets that must tile the data exactly: no overlap, no gap, nothing past the
/// end); tensors are then read one at a time, straight from the file into a tensor's memory, so reading a checkpoint
/// holds no second copy of it (docs/llava.md).
/// </summary>
public sealed class SafetensorsFile : IDisposable
{
    /// <summary>Largest header accepted (the format's own limit, 100 MB).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    private readonly SafeFileHandle _handle;
    private readonly Dictionary<string, SafetensorsTensorInfo> _tensors;

    private SafetensorsFile(string path, SafeFileHandle handle, Dictionary<string, SafetensorsTensorInfo> tensors,
        IReadOnlyDictionary<string, string> metadata)
    {
        Path = path;
        _handle = handle;
        _tensors = tensors;
        Metadata = metadata;
    }

    /// <summary>The file's path.</summary>
    public string Path { get; }

    /// <summary>Every tensor in the file, by name.</summary>
    public IReadOnlyDictionary<string, SafetensorsTensorInfo> Tensors => _tensors;

    /// <summary>The header's <c>__metadata__</c> (string to string; empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Opens <paramref name="path"/> and validates its header; <see cref="CheckpointFormatException"/> names the file and the fault.</summary>
    public static SafetensorsFile Open(string path)
    {
        SafeFileHandle handle;
        try
        {
            handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CheckpointFormatException($"{path}: cannot be opened ({e.Message})", e);
        }
        try
        {
            var (tensors, metadata) = ReadHeader(path, handle);
            return new SafetensorsFile(path, handle, tensors, metadata);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>
    /// The tensor <paramref name="name"/> as a new CPU tensor of its stored dtype and shape (in the caller's dispose
    /// scope), its bytes read straight from the file into the tensor's memory.
    /// </summary>
    public Tensor Read(string name)
    {
        if (!_tensors.TryGetValue(name, out var info)) throw new KeyNotFoundException($"{Path}: no tensor '{name}'");
        return Read(info);
    }

    /// <summary>The tensor of <paramref name="info"/> (an entry of this file), as <see cref="Read(string)"/>.</summary>
    public Tensor Read(SafetensorsTensorInfo info)
    {
        if (!_tensors.TryGetValue(info.Name, out var own) || !ReferenceEquals(own, info))
            throw new ArgumentException($"'{info.Name}' is not an entry of {Path}", nameof(info));
        if (info.ByteLength > int.MaxValue)
            throw new CheckpointFormatException($"{Path}: tensor '{info.Name}' holds {info.ByteLength} bytes; tensors over 2 GiB are not read");
        var tensor = empty(info.Shape, info.DType, CPU);
        try
        {
            Fill(info, tensor);
            return tensor;
        }
        catch
        {
            tensor.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Reads the tensor of <paramref name="info"/> straight into <paramref name="target"/>'s memory: a contiguous CPU
    /// tensor of the stored dtype and shape (no staging copy).
    /// </summary>
    public void ReadInto(SafetensorsTensorInfo info, Tensor target)
    {
        if (!_tensors.TryGetValue(info.Name, out var own) || !ReferenceEquals(own, info))
            throw new ArgumentException($"'{info.Name}' is not an entry of {Path}", nameof(info));
        if (target.device_type != TorchSharp.DeviceType.CPU || target.dtype != info.DType || !target.is_contiguous() || !target.shape.SequenceEqual(info.Shape))
            throw new ArgumentException($"'{info.Name}' reads only into a contiguous CPU tensor of {info.DTypeName} {info.ShapeText}", nameof(target));
        if (info.ByteLength > int.MaxValue)
            throw new CheckpointFormatException($"{Path}: tensor '{info.Name}' holds {info.ByteLength} bytes; tensors over 2 GiB are not read");
        Fill(info, target);
    }

    private void Fill(SafetensorsTensorInfo info, Tensor tensor)
    {
        var target = tensor.bytes;
        if (target.Length != info.ByteLength)
            throw new InvalidOperationException($"tensor of {info.ShapeText} {info.DType} spans {target.Length} bytes, not {info.ByteLength}");
        var done = 0;
        while (done < target.Length)
        {
            var n = RandomAccess.Read(_handle, target[done..], info.FileOffset + done);
            if (n == 0) throw new CheckpointFormatException($"{Path}: ended inside tensor '{info.Name}' (the file shrank while it was read)");
            done += n;
        }
    }

    /// <inheritdoc />
    public void Dispose() => _handle.Dispose();

    private static (Dictionary<string, SafetensorsTensorInfo>, IReadOnlyDictionary<string, string>) ReadHeader(string path, SafeFileHandle handle)
    {
        var fileLength = RandomAccess.GetLength(handle);
        if (fileLength < 8) throw Bad(path, $"is {fileLength} bytes, shorter than the 8-byte header length");
        Span<byte> lengthBytes = stackalloc byte[8];
        ReadExactly(handle, lengthBytes, 0, path);
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (headerLength > MaxHeaderBytes) throw Bad(path, $"header length {headerLength} exceeds the format's limit of {MaxHeaderBytes} bytes");
        if ((long)headerLength > fileLength - 8) throw Bad(path, $"header length {headerLength} runs past the end of the file ({fileLength} bytes)");
        if (headerLength < 2) throw Bad(path, $"header length {headerLength} is too short for a JSON object");
        var header = new byte[headerLength];
        ReadExactly(handle, header, 8, path);
        if (header[0] != (byte)'{') throw Bad(path, "header does not start with '{'");

        var dataStart = 8 + (long)headerLength;
        var dataLength = fileLength - dataStart;
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 8 });
        }
        catch (JsonException e)
        {
            throw Bad(path, $"header is not valid JSON ({e.Message})", e);
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw Bad(path, "header is not a JSON object");
            var tensors = new Dictionary<string, SafetensorsTensorInfo>(StringComparer.Ordinal);
            var ranges = new List<(long Begin, long End, string Name)>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var property in doc.RootElement.EnumerateObject())
            {
                if (!seen.Add(property.Name)) throw Bad(path, $"header names '{property.Name}' twice");
                if (property.Name == "__metadata__")
                {
                    if (property.Value.ValueKind != JsonValueKind.Object) throw Bad(path, "__metadata__ is not an object");
                    foreach (var m in property.Value.EnumerateObject())
                    {
                        if (m.Value.ValueKind != JsonValueKind.String) throw Bad(path, $"__metadata__.{m.Name} is not a string");
                        if (!metadata.TryAdd(m.Name, m.Value.GetString()!)) throw Bad(path, $"__metadata__ names '{m.Name}' twice");
                    }
                    continue;
                }
                if (property.Name.Length == 0) throw Bad(path, "header holds a tensor with an empty name");
                var (info, begin, end) = ParseEntry(path, property, dataStart);
                tensors.Add(info.Name, info);
                ranges.Add((begin, end, info.Name));
            }

            ranges.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
            long expected = 0;
            string? previous = null;
            foreach (var (begin, end, name) in ranges)
            {
                if (begin < expected)
                    throw Bad(path, $"tensor '{name}' (bytes {begin}–{end}) overlaps '{previous}' (which ends at {expected})");
                if (begin > expected)
                    throw Bad(path, $"tensor '{name}' starts at byte {begin} but the data before it ends at {expected} (a gap)");
                expected = end;
                previous = name;
            }
            if (expected != dataLength)
                throw Bad(path, expected > dataLength
                    ? $"tensor '{previous}' ends at byte {expected} of the data, past its end ({dataLength} bytes: the file is truncated)"
                    : $"the tensors cover {expected} bytes but the data holds {dataLength}");
            return (tensors, metadata);
        }
    }

    private static (SafetensorsTensorInfo, long Begin, long End) ParseEntry(string path, JsonProperty property, long dataStart)
    {
        var name = property.Name;
        var value = property.Value;
        if (value.ValueKind != JsonValueKind.Object) throw Bad(path, $"tensor '{name}': entry is not an object");
        JsonElement? dtype = null, shape = null, offsets = null;
        foreach (var field in value.EnumerateObject())
        {
            switch (field.Name)
            {
                case "dtype" when dtype is null: dtype = field.Value; break;
                case "shape" when shape is null: shape = field.Value; break;
                case "data_offsets" when offsets is null: offsets = field.Value; break;
                case "dtype" or "shape" or "data_offsets": throw Bad(path, $"tensor '{name}': field '{field.Name}' appears twice");
                default: throw Bad(path, $"tensor '{name}': unknown field '{field.Name}'");
            }
        }
        if (dtype is not { ValueKind: JsonValueKind.String }) throw Bad(path, $"tensor '{name}': dtype is missing or not a string");
        var dtypeName = dtype.Value.GetString()!;
        if (!SafetensorsDType.TryParse(dtypeName, out var type, out var size))
            throw Bad(path, $"tensor '{name}': dtype '{dtypeName}' is not supported (supported: {string.Join(", ", SafetensorsDType.Names)})");

        if (shape is not { ValueKind: JsonValueKind.Array }) throw Bad(path, $"tensor '{name}': shape is missing or not an array");
        var dims = new List<long>();
        long elements = 1;
        foreach (var d in shape.Value.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out var n) || n < 0)
                throw Bad(path, $"tensor '{name}': shape holds '{d.GetRawText()}', not a non-negative integer");
            if (dims.Count == 16) throw Bad(path, $"tensor '{name}': shape has more than 16 dimensions");
            dims.Add(n);
            try
            {
                elements = checked(elements * n);
            }
            catch (OverflowException)
            {
                throw Bad(path, $"tensor '{name}': shape {shape.Value.GetRawText()} overflows");
            }
        }
        long bytes;
        try
        {
            bytes = checked(elements * size);
        }
        catch (OverflowException)
        {
            throw Bad(path, $"tensor '{name}': shape {shape.Value.GetRawText()} overflows");
        }

        if (offsets is not { ValueKind: JsonValueKind.Array } || offsets.Value.GetArrayLength() != 2)
            throw Bad(path, $"tensor '{name}': data_offsets is missing or not [begin, end]");
        var pair = offsets.Value.EnumerateArray().Select(o =>
            o.ValueKind == JsonValueKind.Number && o.TryGetInt64(out var v) && v >= 0 ? v : -1).ToArray();
        if (pair[0] < 0 || pair[1] < 0) throw Bad(path, $"tensor '{name}': data_offsets {offsets.Value.GetRawText()} are not non-negative integers");
        var (begin, end) = (pair[0], pair[1]);
        if (end < begin) throw Bad(path, $"tensor '{name}': data_offsets end {end} is before begin {begin}");
        if (end - begin != bytes)
            throw Bad(path, $"tensor '{name}': data_offsets span {end - begin} bytes but {dtypeName} {shape.Value.GetRawText()} needs {bytes}");
        return (new SafetensorsTensorInfo(name, dtypeName, type, dims.ToArray(), dataStart + begin, bytes), begin, end);
    }

    private static void ReadExactly(SafeFileHandle handle, Span<byte> target, long offset, string path)
    {
        var done = 0;
        while (done < target.Length)
        {
            var n = RandomAccess.Read(handle, target[done..], offset + done);
            if (n == 0) throw Bad(path, "ended inside the header");
            done += n;
        }
    }

    private static CheckpointFormatException Bad(string path, string message, Exception? inner = null) =>
        inner is null ? new($"{path}: {message}") : new($"{path}: {message}", inner);
}
