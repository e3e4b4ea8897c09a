using static TorchSharp.torch;

namespace LiveEdit.Research.Training;

/// <summary>
/// AdamW (decoupled weight decay) with its state in plain tensors, so a resumed run restores it byte for byte
/// (<see cref="Save"/>/<see cref="Load"/>) and continues exactly as an uninterrupted run would.
/// </summary>
public sealed class AdamW
{
    private readonly (string Name, TorchSharp.Modules.Parameter Param)[] _params;
    private readonly Tensor[] _m;
    private readonly Tensor[] _v;
    private readonly double _beta1, _beta2, _eps, _weightDecay;

    public AdamW(IEnumerable<(string Name, TorchSharp.Modules.Parameter Param)> parameters, double beta1 = 0.9, double beta2 = 0.98, double eps = 1e-8, double weightDecay = 0.01)
    {
        _params = parameters.ToArray();
        _m = _params.Select(p => zeros_like(p.Param).DetachFromDisposeScope()).ToArray();
        _v = _params.Select(p => zeros_like(p.Param).DetachFromDisposeScope()).ToArray();
        (_beta1, _beta2, _eps, _weightDecay) = (beta1, beta2, eps, weightDecay);
    }

    /// <summary>Updates taken so far (bias correction uses it).</summary>
    public long Steps { get; private set; }

    /// <summary>One update with learning rate <paramref name="lr"/>; biases and norms (1-D tensors) get no decay.</summary>
    public void Step(double lr)
    {
        Steps++;
        var bc1 = 1 - Math.Pow(_beta1, Steps);
        var bc2 = 1 - Math.Pow(_beta2, Steps);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        for (var i = 0; i < _params.Length; i++)
        {
            var p = _params[i].Param;
            var g = p.grad;
            if (g is null) continue;
            if (_weightDecay > 0 && p.dim() > 1) p.mul_(1 - lr * _weightDecay);
            _m[i].mul_(_beta1).add_(g, alpha: 1 - _beta1);
            _v[i].mul_(_beta2).addcmul_(g, g, value: 1 - _beta2);
            var denom = (_v[i] / bc2).sqrt_().add_(_eps);
            p.addcdiv_(_m[i], denom, value: -lr / bc1);
        }
    }

    /// <summary>Clears gradients.</summary>
    public void ZeroGrad()
    {
        foreach (var (_, p) in _params) p.grad?.zero_();
    }

    /// <summary>Writes step count and moments (raw float32, parameter order).</summary>
    public void Save(string path)
    {
        using var writer = new BinaryWriter(File.Create(path));
        writer.Write(Steps);
        writer.Write(_params.Length);
        for (var i = 0; i < _params.Length; i++)
        {
            writer.Write(_params[i].Name);
            foreach (var t in new[] { _m[i], _v[i] })
            {
                var data = t.data<float>().ToArray();
                writer.Write(data.Length);
                foreach (var f in data) writer.Write(f);
            }
        }
    }

    /// <summary>Reads <see cref="Save"/>'s file into this optimizer (same parameter list).</summary>
    public void Load(string path)
    {
        using var reader = new BinaryReader(File.OpenRead(path));
        Steps = reader.ReadInt64();
        var count = reader.ReadInt32();
        if (count != _params.Length) throw new InvalidDataException($"optimizer state has {count} tensors, the model {_params.Length}");
        using var _ = no_grad();
        for (var i = 0; i < count; i++)
        {
            var name = reader.ReadString();
            if (name != _params[i].Name) throw new InvalidDataException($"optimizer state tensor {i} is '{name}', expected '{_params[i].Name}'");
            foreach (var t in new[] { _m[i], _v[i] })
            {
                var n = reader.ReadInt32();
                if (n != t.numel()) throw new InvalidDataException($"optimizer state for '{name}' has {n} values, expected {t.numel()}");
                var data = new float[n];
                for (var k = 0; k < n; k++) data[k] = reader.ReadSingle();
                using var loaded = tensor(data).view(t.shape);
                t.copy_(loaded);
            }
        }
    }
}
