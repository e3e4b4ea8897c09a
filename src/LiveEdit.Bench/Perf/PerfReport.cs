using System.Text.Json.Serialization;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace LiveEdit.Bench.Perf;

/// <summary>
/// The figures of one <c>liveedit bench perf</c> run, with the command, the date (UTC) and the machine. Times in
/// milliseconds. Written as perf.json (these records, camelCase) and perf.md (<see cref="PerfMarkdown"/>).
/// </summary>
public sealed record PerfReport(string Command, string Date, MachineInfo Machine, int Threads, GenerationTimes? Generation,
    IReadOnlyList<TransportLatency> EditLatency, IReadOnlyList<QueryLatency> QueryLatency, RebuildTimes? Rebuild)
{
    /// <summary>Greedy decoding of the base model: KV cache against full recompute, a batch against singles (null in earlier reports).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public DecodingTimes? Decoding { get; init; }
    /// <summary>Where one image query's time goes at each latency point: routing apart from fusion (null in earlier reports).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<RoutingLatency>? Routing { get; init; }
    /// <summary>What the experts and queries of the latency points are (null in earlier reports, whose experts were generated one at a time with refinement).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? LatencyExperts { get; init; }

    /// <summary>The JSON file's name inside the output folder.</summary>
    public const string JsonFile = "perf.json";

    /// <summary>The markdown file's name inside the output folder.</summary>
    public const string MarkdownFile = "perf.md";

    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    /// <summary>perf.json's text: indented, camelCase, ending in a newline.</summary>
    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions) + "\n";

    /// <summary>Reads perf.json's text back.</summary>
    /// <exception cref="JsonException">Not a perf report.</exception>
    public static PerfReport FromJson(string json) =>
        JsonSerializer.Deserialize<PerfReport>(json, JsonOptions) ?? throw new JsonException("perf.json holds null");

    /// <summary>Writes perf.json and perf.md (UTF-8, no BOM) into <paramref name="folder"/>, created if missing; returns their paths.</summary>
    public IReadOnlyList<string> WriteTo(string folder)
    {
        Directory.CreateDirectory(folder);
        var utf8 = new UTF8Encoding(false);
        var json = Path.Combine(folder, JsonFile);
        var markdown = Path.Combine(folder, MarkdownFile);
        File.WriteAllText(json, ToJson(), utf8);
        File.WriteAllText(markdown, PerfMarkdown.Render(this), utf8);
        return [json, markdown];
    }
}

/// <summary>The machine a report was measured on: processors, CPU model, memory, OS, and the load average when the run began.</summary>
public sealed record MachineInfo(int Nproc, string Cpu, double MemoryGiB, string Os, string LoadAverage)
{
    /// <summary>This machine now, from /proc where it exists (elsewhere the CPU reads "unknown CPU", memory 0, load empty).</summary>
    public static MachineInfo Current()
    {
        static string? Field(string file, string name) =>
            File.Exists(file) ? File.ReadLines(file).FirstOrDefault(l => l.StartsWith(name, StringComparison.Ordinal))?.Split(':', 2)[1].Trim() : null;
        var cpu = Field("/proc/cpuinfo", "model name") ?? "unknown CPU";
        var memKb = Field("/proc/meminfo", "MemTotal") is { } m ? long.Parse(m.Split(' ')[0], CultureInfo.InvariantCulture) : 0;
        var load = File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "";
        return new MachineInfo(Environment.ProcessorCount, cpu, Math.Round(memKb / 1024.0 / 1024.0, 1), Environment.OSVersion.VersionString, load);
    }

    /// <summary>One line for the console: processors, CPU, memory.</summary>
    public string Describe() => string.Create(CultureInfo.InvariantCulture, $"nproc {Nproc}, {Cpu}, {MemoryGiB} GiB");
}

/// <summary>Expert generation timed one edit at a time (edit signal forward and generator) over <paramref name="Edits"/> edits.</summary>
public sealed record GenerationTimes(int Edits, double MeanMs, double P50Ms);

/// <summary>Propose→active latency over <paramref name="Transport"/> (HTTP, worker, ledger) for <paramref name="Edits"/> edits, nearest-rank quantiles.</summary>
public sealed record TransportLatency(string Transport, int Edits, double P50Ms, double P99Ms, double MaxMs);

/// <summary>
/// One greedy image query with <paramref name="Experts"/> active experts: median and p95; and, from reports since each
/// query was timed back to back with the base model, the base model's median on the same queries and the mean decoding
/// steps of both (null in earlier reports).
/// </summary>
public sealed record QueryLatency(int Experts, double MedianMs, double P95Ms,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? BaseMedianMs = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? Steps = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] double? BaseSteps = null);

/// <summary>
/// A query as of ledger <paramref name="Version"/>, the version that activated the <paramref name="Edits"/>-th replayed edit,
/// with <paramref name="ActiveExperts"/> experts active then: cold (a new server rebuilds the version) and warm (cached).
/// </summary>
public sealed record RebuildPoint(long Version, int Edits, int ActiveExperts, double ColdMedianMs, double ColdMaxMs, double WarmMedianMs);

/// <summary>
/// Where one greedy image query's time goes with <paramref name="Experts"/> active (medians over the timed queries, from
/// <see cref="LiveEdit.Model.Editor.RoutingCost"/>): the routing apart from fusion — the hard filter
/// (<paramref name="FilterMs"/>, <paramref name="MeanScored"/> experts scored exactly) and the survivors' text scores and
/// soft weights (<paramref name="WeightsMs"/>), <paramref name="RoutingMs"/> their sum — and the input-side keys
/// (<paramref name="KeysMs"/>, the same at any count); then what grows with the survivors: building their fusion operands
/// (<paramref name="GatherMs"/>) and adding the fused residual at the prefill and every step (<paramref name="FusionMs"/>),
/// together per survivor in <paramref name="FusionPerSurvivorMs"/>. <paramref name="ForwardMs"/> and
/// <paramref name="BaseForwardMs"/>: the greedy answer with the experts and the base model's (in reports before the
/// direct measurement of fusion: one teacher-forced forward each, fusion inferred from their difference).
/// </summary>
public sealed record RoutingLatency(int Experts, double RoutingMs, double FilterMs, double WeightsMs, double KeysMs, double MeanScored,
    double MeanSurvivors, double GatherMs, double FusionMs, double FusionPerSurvivorMs, double ForwardMs, double BaseForwardMs);

/// <summary>The rebuild points, with the ledger <paramref name="Head"/> version when they were measured.</summary>
public sealed record RebuildTimes(long Head, IReadOnlyList<RebuildPoint> Points);

/// <summary>
/// The base model's greedy answer to one image query over <paramref name="Queries"/> queries (medians): recomputing the
/// whole sequence at every step against prefilling once with a KV cache; and <paramref name="BatchSize"/> queries
/// answered as one batch against the same queries one at a time (the sum of the singles). <paramref name="Disagreements"/>:
/// answers that differed between the two decodings or between batch and singles (0 expected).
/// </summary>
public sealed record DecodingTimes(int Queries, double RecomputeMedianMs, double CachedMedianMs, int BatchSize, double BatchMedianMs, double SinglesMedianMs, int Disagreements);
