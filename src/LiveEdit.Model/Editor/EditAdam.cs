using TorchSharp;
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
        // Scalars made and disposed here, not converted implicitly from double: an implicit TorchSharp Scalar is
        // unreachable once its handle is passed to native code, so the finalizer thread may free it while libtorch
        // still reads it (the native 'toFloat' error, seen once under load and gone on retry).
        using Scalar b1 = beta1, b2 = beta2, oneMinusB1 = 1 - beta1, oneMinusB2 = 1 - beta2, correction2 = bc2, epsilon = eps, step = -lr / bc1;
        for (var i = 0; i < parameters.Length; i++)
        {
            var g = parameters[i].grad;
            if (g is null) continue;
            m[i].mul_(b1).add_(g, alpha: oneMinusB1);
            v[i].mul_(b2).addcmul_(g, g, value: oneMinusB2);
            parameters[i].addcdiv_(m[i], (v[i] / correction2).sqrt_().add_(epsilon), value: step);
        }
    }

    public void Dispose()
    {
        foreach (var t in m.Concat(v)) t.Dispose();
    }
}
