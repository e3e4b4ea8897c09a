using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using static TorchSharp.torch;

namespace LiveEdit.Model.HuggingFace;

/// <summary>
/// Writes safetensors files: the tensors in the order given, each little-endian and contiguous, the header padded with
/// spaces to a multiple of 8 bytes (as the reference implementation does). The same tensors in the same order give the
/// same bytes. The file is written beside its destination and renamed into place, so a failed write leaves nothing.
/// </summary>
public static class SafetensorsWriter
{
    /// <summary>
    /// Writes <paramref name="tensors"/> to <paramref name="path"/> in their own dtypes; one tensor at a time is copied
    /// to the CPU (when it is not there already).
    /// </summary>
    public static void Write(string path, IEnumerable<(string Name, Tensor Tensor)> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, _) in list)
        {
            if (string.IsNullOrEmpty(name) || name == "__metadata__") throw new ArgumentException($"'{name}' cannot name a tensor", nameof(tensors));
            if (!names.Add(name)) throw new ArgumentException($"'{name}' is given twice", nameof(tensors));
        }

        var header = Header(list, metadata);
        var temp = path + ".tmp-" + Guid.NewGuid().ToString("N");
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                Span<byte> length = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
                stream.Write(length);
                stream.Write(header);
                foreach (var (_, tensor) in list)
                {
                    using var scope = NewDisposeScope();
                    var cpu = tensor.device_type == TorchSharp.DeviceType.CPU ? tensor.contiguous() : tensor.to(CPU).contiguous();
                    stream.Write(cpu.bytes);
                }
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    private static byte[] Header(List<(string Name, Tensor Tensor)> list, IReadOnlyDictionary<string, string>? metadata)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                json.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata.OrderBy(p => p.Key, StringComparer.Ordinal)) json.WriteString(k, v);
                json.WriteEndObject();
            }
            long offset = 0;
            foreach (var (name, tensor) in list)
            {
                var bytes = tensor.numel() * tensor.ElementSize;
                json.WriteStartObject(name);
                json.WriteString("dtype", SafetensorsDType.NameOf(tensor.dtype));
                json.WriteStartArray("shape");
                foreach (var d in tensor.shape) json.WriteNumberValue(d);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + bytes);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += bytes;
            }
            json.WriteEndObject();
        }
        var text = buffer.ToArray();
        var padded = (text.Length + 7) / 8 * 8;
        var header = new byte[padded];
        text.CopyTo(header, 0);
        header.AsSpan(text.Length).Fill((byte)' ');
        return header;
    }
}
