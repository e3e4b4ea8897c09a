using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace LiveEdit.Bench.Replay;

/// <summary>A part of a replay's wall time that <see cref="ReplayTimings"/> adds up.</summary>
public enum ReplayPhase
{
    /// <summary>Before the first proposal: the system started (ledger schema, host, worker) and the model copies loaded.</summary>
    Starting,

    /// <summary>Proposing over HTTP: the <c>POST /edits</c> round trip (image stored, proposal and approval appended).</summary>
    Proposing,

    /// <summary>After the proposal, waiting until the edit's expert was made (known only when experts are made ahead).</summary>
    WaitingForGeneration,

    /// <summary>After the expert was made, until the replay saw the edit active: dispatch, expert blob stored, activation appended, polls.</summary>
    WaitingForActivation,

    /// <summary>After the proposal, until the replay saw the edit active, when the worker generates (generation and activation together).</summary>
    WaitingForGenerationAndActivation,

    /// <summary>Making experts ahead, summed over the generator copies (they run beside the proposals).</summary>
    GeneratingAhead,

    /// <summary>Reading the edits of the stream back from the ledger before the evaluation.</summary>
    ReadingTheLedger,

    /// <summary>Reading a checkpoint's active set from the ledger.</summary>
    ActiveSetReads,

    /// <summary>Reading expert blobs from the blob store.</summary>
    BlobReads,

    /// <summary>Measuring checkpoints on the evaluator copy while the stream is still being proposed.</summary>
    EvaluatingDuring,

    /// <summary>After the replay, waiting for the checkpoints still being measured on the evaluator copy.</summary>
    WaitingForEarlyCheckpoints,

    /// <summary>Measuring checkpoints (and the chunk protocol) after the replay.</summary>
    EvaluatingAfter,
}

/// <summary>
/// Where a replay's wall time went, by <see cref="ReplayPhase"/> and per checkpoint. Filled from several threads (the
/// proposals, the generators, the early evaluator). Never part of the result files: times differ on every run.
/// </summary>
public sealed class ReplayTimings
{
    private static readonly int PhaseCount = Enum.GetValues<ReplayPhase>().Length;
    private readonly long[] _ticks = new long[PhaseCount];
    private readonly long[] _counts = new long[PhaseCount];
    private readonly List<(int Checkpoint, bool During, TimeSpan Elapsed)> _checkpoints = [];

    /// <summary>Adds <paramref name="elapsed"/> to <paramref name="phase"/>.</summary>
    public void Add(ReplayPhase phase, TimeSpan elapsed)
    {
        Interlocked.Add(ref _ticks[(int)phase], Math.Max(0, elapsed.Ticks));
        Interlocked.Increment(ref _counts[(int)phase]);
    }

    /// <summary>Adds the time since <paramref name="startTimestamp"/> (<see cref="Stopwatch.GetTimestamp"/>) to <paramref name="phase"/>.</summary>
    public void Since(ReplayPhase phase, long startTimestamp) => Add(phase, Stopwatch.GetElapsedTime(startTimestamp));

    /// <summary>Time added to <paramref name="phase"/> so far.</summary>
    public TimeSpan Total(ReplayPhase phase) => TimeSpan.FromTicks(Interlocked.Read(ref _ticks[(int)phase]));

    /// <summary>Times added to <paramref name="phase"/> so far.</summary>
    public long Count(ReplayPhase phase) => Interlocked.Read(ref _counts[(int)phase]);

    /// <summary>Records that checkpoint <paramref name="checkpoint"/> took <paramref name="elapsed"/> to measure, during the replay or after it.</summary>
    public void Checkpoint(int checkpoint, bool during, TimeSpan elapsed)
    {
        lock (_checkpoints) _checkpoints.Add((checkpoint, during, elapsed));
        Add(during ? ReplayPhase.EvaluatingDuring : ReplayPhase.EvaluatingAfter, elapsed);
    }

    /// <summary>
    /// The breakdown as text: each phase's total, count and mean, then each checkpoint. <paramref name="proposing"/> is the
    /// wall time of the proposals (first proposal to last activation) and <paramref name="wall"/> the whole run's.
    /// </summary>
    public string Describe(TimeSpan proposing, TimeSpan wall)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"wall {wall.TotalSeconds:F1} s; proposals {proposing.TotalSeconds:F1} s (first proposal to last activation)\n");
        text.Append("phase\ttotal_s\tcount\tmean_ms\n");
        foreach (var phase in Enum.GetValues<ReplayPhase>())
        {
            var count = Count(phase);
            if (count == 0) continue;
            var total = Total(phase);
            text.Append(CultureInfo.InvariantCulture, $"{Name(phase)}\t{total.TotalSeconds:F2}\t{count}\t{total.TotalMilliseconds / count:F2}\n");
        }
        lock (_checkpoints)
        {
            foreach (var (k, during, elapsed) in _checkpoints.OrderBy(c => c.Checkpoint))
                text.Append(CultureInfo.InvariantCulture, $"checkpoint {k}\t{elapsed.TotalSeconds:F2}\t{(during ? "during the replay" : "after the replay")}\n");
        }
        return text.ToString();
    }

    private static string Name(ReplayPhase phase) => phase switch
    {
        ReplayPhase.Starting => "starting (system, model copies)",
        ReplayPhase.Proposing => "proposing over HTTP",
        ReplayPhase.WaitingForGeneration => "waiting for generation",
        ReplayPhase.WaitingForActivation => "waiting for activation",
        ReplayPhase.WaitingForGenerationAndActivation => "waiting for generation and activation (worker generates)",
        ReplayPhase.GeneratingAhead => "generating ahead (all copies, beside the proposals)",
        ReplayPhase.ReadingTheLedger => "reading the stream's edits from the ledger",
        ReplayPhase.ActiveSetReads => "active-set reads",
        ReplayPhase.BlobReads => "expert blob reads",
        ReplayPhase.EvaluatingDuring => "evaluating during the replay",
        ReplayPhase.WaitingForEarlyCheckpoints => "after the replay, waiting for checkpoints measured on the evaluator copy",
        ReplayPhase.EvaluatingAfter => "evaluating after the replay",
        _ => phase.ToString(),
    };
}
