using System.Globalization;

namespace LiveEdit.Bench.Perf;

/// <summary>
/// What <see cref="PerfBench"/> measures: <see cref="Edits"/> edits replayed on each of <see cref="Transports"/> and timed for
/// generation, query latency at <see cref="LatencyCounts"/> active experts, <see cref="Queries"/> timed queries per
/// latency point and per rebuild, SynthWorld edits drawn with <see cref="Seed"/>.
/// </summary>
public sealed class PerfSettings
{
    /// <summary>The transports a system can be started on, as they are written in reports.</summary>
    public static IReadOnlyList<string> KnownTransports { get; } = ["InMemory", "RabbitMq"];

    /// <summary>The fewest timed queries per point; fewer would make the median a single sample.</summary>
    public const int MinQueries = 3;

    /// <summary>
    /// Checks and normalises the settings: transport names as in <see cref="KnownTransports"/> (case-insensitive on
    /// input), negative latency counts dropped, the rest distinct and ascending, <paramref name="queries"/> at least
    /// <see cref="MinQueries"/>.
    /// </summary>
    /// <exception cref="ArgumentException">Fewer than two edits, no transport, or an unknown transport.</exception>
    public PerfSettings(int edits, IEnumerable<string> transports, IEnumerable<int> latencyCounts, int queries, int seed)
    {
        // Two edits at least: the rebuild is timed as of half and as of all of them.
        if (edits < 2) throw new ArgumentException($"--edits must be at least 2 (got {edits})");
        var names = new List<string>();
        foreach (var t in transports)
        {
            var known = KnownTransports.FirstOrDefault(k => k.Equals(t.Trim(), StringComparison.OrdinalIgnoreCase))
                ?? throw new ArgumentException($"unknown transport '{t}' ({string.Join(" or ", KnownTransports)})");
            names.Add(known);
        }
        if (names.Count == 0) throw new ArgumentException($"--transports names no transport ({string.Join(" or ", KnownTransports)})");
        Edits = edits;
        Transports = names;
        LatencyCounts = latencyCounts.Where(n => n >= 0).Distinct().Order().ToList();
        Queries = Math.Max(MinQueries, queries);
        Seed = seed;
    }

    /// <summary>Edits replayed per transport (propose→active) and timed for generation.</summary>
    public int Edits { get; }

    /// <summary>Transports to measure, in order; the model-side figures come from the first one's system.</summary>
    public IReadOnlyList<string> Transports { get; }

    /// <summary>Active-expert counts for query latency, ascending.</summary>
    public IReadOnlyList<int> LatencyCounts { get; }

    /// <summary>Timed queries per latency point and per rebuild.</summary>
    public int Queries { get; }

    /// <summary>SynthWorld seed of the edits.</summary>
    public int Seed { get; }

    /// <summary>The <c>liveedit bench perf</c> command line that asks for these settings, recorded in the report.</summary>
    public string Command => string.Create(CultureInfo.InvariantCulture,
        $"liveedit bench perf --edits {Edits} --transports {string.Join(',', Transports)} --latency {string.Join(',', LatencyCounts)} --queries {Queries} --seed {Seed}");

    /// <summary>Settings from the command's option texts: comma-separated <paramref name="transports"/> and <paramref name="latency"/>.</summary>
    /// <exception cref="ArgumentException">A latency count that is not a whole number, or what the constructor refuses.</exception>
    public static PerfSettings Parse(int edits, string transports, string latency, int queries, int seed)
    {
        var counts = new List<int>();
        foreach (var part in latency.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n))
                throw new ArgumentException($"--latency: '{part}' is not a whole number of active experts");
            counts.Add(n);
        }
        return new PerfSettings(edits, transports.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), counts, queries, seed);
    }
}
