using System.Security.Cryptography;
using LiveEdit.Model.Vlm;
using LiveEdit.Research.World;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LiveEdit.Model.Tests.Editor;

/// <summary>
/// A 2-layer causal transformer with random frozen weights, for editor tests that do not need a trained VLM.
/// Words "t{n}" are token n; other words hash into the vocabulary. Images are [3, 8, 8], cut into 4 patches.
/// </summary>
internal sealed class RandomTinyVlm : nn.Module, IVisionLanguageModel
{
    public const int Pad = 0, ImageToken = 1, Eos = 2;
    private readonly Embedding embed;
    private readonly Parameter pos;
    private readonly Linear patch;
    private readonly ModuleList<Block> layers;
    private readonly LayerNorm ln_f;
    private readonly Linear head;

    public RandomTinyVlm(long seed, int d = 32, int vocab = 64, int layerCount = 2, int editLayer = 0) : base(nameof(RandomTinyVlm))
    {
        manual_seed(seed);
        embed = nn.Embedding(vocab, d);
        pos = new Parameter(randn(64, d) * 0.1);
        patch = nn.Linear(48, d);
        layers = new ModuleList<Block>(Enumerable.Range(0, layerCount).Select(_ => new Block(d)).ToArray());
        ln_f = nn.LayerNorm(d);
        head = nn.Linear(d, vocab);
        RegisterComponents();
        foreach (var p in parameters()) p.requires_grad = false;
        eval();
        Shape = new VlmShape(d, VisionTokens: 4, EditLayer: editLayer, Layers: layerCount, VocabSize: vocab);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var (_, t) in state_dict())
        {
            var f = t.data<float>().ToArray();
            var b = new byte[f.Length * 4];
            Buffer.BlockCopy(f, 0, b, 0, b.Length);
            sha.AppendData(b);
        }
        WeightsSha256 = Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    public VlmShape Shape { get; }
    public string WeightsSha256 { get; }
    public string Kind => nameof(RandomTinyVlm);
    public Device Device => CPU;
    public ScalarType DType => ScalarType.Float32;

    /// <summary>Any image → a centred 8 × 8 square, [0, 1].</summary>
    public Tensor ImageInput(LiveEdit.Model.Images.RgbImage image) => image.CenterSquare(8).ToTensor();

    public EditTextProblem? CheckEditText(string prompt, string target) => null;
    public EditTextProblem? CheckQuery(string prompt, bool withImage) => null;

    public static long[] Tokens(string text) =>
        text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(w =>
            w.Length > 1 && w[0] == 't' && int.TryParse(w[1..], out var n) && n < 64 ? n : 3 + (long)(Fnv(w) % 61)).ToArray();

    private static uint Fnv(string s)
    {
        var h = 2166136261u;
        foreach (var c in s) h = (h ^ c) * 16777619u;
        return h;
    }

    public VlmInputs Prepare(IReadOnlyList<VlmExample> examples) =>
        Layout(examples.Select(e => (e.Image, Tokens(e.Prompt), e.Answer is null ? Array.Empty<long>() : Tokens(e.Answer))).ToList());

    private static VlmInputs Layout(IReadOnlyList<(Tensor? Image, long[] Prompt, long[] Answer)> rows)
    {
        var b = rows.Count;
        int[] vs = new int[b], vc = new int[b], ps = new int[b], pl = new int[b], ast = new int[b], al = new int[b], len = new int[b];
        for (var i = 0; i < b; i++)
        {
            vc[i] = rows[i].Image is null ? 0 : 4;
            ps[i] = vc[i];
            pl[i] = rows[i].Prompt.Length;
            ast[i] = ps[i] + pl[i];
            al[i] = rows[i].Answer.Length;
            len[i] = ast[i] + al[i];
        }
        var l = len.Max();
        var ids = new long[b * l];
        for (var i = 0; i < b; i++)
        {
            for (var t = 0; t < vc[i]; t++) ids[i * l + t] = ImageToken;
            rows[i].Prompt.CopyTo(ids, i * l + ps[i]);
            rows[i].Answer.CopyTo(ids, i * l + ast[i]);
        }
        Tensor? images = rows.Any(r => r.Image is not null)
            ? stack(rows.Select(r => r.Image ?? zeros(3, 8, 8)).ToArray())
            : null;
        return new VlmInputs(tensor(ids).reshape(b, l), images, vs, vc, ps, pl, ast, al, len);
    }

    public Tensor HiddenAtEditLayer(VlmInputs inputs)
    {
        using var scope = NewDisposeScope();
        var x = Embed(inputs);
        for (var i = 0; i <= Shape.EditLayer; i++) x = layers[i].forward(x);
        return x.MoveToOuterDisposeScope();
    }

    public Tensor LogitsFromEditLayer(VlmInputs inputs, Tensor hiddenAtEditLayer)
    {
        using var scope = NewDisposeScope();
        var x = hiddenAtEditLayer;
        for (var i = Shape.EditLayer + 1; i < layers.Count; i++) x = layers[i].forward(x);
        return head.forward(ln_f.forward(x)).MoveToOuterDisposeScope();
    }

