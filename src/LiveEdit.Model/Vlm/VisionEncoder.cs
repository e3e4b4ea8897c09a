using LiveEdit.Model.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LiveEdit.Model.Vlm;

/// <summary>
/// ViT-style image encoder with a small convolutional stem (a "hybrid ViT": two strided 3×3 convolutions down to 1/4
/// resolution, then 2×2 patches), learned positions and bidirectional transformer blocks. The conv stem makes
/// the tiny encoder learn colours and patterns from few examples on a CPU.
/// </summary>
public sealed class VisionEncoder : nn.Module<Tensor, Tensor>
{
    private readonly Conv2d stem_1;
    private readonly Conv2d stem_2;
    private readonly Conv2d patch;
    private readonly Parameter positions;
    private readonly ModuleList<TransformerBlock> blocks;
    private readonly LayerNorm ln_out;

    // Without this, every single-image forward on a CPU that NNPACK does not support prints libtorch's NNPACK notice
    // three times (see Nnpack); results are the same either way.
    static VisionEncoder() => Nnpack.Disable();

    public VisionEncoder(TinyVlmConfig config) : base(nameof(VisionEncoder))
    {
        var w = config.VisionWidth;
        stem_1 = nn.Conv2d(3, 16, 3, stride: 2, padding: 1);
        stem_2 = nn.Conv2d(16, 48, 3, stride: 2, padding: 1);
        patch = nn.Conv2d(48, w, 2, stride: 2);
        positions = nn.Parameter(randn(config.VisionTokens, w) * 0.02);
        blocks = nn.ModuleList(Enumerable.Range(0, config.VisionLayers).Select(_ => new TransformerBlock(w, config.Heads, config.MlpRatio, causal: false)).ToArray());
        ln_out = nn.LayerNorm(w);
        RegisterComponents();
    }

    /// <summary>[B, 3, S, S] in [0, 1] → [B, N_v, VisionWidth]</summary>
    public override Tensor forward(Tensor images)
    {
        using var scope = NewDisposeScope();
        var x = (images - 0.5) * 4.0;                               // roughly zero-mean, unit-scale pixels
        x = nn.functional.gelu(stem_1.forward(x));                  // [B, 16, S/2, S/2]
        x = nn.functional.gelu(stem_2.forward(x));                  // [B, 48, S/4, S/4]
        x = patch.forward(x);                                       // [B, w, S/8, S/8]
        x = x.flatten(2).transpose(1, 2).Plus(positions);              // [B, N_v, w]
        foreach (var block in blocks) x = block.forward(x);
        return ln_out.forward(x).MoveToOuterDisposeScope();
    }
}
