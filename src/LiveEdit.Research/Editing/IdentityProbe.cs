using LiveEdit.Model.Vlm;
using LiveEdit.Research.World;
using TorchSharp;
using static TorchSharp.torch;

namespace LiveEdit.Research.Editing;

/// <summary>One classifier's accuracy at telling the entities of a split apart from one rendering.</summary>
/// <param name="Features">What the classifier reads: the layer-l_e vision states, or the raw pixel patches.</param>
/// <param name="Classifier">Linear on mean+max pooled tokens, or a token MLP then pooling then an MLP.</param>
/// <param name="TrainAccuracy">On its own training renderings, %.</param>
/// <param name="HeldOutAccuracy">On other renderings of the same entities, %.</param>
/// <param name="WithinFamilyErrors">Held-out renderings taken for another entity of the same family, % of all.</param>
public sealed record IdentityProbeResult(string Features, string Classifier, int Entities, int TrainRenders, int TestRenders,
    double TrainAccuracy, double HeldOutAccuracy, double WithinFamilyErrors);

/// <summary>
/// A diagnostic for the visual hard filter: how much of an entity's identity one rendering carries. A closed-set
/// classifier over a split's entities is trained on many renderings of each and tested on other renderings. It has
/// more to go on than the filter, which matches one edit image against one query image, so its held-out accuracy is an
/// upper bound on what any visual key read from the same features can recover. It reads the frozen model's vision
/// states at layer l_e (what the key extractor reads) and, for comparison, the raw pixels cut into the model's token grid.
/// </summary>
public static class IdentityProbe
{
    private const int Epochs = 60;
    private const int Batch = 256;
    private const long TestRenderOffset = 10_000;

    /// <summary>
    /// Trains and tests both classifiers on both kinds of features (on the pixels alone when <paramref name="pixelsOnly"/>,
    /// e.g. for a world rendered at another size than the model reads). Seeded: the same arguments give the same figures.
    /// </summary>
    public static IReadOnlyList<IdentityProbeResult> Run(IVisionLanguageModel model, SynthWorld world, EditSplit split, int trainRenders, int testRenders,
        long seed, Action<string>? log = null, bool pixelsOnly = false)
    {
        if (trainRenders < 1 || testRenders < 1) throw new ArgumentException("need at least one training and one test rendering per entity");
        var renderSplit = split == EditSplit.EditorTrain ? RenderSplit.EditorTrain : RenderSplit.EditorEval;
        var entities = world.Entities.Where(e => e.EditSplit == split).ToArray();
        var family = entities.Select(e => e.Family).ToArray();
        var results = new List<IdentityProbeResult>();
        foreach (var pixels in pixelsOnly ? [true] : new[] { false, true })
        {
            using var scope = NewDisposeScope();
            Tensor Features(Entity e, long from, int n)
            {
                using var inner = NewDisposeScope();
                using var noGrad = no_grad();
                var images = Enumerable.Range(0, n).Select(i => world.Render(e, renderSplit, 900_000_000L + from + i).ToTensor()).ToList();
                if (pixels)
                {
                    // The image cut into the model's token grid: N_v patches of side S/√N_v, flattened. [n, N_v, 3·p²]
                    var img = stack(images.ToArray());                                         // [n, 3, S, S]
                    long side = img.shape[2], grid = (long)Math.Round(Math.Sqrt(model.Shape.VisionTokens)), p = side / grid;
                    return img.reshape(n, 3, grid, p, grid, p).permute(0, 2, 4, 1, 3, 5).reshape(n, grid * grid, 3 * p * p).MoveToOuterDisposeScope();
                }
                var inputs = model.Prepare(images.Select(x => new VlmExample(x, "what is it ?")).ToList());
                var h = model.HiddenAtEditLayer(inputs);                                       // [n, L, d]
                return h.narrow(1, inputs.VisionStart[0], inputs.VisionCount[0]).clone().MoveToOuterDisposeScope(); // [n, N_v, d]
            }
            var train = new List<Tensor>();
            var test = new List<Tensor>();
            var trainLabels = new List<long>();
            var testLabels = new List<long>();
            for (var c = 0; c < entities.Length; c++)
            {
                train.Add(Features(entities[c], 0, trainRenders));
                test.Add(Features(entities[c], TestRenderOffset, testRenders));
                trainLabels.AddRange(Enumerable.Repeat((long)c, trainRenders));
                testLabels.AddRange(Enumerable.Repeat((long)c, testRenders));
            }
            var x = cat(train.ToArray(), 0);
            var y = tensor(trainLabels.ToArray());
            var xt = cat(test.ToArray(), 0);
            var yt = tensor(testLabels.ToArray());
            var features = pixels ? $"raw pixel patches ({world.ImageSize}×{world.ImageSize})" : $"layer-{model.Shape.EditLayer} vision states";
            foreach (var deep in new[] { false, true })
            {
                var r = Classify(x, y, xt, yt, testLabels, family, entities.Length, deep, seed);
                var result = new IdentityProbeResult(features, deep ? "token MLP + mean/max pool + MLP" : "linear on mean/max pool",
                    entities.Length, trainRenders, testRenders, r.Train, r.HeldOut, r.Family);
                log?.Invoke($"{result.Features}, {result.Classifier}: train {result.TrainAccuracy:F1} %, held-out {result.HeldOutAccuracy:F1} %, within-family errors {result.WithinFamilyErrors:F1} %");
                results.Add(result);
            }
        }
        return results;
    }

    private static (double Train, double HeldOut, double Family) Classify(Tensor x, Tensor y, Tensor xt, Tensor yt, List<long> testLabels,
        int[] family, int classes, bool deep, long seed)
    {
        using var scope = NewDisposeScope();
        manual_seed(seed);
        long d = x.shape[2];
        var tokenMlp = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d));
        var head = deep ? nn.Sequential(nn.Linear(2 * d, 256), nn.GELU(), nn.Linear(256, classes)) : nn.Sequential(nn.Linear(2 * d, classes));
        Tensor Logits(Tensor batch)
        {
            var t = nn.functional.layer_norm(batch, [d]);
            if (deep) t = t + tokenMlp.forward(t);
            return head.forward(cat([t.mean([1]), t.amax([1])], 1));                         // pooled [n, 2d] → [n, classes]
        }
        var parameters = head.parameters().Concat(deep ? tokenMlp.parameters() : []).ToList();
        var optimizer = optim.Adam(parameters, 3e-3);
        var generator = new Generator((ulong)seed);
        var n = x.shape[0];
        for (var epoch = 0; epoch < Epochs; epoch++)
        {
            using var epochScope = NewDisposeScope();
            var order = randperm(n, generator: generator);
            for (long s = 0; s < n; s += Batch)
            {
                using var step = NewDisposeScope();
                var index = order.narrow(0, s, Math.Min(Batch, n - s));
                var loss = nn.functional.cross_entropy(Logits(x.index_select(0, index)), y.index_select(0, index));
                optimizer.zero_grad();
                loss.backward();
                optimizer.step();
            }
        }
        using var noGrad = no_grad();
        double Accuracy(Tensor input, Tensor labels) => Logits(input).argmax(1).eq(labels).to_type(ScalarType.Float32).mean().item<float>() * 100.0;
        var predicted = Logits(xt).argmax(1).data<long>().ToArray();
        var withinFamily = predicted.Where((p, i) => p != testLabels[i] && family[p] == family[testLabels[i]]).Count() * 100.0 / predicted.Length;
        return (Accuracy(x, y), Accuracy(xt, yt), withinFamily);
    }
}
