using System.Runtime.InteropServices;

namespace LiveEdit.Model.Runtime;

/// <summary>
/// How the C allocator under libtorch treats large blocks (docs/memory.md). An edited model rebuilds its stacked expert
/// tensors whenever its set changes: tens of megabytes freed and allocated again at 10,000 experts. glibc serves blocks
/// above a threshold with their own mapping and returns them to the system when freed, but raises that threshold to the
/// size of each such block freed (up to 32 MiB), so from the second rebuild on the stacks come from its heaps, one per
/// thread that allocated, where freed space is kept and fragments: the process grows by a few stacks' worth though no
/// tensor is alive. A fixed threshold keeps every large block in a mapping of its own.
/// </summary>
public static class NativeHeap
{
    /// <summary>The fixed threshold: blocks of at least this many bytes get a mapping of their own.</summary>
    public const int LargeBlockBytes = 1 << 20;

    private const int MmapThreshold = -3;   // M_MMAP_THRESHOLD in glibc's malloc.h

    /// <summary>
    /// Fixes glibc's threshold at <see cref="LargeBlockBytes"/> unless the environment already sets one
    /// (<c>MALLOC_MMAP_THRESHOLD_</c>); true when set. Does nothing (false) off Linux or on a C library without mallopt.
    /// </summary>
    public static bool ReturnLargeBlocks()
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable("MALLOC_MMAP_THRESHOLD_") is not null) return false;
        try
        {
            return mallopt(MmapThreshold, LargeBlockBytes) == 1;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    [DllImport("libc", EntryPoint = "mallopt")]
    private static extern int mallopt(int parameter, int value);
}
