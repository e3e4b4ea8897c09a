using System.Buffers.Binary;
using System.Security.Cryptography;
using LiveEdit.Model.Vlm;
using static TorchSharp.torch;

namespace LiveEdit.Model.Editor;

/// <summary>
/// Our extension beyond the paper: a fixed bank of reference queries (images no edit is about, each with a question),
/// kept as their input-side visual keys φ̄_b [R, k·d_m] and hard-filter thresholds t_b = sim(φ̄_b, φ̄_Ξ,b) [R]. It
/// measures how readily an expert's visual key passes the filter for unrelated images, its <em>hubness</em>
/// (nearest-neighbour retrieval's hub problem; CSLS, Conneau et al. 2018, corrects it the same way):
/// o_e = mean of the top K excesses sim(φ̄_b, φ̂_e) − t_b over the bank. With
/// <see cref="RoutingPolicy.HubnessWeight"/> λ the hard filter keeps e iff sim(φ̄, φ̂_e) &gt; sim(φ̄, φ̄_Ξ) − margin + λ·o_e:
/// an expert that passes for many unrelated images must match a query better. o_e depends only on the expert's own
/// key and the bank, so removing an expert is still exactly "that edit never happened".
/// </summary>
public sealed class FilterBank
{
    /// <summary>File name inside an editor folder.</summary>
    public const string FileName = "filter-bank.bin";
    private const uint Magic = 0x4B4E4246;  // "FBNK"
    private const int Version = 1;

    private readonly float[] keys;
    private readonly float[] thresholds;
    private readonly double scale;

    /// <param name="keys">φ̄_b, row-major [count, keyRows·moduleDim].</param>
    /// <param name="thresholds">t_b = sim(φ̄_b, φ̄_Ξ,b) [count] (no margin).</param>
    public FilterBank(float[] keys, float[] thresholds, int keyRows, int moduleDim)
    {
        if (keyRows <= 0 || moduleDim <= 0) throw new ArgumentException("key rows and module width must be positive");
        Dim = keyRows * moduleDim;
        if (thresholds.Length == 0) throw new ArgumentException("a filter bank needs at least one query");
        if (keys.Length != (long)thresholds.Length * Dim) throw new ArgumentException($"keys must hold {thresholds.Length}·{Dim} values");
        if (keys.Any(x => !float.IsFinite(x)) || thresholds.Any(x => !float.IsFinite(x))) throw new ArgumentException("a filter bank holds only finite values");
        this.keys = keys;
        this.thresholds = thresholds;
        KeyRows = keyRows;
        ModuleDim = moduleDim;
        scale = KeySimilarity.Scale(keyRows, moduleDim);
        Sha256 = ComputeSha();
    }

    /// <summary>Reference queries R.</summary>
    public int Count => thresholds.Length;
    /// <summary>k.</summary>
    public int KeyRows { get; }
    /// <summary>d_m.</summary>
    public int ModuleDim { get; }
    /// <summary>k·d_m.</summary>
    public int Dim { get; }
    /// <summary>SHA-256 (hex) of the bank's bytes as written by <see cref="Save"/>.</summary>
    public string Sha256 { get; }

