using LiveEdit.Model.Runtime;
using LiveEdit.Model.Vlm;
using LiveEdit.Research.World;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LiveEdit.Research.Training;

/// <summary>
/// Perception pretraining of TinyVLM's vision encoder (our stage 1, in the place of the pretrained CLIP encoder a
/// LLaVA-style model starts from): the encoder's tokens, mean and max pooled, feed one linear classifier per look
/// attribute (body colour, shape, pattern, markings, eyes), trained with cross-entropy on random unnamed looks
/// (<see cref="SynthWorld.RandomUnnamedLook"/>: never an entity's look). The language loss alone teaches the encoder
/// only what tells the known entities apart; the visual hard filter needs every visible attribute of entities it has
/// never seen. Batch t is a pure function of (seed, t); the heads are dropped afterwards.
/// </summary>
public sealed class VisionPretrainer : IDisposable
{
    private static readonly LookAttribute[] Attributes = Enum.GetValues<LookAttribute>();
    private readonly VisionEncoder _encoder;
    private readonly Linear[] _heads;
    private readonly SynthWorld _world;
    private readonly int _seed;
    private readonly AdamW _optimizer;

    /// <summary>Pretrains <paramref name="encoder"/> in place (a fresh one, or the one inside a TinyVLM).</summary>
    public VisionPretrainer(SynthWorld world, VisionEncoder encoder, int visionWidth, int seed, double weightDecay = 0.01)
    {
        _world = world;
        _seed = seed;
        _encoder = encoder;
        using (var generator = new Generator(WorldRandom.Mix(seed, 0x4EAD)))
        {
            _heads = Attributes.Select(a =>
            {
                var head = nn.Linear(2 * visionWidth, Classes(a));
                using var noGrad = no_grad();
                var bound = 1 / Math.Sqrt(2 * visionWidth);
                head.weight!.uniform_(-bound, bound, generator);
                head.bias!.zero_();
                return head;
            }).ToArray();
        }
        _optimizer = new AdamW(Parameters(), weightDecay: weightDecay);
    }

    /// <summary>Classes of the head for <paramref name="a"/>.</summary>
    public static int Classes(LookAttribute a) => a switch
    {
        LookAttribute.Colour => SynthWorld.BodyColours,
        LookAttribute.Shape => Enum.GetValues<Shape>().Length,
        LookAttribute.Pattern => Enum.GetValues<Pattern>().Length,
        LookAttribute.Markings => SynthWorld.Colours.Count + 1,
        _ => 3,
    };

    /// <summary>The class index of <paramref name="look"/> for <paramref name="a"/> (markings of a plain body: the last class).</summary>
    public static long Label(VisualIdentity look, LookAttribute a) => a switch
    {
        LookAttribute.Colour => look.BodyColour,
        LookAttribute.Shape => (long)look.Shape,
        LookAttribute.Pattern => (long)look.Pattern,
        LookAttribute.Markings => look.Pattern == Pattern.Solid ? SynthWorld.Colours.Count : look.PatternColour,
        _ => look.Eyes,
    };

    private IEnumerable<(string, Parameter)> Parameters() =>
        _encoder.named_parameters().Select(p => ("encoder." + p.name, p.parameter))
            .Concat(_heads.SelectMany((h, i) => h.named_parameters().Select(p => ($"head_{i}." + p.name, p.parameter))));

    private void Mode(bool training)
    {
        _encoder.train(training);
        foreach (var h in _heads) h.train(training);
    }

    /// <summary>[B, 3, S, S] → one [B, classes] logit tensor per look attribute.</summary>
    private Tensor[] Forward(Tensor images)
    {
        var h = _encoder.forward(images);                                  // [B, N_v, w]
        var pooled = cat([h.mean([1]), h.amax([1])], 1);                   // [B, 2w]
        return _heads.Select(head => head.forward(pooled)).ToArray();
    }

    private (Tensor Images, Tensor[] Labels) Batch(RenderSplit split, int step, int size)
    {
        var rng = new WorldRandom(WorldRandom.Mix(_seed, 0x5EE1, (long)split, step));
        var looks = Enumerable.Range(0, size).Select(_ => _world.RandomUnnamedLook(rng)).ToArray();
        var images = stack(looks.Select((l, i) => _world.RenderLook(l, split, ((long)step << 16) + i).ToTensor()).ToArray());
        var labels = Attributes.Select(a => tensor(looks.Select(l => Label(l, a)).ToArray())).ToArray();
        return (images, labels);
    }

    /// <summary>One AdamW step on batch <paramref name="step"/>; returns the summed cross-entropy.</summary>
    public double TrainStep(int step, int batch, double lr)
    {
        using var scope = NewDisposeScope();
        Mode(training: true);
        var (images, labels) = Batch(RenderSplit.BaseTrain, step, batch);
        var logits = Forward(images);
        var loss = logits.Zip(labels).Select(p => nn.functional.cross_entropy(p.First, p.Second)).Aggregate((a, b) => a + b);
        _optimizer.ZeroGrad();
        loss.backward();
        nn.utils.clip_grad_norm_(Parameters().Select(p => p.Item2).ToArray(), 1.0);
        _optimizer.Step(lr);
        return loss.item<float>();
    }

    /// <summary>Held-out accuracy (%) per attribute on <paramref name="batches"/> batches of <see cref="RenderSplit.BaseEval"/> renderings.</summary>
    public IReadOnlyDictionary<LookAttribute, double> Evaluate(int batches, int batch)
    {
        Mode(training: false);
        var correct = new double[Attributes.Length];
        using var noGrad = no_grad();
        for (var b = 0; b < batches; b++)
        {
            using var scope = NewDisposeScope();
            var (images, labels) = Batch(RenderSplit.BaseEval, b, batch);
            var logits = Forward(images);
            for (var a = 0; a < Attributes.Length; a++) correct[a] += logits[a].argmax(1).eq(labels[a]).sum().item<long>();
        }
        return Attributes.Select((a, i) => (a, i)).ToDictionary(p => p.a, p => 100.0 * correct[p.i] / (batches * batch));
    }

    /// <summary>
    /// <paramref name="steps"/> steps on the schedule of <see cref="LearningRate"/>; <paramref name="progress"/> gets
    /// (step, mean loss of the last 100 steps) after each.
    /// </summary>
    public void Train(int steps, int batch, double peak, Action<int, double>? progress = null)
    {
        var losses = new Queue<double>();
        for (var t = 0; t < steps; t++)
        {
            losses.Enqueue(TrainStep(t, batch, LearningRate(t, steps, peak)));
            if (losses.Count > 100) losses.Dequeue();
            progress?.Invoke(t + 1, losses.Average());
        }
    }

    /// <summary>Warm-up (200 steps) then cosine decay to 5 % of <paramref name="peak"/>, as in base training.</summary>
    public static double LearningRate(int step, int steps, double peak) =>
        peak * Math.Min(1, (step + 1) / 200.0) * (0.05 + 0.95 * 0.5 * (1 + Math.Cos(Math.PI * Math.Min(1, step / (double)Math.Max(1, steps)))));

    /// <summary>Disposes the heads (the encoder belongs to the caller).</summary>
    public void Dispose()
    {
        foreach (var h in _heads) h.Dispose();
    }
}
