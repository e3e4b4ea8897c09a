using LiveEdit.Ledger.Audit;
using Shouldly;
using Xunit;

namespace LiveEdit.Ledger.Tests;

public sealed class remembering_authentic_sequences
{
    [Fact]
    public void a_set_holds_exactly_what_was_added_across_chunks()
    {
        var random = new Random(7);
        var added = new HashSet<long>();
        var set = new SequenceSet();
        for (var i = 0; i < 20_000; i++)
        {
            // Dense near the start, sparse far out: crosses chunk and growth boundaries.
            var seq = i % 4 == 0 ? random.NextInt64(0, 3_000_000) : random.NextInt64(0, 70_000);
            set.Add(seq);
            added.Add(seq);
        }
        for (long seq = 0; seq < 70_000; seq++) set.Contains(seq).ShouldBe(added.Contains(seq), $"sequence {seq}");
        foreach (var seq in added) set.Contains(seq).ShouldBeTrue();
        set.Contains(-1).ShouldBeFalse();
        set.Contains(long.MaxValue).ShouldBeFalse();
    }

    [Fact]
    public void concurrent_writers_lose_no_sequence()
    {
        var set = new SequenceSet();
        Parallel.For(0, 8, w =>
        {
            for (long seq = w; seq < 400_000; seq += 8) set.Add(seq);
        });
        for (long seq = 0; seq < 400_000; seq++) set.Contains(seq).ShouldBeTrue();
        set.Contains(400_000).ShouldBeFalse();
    }
}