    /// <summary>
    /// The bank of <paramref name="queries"/> (each with an image; answers are ignored) for a frozen model and editor:
    /// one query per forward, so the values do not depend on batching.
    /// </summary>
    public static FilterBank Build(IVisionLanguageModel model, EditorModules editor, IReadOnlyList<VlmExample> queries, Action<int>? progress = null)
    {
        if (queries.Count == 0) throw new ArgumentException("a filter bank needs at least one query");
        var c = editor.Config;
        var dim = c.KeyRows * c.ModuleDim;
        var keys = new float[queries.Count * dim];
        var thresholds = new float[queries.Count];
        editor.eval();
        for (var i = 0; i < queries.Count; i++)
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            if (queries[i].Image is null) throw new ArgumentException($"bank query {i} has no image");
            var inputs = model.Prepare([queries[i] with { Answer = null }]);
            var hidden = LiveEdit.Model.Runtime.DeviceTensors.AsFloat32(model.HiddenAtEditLayer(inputs));   // [1, L, d]
            var k = editor.InputSide(hidden, inputs, [0]);
            LiveEdit.Model.Runtime.DeviceTensors.HostFloats(k.Visual.reshape(dim)).CopyTo(keys, i * dim);   // φ̄_b
            thresholds[i] = Routing.PairSimilarity(k.Visual, k.Sentinel).item<float>();       // t_b = sim(φ̄_b, φ̄_Ξ,b)
            progress?.Invoke(i + 1);
        }
        return new FilterBank(keys, thresholds, c.KeyRows, c.ModuleDim);
    }

    /// <summary>
    /// o_e: the mean of the <paramref name="topK"/> largest sim(φ̄_b, φ̂_e) − t_b over the bank, each similarity one
    /// float64 dot product in a fixed order (the same value whatever else is active).
    /// </summary>
    public double Hubness(ReadOnlySpan<float> expertKey, int topK)
    {
        if (expertKey.Length != Dim) throw new ArgumentException($"the key has {expertKey.Length} values, not {Dim}");
        if (topK < 1 || topK > Count) throw new ArgumentException($"top K must be within 1..{Count}, not {topK}");
        var excess = new double[Count];
        for (var b = 0; b < Count; b++)
            excess[b] = KeySimilarity.Exact(keys.AsSpan(b * Dim, Dim), expertKey, scale) - (double)thresholds[b];
        Array.Sort(excess);
        var sum = 0.0;
        for (var j = Count - topK; j < Count; j++) sum += excess[j];                           // ascending: the top K last
        return sum / topK;
    }

    /// <summary>Writes the bank: magic, version, count, k, d_m (int32 LE), then φ̄_b and t_b as float32 LE.</summary>
    public void Save(string path) => File.WriteAllBytes(path, Bytes());

    /// <summary>Reads a bank written by <see cref="Save"/>; <paramref name="expectedSha256"/>, when given, must match.</summary>
    public static FilterBank Load(string path, string? expectedSha256 = null)
    {
        var bytes = File.ReadAllBytes(path);
        if (expectedSha256 is not null)
        {
            var sha = Convert.ToHexStringLower(SHA256.HashData(bytes));
            if (!string.Equals(sha, expectedSha256, StringComparison.OrdinalIgnoreCase))
                throw new InvalidDataException($"{path}: SHA-256 {sha} differs from {expectedSha256}");
        }
        if (bytes.Length < 20 || BinaryPrimitives.ReadUInt32LittleEndian(bytes) != Magic) throw new InvalidDataException($"{path} is not a filter bank");
        var version = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(4));
        if (version != Version) throw new InvalidDataException($"{path}: filter bank version {version}, this build reads {Version}");
        int count = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(8)), rows = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(12)),
            width = BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(16));
        if (count <= 0 || rows <= 0 || width <= 0 || bytes.Length != 20 + 4L * count * (rows * width + 1))
            throw new InvalidDataException($"{path}: {bytes.Length} bytes do not hold a bank of {count} × {rows}·{width}");
        var keys = new float[count * rows * width];
        var thresholds = new float[count];
        for (var i = 0; i < keys.Length; i++) keys[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(20 + 4 * i));
        for (var i = 0; i < count; i++) thresholds[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes.AsSpan(20 + 4 * (keys.Length + i)));
        return new FilterBank(keys, thresholds, rows, width);
    }

    private byte[] Bytes()
    {
        var bytes = new byte[20 + 4L * (keys.Length + thresholds.Length)];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, Magic);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(4), Version);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(8), Count);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(12), KeyRows);
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(16), ModuleDim);
        for (var i = 0; i < keys.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(20 + 4 * i), keys[i]);
        for (var i = 0; i < thresholds.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(20 + 4 * (keys.Length + i)), thresholds[i]);
        return bytes;
    }

    private string ComputeSha() => Convert.ToHexStringLower(SHA256.HashData(Bytes()));
}
