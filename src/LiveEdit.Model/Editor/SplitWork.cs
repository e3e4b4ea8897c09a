namespace LiveEdit.Model.Editor;

/// <summary>
/// Work over items [0, count) in fixed chunks, claimed by whichever of two threads asks next: the calling thread and
/// one pool thread. The caller never waits for the helper to start (on a busy machine it may not run at all, and the
/// caller then takes every chunk); it waits only for chunks the helper has claimed and not yet finished. Every chunk
/// writes its own items only, so the result does not depend on which thread ran which chunk.
/// </summary>
internal sealed class SplitWork
{
    private readonly int count, chunk, chunks;
    private readonly Action<int, int> body;
    private int next = -1;
    private int done;

    private SplitWork(int count, int chunk, Action<int, int> body)
    {
        this.count = count;
        this.chunk = chunk;
        this.body = body;
        chunks = (count + chunk - 1) / chunk;
    }

    /// <summary>
    /// Calls <paramref name="body"/>(from, to) for every chunk of <paramref name="chunk"/> items; on one thread alone when
    /// there are fewer than <paramref name="splitFrom"/> items or one core. <paramref name="body"/> must not throw.
    /// </summary>
    public static void For(int count, int splitFrom, int chunk, Action<int, int> body)
    {
        if (chunk <= 0) throw new ArgumentOutOfRangeException(nameof(chunk), "a chunk holds at least one item");
        if (count < splitFrom || count <= chunk || Environment.ProcessorCount < 2)
        {
            if (count > 0) body(0, count);
            return;
        }
        var work = new SplitWork(count, chunk, body);
        ThreadPool.UnsafeQueueUserWorkItem(static w => w.Work(), work, preferLocal: false);
        work.Work();
        var wait = new SpinWait();
        while (Volatile.Read(ref work.done) < work.chunks) wait.SpinOnce();
    }

    private void Work()
    {
        int c;
        while ((c = Interlocked.Increment(ref next)) < chunks)
        {
            body(c * chunk, Math.Min(count, (c + 1) * chunk));
            Interlocked.Increment(ref done);
        }
    }
}