    public Tensor Logits(VlmInputs inputs, Func<Tensor, Tensor>? atEditLayer = null)
    {
        using var scope = NewDisposeScope();
        var h = HiddenAtEditLayer(inputs);
        if (atEditLayer is not null) h = atEditLayer(h);
        return LogitsFromEditLayer(inputs, h).MoveToOuterDisposeScope();
    }

    // This test model has no cache: prefill and steps are not offered, and both decodings recompute.
    public (Tensor Logits, KvCache Cache) Prefill(VlmInputs inputs, int maxNewTokens, Func<Tensor, Tensor>? atEditLayer = null) =>
        throw new NotSupportedException("RandomTinyVlm decodes by recomputing the sequence");

    public Tensor Step(KvCache cache, Tensor nextTokenIds, Func<Tensor, Tensor>? atEditLayer = null) =>
        throw new NotSupportedException("RandomTinyVlm decodes by recomputing the sequence");

    public GreedyDecoding GreedyDecode(IReadOnlyList<VlmExample> examples, Func<Tensor, Tensor>? atEditLayer = null, int maxNewTokens = 8,
        Decoding decoding = Decoding.Cached, bool keepLogits = false)
    {
        var answers = GreedyAnswers(examples, atEditLayer, maxNewTokens, decoding);
        return new GreedyDecoding(answers, answers.Select(a => Tokens(a).Select(t => (int)t).ToArray()).ToArray(), null);
    }

    public IReadOnlyList<string> GreedyAnswers(IReadOnlyList<VlmExample> examples, Func<Tensor, Tensor>? atEditLayer = null, int maxNewTokens = 8,
        Decoding decoding = Decoding.Cached)
    {
        using var scope = NewDisposeScope();
        var prompts = examples.Select(e => Tokens(e.Prompt)).ToList();
        var answers = examples.Select(_ => new List<long>()).ToList();
        var done = new bool[examples.Count];
        for (var step = 0; step < maxNewTokens && !done.All(x => x); step++)
        {
            using var stepScope = NewDisposeScope();
            var inputs = Layout(examples.Select((e, i) => (e.Image, prompts[i], answers[i].ToArray())).ToList());
            var logits = Logits(inputs, atEditLayer);
            for (var i = 0; i < examples.Count; i++)
            {
                if (done[i]) continue;
                var next = logits[i, inputs.Length[i] - 1].argmax().item<long>();
                if (next == Eos) done[i] = true;
                else answers[i].Add(next);
            }
        }
        return answers.Select(a => string.Join(' ', a.Select(t => $"t{t}"))).ToList();
    }

    private Tensor Embed(VlmInputs inputs)
    {
        var b = inputs.Count;
        var l = inputs.TokenIds.shape[1];
        var x = embed.forward(inputs.TokenIds);
        if (inputs.Images is not null)
        {
            // [B, 3, 8, 8] → 4 patches of 4×4×3 → [B, 4, d]
            var patches = inputs.Images.reshape(b, 3, 2, 4, 2, 4).permute(0, 2, 4, 1, 3, 5).reshape(b, 4, 48);
            var vision = patch.forward(patches);
            var hasImage = tensor(Enumerable.Range(0, b).Select(inputs.HasImage).ToArray()).reshape(b, 1, 1);
            var padded = cat([vision, zeros(b, l - 4, x.shape[2])], 1)[.., ..(int)l];
            var isVision = arange(l).reshape(1, l, 1).lt(4).logical_and(hasImage);
            x = where(isVision, padded, x);
        }
        return x + pos[..(int)l];
    }

    private sealed class Block : nn.Module<Tensor, Tensor>
    {
        private readonly LayerNorm ln1, ln2;
        private readonly Linear qkv, proj, fc1, fc2;
        private readonly int heads = 2;

        public Block(int d) : base(nameof(Block))
        {
            ln1 = nn.LayerNorm(d);
            ln2 = nn.LayerNorm(d);
            qkv = nn.Linear(d, 3 * d);
            proj = nn.Linear(d, d);
            fc1 = nn.Linear(d, 4 * d);
            fc2 = nn.Linear(4 * d, d);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            using var scope = NewDisposeScope();
            long b = x.shape[0], l = x.shape[1], d = x.shape[2];
            var parts = qkv.forward(ln1.forward(x)).reshape(b, l, 3, heads, d / heads).permute(2, 0, 3, 1, 4);
            var a = nn.functional.scaled_dot_product_attention(parts[0], parts[1], parts[2], is_casual: true);
            x = x + proj.forward(a.transpose(1, 2).reshape(b, l, d));
            x = x + fc2.forward(nn.functional.gelu(fc1.forward(ln2.forward(x))));
            return x.MoveToOuterDisposeScope();
        }
    }
}
