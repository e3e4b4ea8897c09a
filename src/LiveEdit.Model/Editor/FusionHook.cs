using System.Diagnostics;
using LiveEdit.Model.Runtime;
using LiveEdit.Model.Vlm;
using static TorchSharp.torch;

namespace LiveEdit.Model.Editor;

/// <summary>
/// The hook at layer l_e while one batch is answered: routes on its first call (vision and prompt do not change while
/// decoding), then adds each row's fused residual ĥ = h + Σ_e w_e · ReLU(LN(h) U_eᵀ) V_e (docs/method.md) at every
/// position it is given. The first call sees the whole prompt [B, L, d] (the prefill, or the first full recompute);
/// with a KV cache, later calls see one new position per row [B, 1, d] (docs/model-contract.md).
/// Owns the fusion operands across the decoding steps (each step may run in its own dispose scope).
/// </summary>
internal sealed class FusionHook(VlmInputs layout, Func<VlmInputs, Tensor, List<RowRoute>> route, Func<Tensor, Tensor> fusionNorm) : IDisposable
{
    private List<RowRoute>? routes;
    private bool anyFusion;

    /// <summary>Each row's routing, once the hook has run (null before).</summary>
    public IReadOnlyList<RoutingDecision>? Routes => routes?.Select(r => r.Decision).ToList();

    /// <summary>Time spent adding the fused residuals, all calls together (routing apart).</summary>
    public long FusionTicks { get; private set; }

    /// <summary>Calls that added a residual.</summary>
    public int FusionCalls { get; private set; }

    public void Dispose()
    {
        foreach (var r in routes ?? []) r.Fusion?.Dispose();
    }

    public Tensor Apply(Tensor hidden)
    {
        if (hidden.shape[0] != layout.Count) throw new InvalidOperationException($"hook got {hidden.shape[0]} rows, expected {layout.Count}");
        if (routes is null)
        {
            using var outer = NewDisposeScope();
            routes = route(layout, DeviceTensors.AsFloat32(hidden));             // the editor computes in float32
            foreach (var r in routes) r.Fusion?.Keep();
            anyFusion = routes.Any(r => r.Fusion is not null);
        }
        if (!anyFusion) return hidden;
        var started = Stopwatch.GetTimestamp();
        using var scope = NewDisposeScope();
        long l = hidden.shape[1], d = hidden.shape[2];
        Tensor edited;
        if (layout.Count == 1)
        {
            // One row with experts (the usual query): [L, d] throughout, no per-row slicing and concatenation.
            edited = Fused(hidden.reshape(l, d), routes[0].Fusion!).reshape(1, l, d);
        }
        else
        {
            var rows = new Tensor[layout.Count];
            for (var i = 0; i < layout.Count; i++)
            {
                var h = hidden[i];                                                          // [L, d]
                rows[i] = routes[i].Fusion is { } f ? Fused(h, f) : h;
            }
            edited = stack(rows);
        }
        edited = edited.MoveToOuterDisposeScope();
        FusionTicks += Stopwatch.GetTimestamp() - started;
        FusionCalls++;
        return edited;
    }

    /// <summary>
    /// ĥ = h + Σ w_e ReLU(LN(h)U_eᵀ)V_e for one row [L, d] (Eq. fusion, docs/method.md). The editor computes in float32: a
    /// half-precision base's hidden state is widened, edited and narrowed back to its dtype.
    /// </summary>
    private Tensor Fused(Tensor h, FusionOperands fusion)
    {
        if (h.dtype == ScalarType.Float32) return fusion.AddTo(h, fusionNorm(h));
        var wide = h.to_type(ScalarType.Float32);
        return fusion.AddTo(wide, fusionNorm(wide)).to_type(h.dtype);
    }
}

/// <summary>One row's routing and, when experts fired, its fusion operands (owned by the <see cref="FusionHook"/>).</summary>
internal sealed record RowRoute(RoutingDecision Decision, FusionOperands? Fusion);
