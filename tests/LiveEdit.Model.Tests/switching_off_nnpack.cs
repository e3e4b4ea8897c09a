using System.Runtime.InteropServices;
using System.Security.Cryptography;
using LiveEdit.Model.Runtime;
using LiveEdit.Model.Tests.Editor;
using LiveEdit.Model.Vlm;
using LiveEdit.Research.World;
using Shouldly;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LiveEdit.Model.Tests;

/// <summary>NNPACK is a process-wide libtorch switch, so these run in the collection that owns torch's global state.</summary>
[Collection(EditorCollection.Name)]
public sealed class switching_off_nnpack(ITestOutputHelper output)
{
    [Fact]
    public void the_vision_encoder_switches_it_off()
    {
        using var encoder = new VisionEncoder(TinyVlmConfig.Micro);
        Nnpack.Enabled.ShouldBeFalse();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void changes_no_logit_of_the_committed_model(int threads)
    {
        TorchRuntime.Configure(threads, seed: 0);
        using var model = TinyVlm.Load(the_committed_checkpoint.Folder());
        var questions = new SynthWorld(WorldConfig.Default).EvalImageQuestions(96, heldOutParaphrase: false, seed: 5);
        try
        {
            Nnpack.Enabled = true;
            var on = LogitsSha256(model, questions);
            Nnpack.Enabled = false;
            var off = LogitsSha256(model, questions);
            output.WriteLine($"{threads} thread(s): logits SHA-256 with NNPACK allowed {on}, switched off {off}");
            off.ShouldBe(on);
        }
        finally
        {
            Nnpack.Enabled = false;
        }
    }

    /// <summary>
    /// One hash over the logits of every question, run one at a time (the single-image forwards that asked libtorch
    /// about NNPACK) and in batches of 2, 16 and 32 (the sizes at which libtorch would let NNPACK run a convolution).
    /// </summary>
    private static string LogitsSha256(TinyVlm model, IReadOnlyList<WorldQuestion> questions)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var noGrad = no_grad();
        foreach (var batch in new[] { 1, 2, 16, 32 })
        {
            for (var start = 0; start < questions.Count; start += batch)
            {
                using var scope = NewDisposeScope();
                var examples = questions.Skip(start).Take(batch).Select(q => q.ToExample()).ToArray();
                var logits = model.Logits(model.Prepare(examples)).contiguous();
                hash.AppendData(MemoryMarshal.AsBytes(logits.data<float>().ToArray().AsSpan()));
            }
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}
