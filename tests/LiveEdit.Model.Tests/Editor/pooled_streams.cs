using LiveEdit.Research.Editing;
using Shouldly;
using Xunit;

namespace LiveEdit.Model.Tests.Editor;

/// <summary>
/// <c>eval editor --seeds</c>: the same protocols on several streams, pooled by measured cases (M-Loc by measured
/// locality inputs), so that a figure does not rest on one stream.
/// </summary>
public sealed class pooled_streams
{
    private static EditMetrics Row(string protocol, int cases, double rel, double mLoc, int excluded, double precision) =>
        new(protocol, 1000, 640, cases, rel, rel, rel, 100, mLoc, double.NaN, double.NaN, double.NaN, precision, 90, 2, excluded) { MLocLostOtherEntity = 100 - mLoc };

    [Fact]
    public void metrics_are_weighted_by_measured_cases_and_m_loc_by_measured_locality_inputs()
    {
        var first = new[] { Row("lifelong@1000", 500, 98, 96, 300, 70) };
        var second = new[] { Row("lifelong@1000", 300, 90, 90, 100, 80) };
        var pooled = EditorEvaluation.Pool([first, second]).Single();

        pooled.Cases.ShouldBe(800);
        pooled.Rel.ShouldBe((98.0 * 500 + 90 * 300) / 800, 1e-12);
        pooled.FilterPrecision.ShouldBe((70.0 * 500 + 80 * 300) / 800, 1e-12);
        // 200 measured locality inputs in the first stream, 200 in the second: the plain mean of the two M-Locs here,
        // not the case-weighted one.
        pooled.MLoc.ShouldBe(93, 1e-12);
        pooled.MLocExcluded.ShouldBe(400);
        pooled.MLocLostOtherEntity.ShouldBe(7, 1e-12);
        double.IsNaN(pooled.RelExact).ShouldBeTrue("not measured in any stream stays not measured");
    }

    [Fact]
    public void one_stream_is_its_own_pool_and_mismatched_rows_are_refused()
    {
        var row = Row("lifelong@1000", 500, 98, 96, 300, 70);
        EditorEvaluation.Pool([[row]]).Single().ShouldBeSameAs(row);
        Should.Throw<ArgumentException>(() => EditorEvaluation.Pool([[row], [Row("chunks T=1000", 500, 98, 96, 300, 70)]]));
        Should.Throw<ArgumentException>(() => EditorEvaluation.Pool([[row], [row, row]]));
        Should.Throw<ArgumentException>(() => EditorEvaluation.Pool([]));
    }
}
