using System.Text;
using LiveEdit.Research.Editing;

namespace LiveEdit.Bench.Replay;

/// <summary>What proposing a stream did: per case, the edit id, the version that activated it and propose→active time.</summary>
public sealed record ReplayRun(IReadOnlyList<Guid> EditIds, IReadOnlyList<long> ActivatedAtVersions, IReadOnlyList<double> LatenciesMs, double Seconds)
{
    /// <summary>Edits whose wait ended on the in-process worker's notice (with the activation's version, or a read right after it) rather than after a poll's pause.</summary>
    public int WokenByWorker { get; init; }

    /// <summary>Propose→active latency at quantile <paramref name="q"/> (ms), nearest rank.</summary>
    public double LatencyMs(double q)
    {
        var sorted = LatenciesMs.Order().ToArray();
        return sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1)];
    }
}

/// <summary>A replayed stream as the ledger holds it: per case, its edit, the version that activated it and its expert's SHA-256.</summary>
public sealed record ReplayedEdits(IReadOnlyList<Guid> EditIds, IReadOnlyList<long> ActivatedAtVersions, IReadOnlyList<string> ExpertSha256s);

/// <summary>
/// The result files of a replay: no times, no random ids. <paramref name="AnswersJsonl"/> holds, per checkpoint and
/// measured case, every query's score, greedy answer and the experts that fired with their weights (one JSON line each).
/// </summary>
public sealed record ReplayResults(IReadOnlyList<EditMetrics> Metrics, string MetricsMarkdown, string MetricsJson, string ExpertsTsv, string RunJson,
    string AnswersJsonl = "")
{
    /// <summary>The file names and contents, in a fixed order.</summary>
    public IReadOnlyList<(string Name, string Text)> Files =>
        [("metrics.md", MetricsMarkdown), ("metrics.json", MetricsJson), ("experts.tsv", ExpertsTsv), ("run.json", RunJson), ("answers.jsonl", AnswersJsonl)];

    /// <summary>Writes the files (UTF-8, no BOM) into <paramref name="folder"/>, which must be new or empty.</summary>
    /// <exception cref="IOException">The folder holds files already.</exception>
    public void WriteTo(string folder)
    {
        if (Directory.Exists(folder) && Directory.EnumerateFileSystemEntries(folder).Any())
            throw new IOException($"{folder} is not empty; choose a new folder for the results");
        Directory.CreateDirectory(folder);
        var utf8 = new UTF8Encoding(false);
        foreach (var (name, text) in Files) File.WriteAllText(Path.Combine(folder, name), text, utf8);
    }
}

/// <summary>A replay that cannot go on, with the message to show.</summary>
public sealed class ReplayException(string message) : Exception(message);
