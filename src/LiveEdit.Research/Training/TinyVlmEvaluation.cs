using System.Diagnostics;
using LiveEdit.Model.Vlm;
using LiveEdit.Research.World;
using static TorchSharp.torch;

namespace LiveEdit.Research.Training;

/// <summary>Exact-match figures on held-out data.</summary>
/// <param name="ImageExactMatch">Held-out renderings, training paraphrases.</param>
/// <param name="ParaphraseExactMatch">Held-out renderings, the held-out paraphrase.</param>
/// <param name="TextExactMatch">Every text-only fact, training paraphrases.</param>
/// <param name="TextParaphraseExactMatch">Every text-only fact, the held-out paraphrase (reported, no target).</param>
/// <param name="LookExactMatch">Perception questions about unnamed looks on held-out renderings, training paraphrases.</param>
/// <param name="LookParaphraseExactMatch">The same, the held-out paraphrase.</param>
public sealed record TinyVlmScores(double ImageExactMatch, double ParaphraseExactMatch, double TextExactMatch, double TextParaphraseExactMatch, int ImageCount, int TextCount,
    double LookExactMatch, double LookParaphraseExactMatch)
{
    /// <summary>The base model's accuracy targets: 95 % / 93 % / 95 %.</summary>
    public bool MeetsTargets => ImageExactMatch >= 0.95 && ParaphraseExactMatch >= 0.93 && TextExactMatch >= 0.95;
}

/// <summary>Evaluation and latency measurement of a (trained) TinyVLM.</summary>
public static class TinyVlmEvaluation
{
    /// <summary>Fraction of questions whose greedy answer equals the expected answer exactly.</summary>
    public static double ExactMatch(IVisionLanguageModel model, IReadOnlyList<WorldQuestion> questions, int batchSize = 128)
    {
        var correct = 0;
        for (var start = 0; start < questions.Count; start += batchSize)
        {
            using var scope = NewDisposeScope();
            var chunk = questions.Skip(start).Take(batchSize).ToArray();
            var answers = model.GreedyAnswers(chunk.Select(q => q.ToExample(withAnswer: false)).ToArray(), maxNewTokens: 4);
            correct += chunk.Zip(answers).Count(p => p.First.Answer == p.Second);
        }
        return correct / (double)questions.Count;
    }

    /// <summary>Exact match per question attribute (for example per look attribute of the perception questions).</summary>
    public static IReadOnlyDictionary<string, double> ExactMatchByAttribute(IVisionLanguageModel model, IReadOnlyList<WorldQuestion> questions) =>
        questions.GroupBy(q => q.Attribute).OrderBy(g => g.Key, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => ExactMatch(model, g.ToArray()));

    /// <summary>The four held-out figures (<paramref name="imageQuestions"/> each for image and paraphrase).</summary>
    public static TinyVlmScores Evaluate(TinyVlm model, SynthWorld world, int imageQuestions = 960, int seed = 0)
    {
        var wasTraining = model.training;
        model.eval();
        try
        {
            var text = world.EvalTextQuestions(heldOutParaphrase: false);
            return new TinyVlmScores(
                ExactMatch(model, world.EvalImageQuestions(imageQuestions, heldOutParaphrase: false, seed)),
                ExactMatch(model, world.EvalImageQuestions(imageQuestions, heldOutParaphrase: true, seed)),
                ExactMatch(model, text),
                ExactMatch(model, world.EvalTextQuestions(heldOutParaphrase: true)),
                imageQuestions, text.Count,
                ExactMatch(model, world.EvalLookQuestions(imageQuestions, heldOutParaphrase: false, seed)),
                ExactMatch(model, world.EvalLookQuestions(imageQuestions, heldOutParaphrase: true, seed)));
        }
        finally
        {
            if (wasTraining) model.train();
        }
    }

    /// <summary>Median and 95th-percentile wall time (ms) of one greedy answer for a single image query.</summary>
    public static (double MedianMs, double P95Ms) GreedyLatency(IVisionLanguageModel model, SynthWorld world, int repetitions = 1000)
    {
        var questions = world.EvalImageQuestions(Math.Min(repetitions, 200), heldOutParaphrase: false, seed: 7);
        using (var warm = NewDisposeScope()) model.GreedyAnswers([questions[0].ToExample(false)], maxNewTokens: 4);
        var times = new double[repetitions];
        for (var i = 0; i < repetitions; i++)
        {
            using var scope = NewDisposeScope();
            var example = questions[i % questions.Count].ToExample(false);
            var watch = Stopwatch.StartNew();
            model.GreedyAnswers([example], maxNewTokens: 4);
            times[i] = watch.Elapsed.TotalMilliseconds;
        }
        Array.Sort(times);
        return (times[repetitions / 2], times[(int)(repetitions * 0.95)]);
    }
}
