using static TorchSharp.torch;

namespace LiveEdit.Model.Editor;

/// <summary>Adam (no weight decay) over a few tensors, with its moments freed on dispose (one instance per edit).</summary>
public sealed class EditAdam : IDisposable
{
    private readonly Tensor[] parameters, m, v;
    private readonly double lr, beta1, beta2, eps;
    private long steps;

    public EditAdam(IReadOnlyList<Tensor> parameters, double lr, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8)
    {
        this.parameters = parameters.ToArray();
        m = this.parameters.Select(p => zeros_like(p).DetachFromDisposeScope()).ToArray();
        v = this.parameters.Select(p => zeros_like(p).DetachFromDisposeScope()).ToArray();
        (this.lr, this.beta1, this.beta2, this.eps) = (lr, beta1, beta2, eps);
    }

    public void ZeroGrad()
    {
        foreach (var p in parameters) p.grad?.zero_();
    }

    public void Step()
    {
        steps++;
        var bc1 = 1 - Math.Pow(beta1, steps);
        var bc2 = 1 - Math.Pow(beta2, steps);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        for (var i = 0; i < parameters.Length; i++)
        {
            var g = parameters[i].grad;
            if (g is null) continue;
            m[i].mul_(beta1).add_(g, alpha: 1 - beta1);
            v[i].mul_(beta2).addcmul_(g, g, value: 1 - beta2);
            parameters[i].addcdiv_(m[i], (v[i] / bc2).sqrt_().add_(eps), value: -lr / bc1);
        }
    }

    public void Dispose()
    {
        foreach (var t in m.Concat(v)) t.Dispose();
    }
}
