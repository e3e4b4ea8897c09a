using LiveEdit.Model.Editor;
using LiveEdit.Model.Vlm;
using LiveEdit.Testing;
using Shouldly;
using Xunit;

namespace LiveEdit.Model.Tests.Editor;

/// <summary>
/// The determinism promise per device that <c>verify --experts</c> applies: on the CPU in float32 an expert must come
/// back byte for byte; an expert made or re-generated on an accelerator or in half precision must agree within that
/// device's tolerance, with the same base model, generator and sizes.
/// </summary>
public sealed class reproducing_experts_per_device
{
    private static readonly string Base = new('b', 64), Generator = new('9', 64);

    private static Expert Make(float nudge = 0, int at = 0, string? generator = null)
    {
        var u = Enumerable.Range(0, 2 * 8).Select(i => (float)Math.Sin(i + 1)).ToArray();
        u[at] += nudge;
        var v = Enumerable.Range(0, 2 * 8).Select(i => (float)Math.Cos(i + 1)).ToArray();
        var keys = Enumerable.Range(0, 2 * 4).Select(i => 0.25f * i - 1).ToArray();
        return new Expert(8, 2, 2, 4, u, v, keys, keys.Reverse().ToArray(), Base, generator ?? Generator);
    }

    [Fact]
    public void on_the_cpu_one_changed_bit_is_a_different_expert()
    {
        var recorded = Make();
        var regenerated = Make(nudge: 1e-7f);

        ExpertReproduction.Compare(recorded, Make(), null, null).ShouldBe(Reproduction.Identical);
        ExpertReproduction.Compare(recorded, regenerated, null, null).ShouldBe(Reproduction.Different);
    }

    [Fact]
    public void an_expert_made_on_a_gpu_is_reproduced_within_its_tolerance_and_no_further()
    {
        var recorded = Make();

        ExpertReproduction.Compare(recorded, Make(nudge: 1e-4f), "cuda:0/float32", null).ShouldBe(Reproduction.WithinTolerance);
        ExpertReproduction.Compare(recorded, Make(nudge: 1e-4f), null, "cuda:0/float32").ShouldBe(Reproduction.WithinTolerance);
        ExpertReproduction.Compare(recorded, Make(nudge: 1e-2f), "cuda:0/float32", null).ShouldBe(Reproduction.Different);
        ExpertReproduction.Compare(recorded, Make(nudge: 1e-2f), "cuda:0/float16", null).ShouldBe(Reproduction.WithinTolerance);
        ExpertReproduction.Compare(recorded, Make(nudge: 0.5f), "cuda:0/bfloat16", null).ShouldBe(Reproduction.Different);
        ExpertReproduction.Compare(recorded, Make(nudge: float.NaN), "cuda:0/float16", null).ShouldBe(Reproduction.Different);
    }

    [Fact]
    public void no_tolerance_covers_another_generator()
    {
        ExpertReproduction.Compare(Make(), Make(generator: new string('7', 64)), "cuda:0/float16", "cuda:1/float16").ShouldBe(Reproduction.Different);
    }

    [Theory]
    [InlineData("host/1234", null)]
    [InlineData("host/1234@cuda:0/float32", "cuda:0/float32")]
    [InlineData("w@cuda:12/bfloat16", "cuda:12/bfloat16")]
    [InlineData("ops@example.org", null)]
    [InlineData("w@cpu/float32", null)]
    [InlineData("w@cpu/float16", "cpu/float16")]
    [InlineData("w@cuda:/float16", null)]
    [InlineData("w@cuda:0/float64", null)]
    public void the_device_is_read_only_from_a_tag_a_worker_writes(string workerId, string? tag)
    {
        ExpertReproduction.DeviceTagOf(workerId).ShouldBe(tag);
    }

    [Fact]
    public void a_cpu_worker_records_its_id_unchanged()
    {
        var model = VlmLoader.Load("TinyVlm", Path.Combine(RepositoryRoot.Path, "models", "tinyvlm"));
        using var _ = (IDisposable)model;

        ExpertReproduction.DeviceTag(model).ShouldBeNull();
        ExpertReproduction.RecordedWorkerId("host/1234", model).ShouldBe("host/1234");
    }
}
