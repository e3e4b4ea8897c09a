using System.Buffers.Binary;
using System.Text;
using LiveEdit.Model.HuggingFace;
using LiveEdit.Testing.Llava;
using Shouldly;
using Xunit;
using static TorchSharp.torch;

namespace LiveEdit.Model.Tests.Llava;

public sealed class reading_safetensors : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("liveedit-st-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly TinyTensor[] Sample =
    [
        new("a.weight", [2, 3], [1f, -2f, 0.5f, 0.25f, -0.125f, 3f]),
        new("b.bias", [4], [0f, 1f, -1f, 2f]),
        new("c.empty", [0, 3], []),
    ];

    [Theory]
    [InlineData(TinyDType.F32, ScalarType.Float32)]
    [InlineData(TinyDType.F16, ScalarType.Float16)]
    [InlineData(TinyDType.BF16, ScalarType.BFloat16)]
    public void a_file_written_elsewhere_reads_back_to_the_same_numbers(TinyDType dtype, ScalarType expected)
    {
        var path = Path.Combine(_dir, "m.safetensors");
        TinyLlavaCheckpoint.WriteSafetensors(path, Sample, dtype);
        using var file = SafetensorsFile.Open(path);
        using var scope = NewDisposeScope();
        file.Tensors.Keys.Order().ShouldBe(["a.weight", "b.bias", "c.empty"]);
        foreach (var t in Sample)
        {
            var read = file.Read(t.Name);
            read.dtype.ShouldBe(expected);
            read.shape.ShouldBe(t.Shape);
            if (t.Values.Length > 0) read.to_type(ScalarType.Float32).data<float>().ToArray().ShouldBe(t.Values);
            else read.numel().ShouldBe(0);
        }
    }

    [Fact]
    public void the_writer_writes_what_an_independent_writer_writes_and_reads_back()
    {
        var theirs = Path.Combine(_dir, "theirs.safetensors");
        var ours = Path.Combine(_dir, "ours.safetensors");
        TinyLlavaCheckpoint.WriteSafetensors(theirs, Sample, TinyDType.F16);
        using (var scope = NewDisposeScope())
        {
            SafetensorsWriter.Write(ours, Sample.Select(t => (t.Name, tensor(t.Values).reshape(t.Shape).to_type(ScalarType.Float16))),
                new Dictionary<string, string> { ["format"] = "pt" });
        }
        // The same header fields and data; key order within the JSON may differ, so compare what a reader sees and the data bytes.
        using var a = SafetensorsFile.Open(theirs);
        using var b = SafetensorsFile.Open(ours);
        b.Metadata["format"].ShouldBe("pt");
        foreach (var t in Sample)
        {
            using var scope = NewDisposeScope();
            b.Tensors[t.Name].Shape.ShouldBe(a.Tensors[t.Name].Shape);
            b.Tensors[t.Name].DTypeName.ShouldBe("F16");
            b.Read(t.Name).bytes.ToArray().ShouldBe(a.Read(t.Name).bytes.ToArray());
        }
        Directory.EnumerateFiles(_dir).Count().ShouldBe(2, "the writer leaves no temporary file");
    }

    [Fact]
    public void a_file_shorter_than_the_length_prefix_is_refused() =>
        Refused(new byte[5], "shorter than the 8-byte header length");

    [Fact]
    public void a_header_length_past_the_end_of_the_file_is_refused() =>
        Refused(WithHeader("{}", declaredLength: 4096), "runs past the end of the file");

    [Fact]
    public void a_header_length_over_the_format_limit_is_refused() =>
        Refused(WithHeader("{}", declaredLength: 1UL << 40), "exceeds the format's limit");

    [Fact]
    public void a_header_that_is_not_json_is_refused() =>
        Refused(WithHeader("{\"a\": [1, 2"), "not valid JSON");

    [Fact]
    public void a_header_that_is_not_an_object_is_refused() =>
        Refused(WithHeader("[1, 2, 3]   "), "does not start with '{'");

    [Fact]
    public void a_tensor_named_twice_is_refused() =>
        Refused(WithHeader("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}""", data: 8),
            "names 'a' twice");

    [Fact]
    public void an_unknown_dtype_is_refused_with_its_name() =>
        Refused(WithHeader("""{"a":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}}""", data: 4), "dtype 'F8_E4M3' is not supported");

    [Fact]
    public void a_negative_or_fractional_dimension_is_refused()
    {
        Refused(WithHeader("""{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}""", data: 4), "not a non-negative integer");
        Refused(WithHeader("""{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}""", data: 4), "not a non-negative integer");
    }

    [Fact]
    public void a_shape_whose_size_overflows_is_refused() =>
        Refused(WithHeader("""{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}""", data: 4), "overflows");

    [Fact]
    public void offsets_that_disagree_with_the_shape_are_refused() =>
        Refused(WithHeader("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}""", data: 4), "needs 8");

    [Fact]
    public void overlapping_tensors_are_refused() =>
        Refused(WithHeader("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", data: 12),
            "overlaps");

    [Fact]
    public void a_gap_between_tensors_is_refused() =>
        Refused(WithHeader("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}""", data: 12),
            "a gap");

    [Fact]
    public void a_file_truncated_inside_its_data_is_refused_when_opened()
    {
        var path = Path.Combine(_dir, "whole.safetensors");
        TinyLlavaCheckpoint.WriteSafetensors(path, Sample, TinyDType.F32);
        var bytes = File.ReadAllBytes(path);
        Refused(bytes[..^3], "the file is truncated");
    }

    [Fact]
    public void bytes_after_the_last_tensor_are_refused() =>
        Refused(WithHeader("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", data: 12), "the data holds 12");

    [Fact]
    public void an_unknown_field_in_an_entry_is_refused() =>
        Refused(WithHeader("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"offset":0}}""", data: 4), "unknown field 'offset'");

    [Fact]
    public void offsets_that_are_not_a_pair_are_refused() =>
        Refused(WithHeader("""{"a":{"dtype":"F32","shape":[1],"data_offsets":[0]}}""", data: 4), "not [begin, end]");

    private void Refused(byte[] content, string expected)
    {
        var path = Path.Combine(_dir, $"bad-{Guid.NewGuid():N}.safetensors");
        File.WriteAllBytes(path, content);
        var e = Should.Throw<CheckpointFormatException>(() => SafetensorsFile.Open(path).Dispose());
        e.Message.ShouldStartWith(path);
        e.Message.ShouldContain(expected);
    }

    private static byte[] WithHeader(string json, int data = 0, ulong? declaredLength = null)
    {
        var header = Encoding.UTF8.GetBytes(json);
        var bytes = new byte[8 + header.Length + data];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, declaredLength ?? (ulong)header.Length);
        header.CopyTo(bytes, 8);
        return bytes;
    }
}
