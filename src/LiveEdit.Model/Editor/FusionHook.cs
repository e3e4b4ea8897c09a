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

    /// <summary>Each row's routing, once the hook has run (null before).</summary>
    public IReadOnlyList<RoutingDecision>? Routes => routes?.Select(r => r.Decision).ToList();

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
        }
        if (routes.All(r => r.Fusion is null)) return hidden;
        using var scope = NewDisposeScope();
        if (layout.Count == 1)
        {
            // One row with experts (the usual query): no per-row slicing and concatenation.
            var residual = Routing.FusedResidual(fusionNorm(DeviceTensors.AsFloat32(hidden)), routes[0].Fusion!); // Eq. ĥ = h + Σ w_e ReLU(LN(h)U_eᵀ)V_e
            return hidden.Plus(residual.to_type(hidden.dtype)).MoveToOuterDisposeScope();
        }
        var rows = new Tensor[layout.Count];
        for (var i = 0; i < layout.Count; i++)
        {
            var f = routes[i].Fusion;
            var h = DeviceTensors.AsFloat32(hidden[TensorIndex.Slice(i, i + 1)]);   // [1, L, d]
            rows[i] = f is null
                ? zeros_like(h)
                : Routing.FusedResidual(fusionNorm(h), f);                      // Eq. ĥ = h + Σ w_e ReLU(LN(h)U_eᵀ)V_e
        }
        var edited = hidden.Plus(cat(rows, 0).to_type(hidden.dtype));
        return edited.MoveToOuterDisposeScope();
    }
}

/// <summary>One row's routing and, when experts fired, its fusion operands (owned by the <see cref="FusionHook"/>).</summary>
internal sealed record RowRoute(RoutingDecision Decision, FusionOperands? Fusion);
