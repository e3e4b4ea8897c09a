using TorchSharp;

namespace LiveEdit.Model.Runtime;

/// <summary>
/// Process-wide TorchSharp settings that results depend on. Bit-exact results need the same seed
/// and the same thread count (1 vs 2 threads give different floating-point sums).
/// </summary>
public static class TorchRuntime
{
    /// <summary>Pins the intra-op thread count and seeds torch's global generator.</summary>
    public static void Configure(int threads, long seed)
    {
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads), threads, "threads must be at least 1");
        torch.set_num_threads(threads);
        torch.manual_seed(seed);
    }

    /// <summary>The thread count in force, recorded beside every result that depends on it.</summary>
    public static int Threads => torch.get_num_threads();
}
