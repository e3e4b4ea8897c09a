using TorchSharp;
using static TorchSharp.torch;

namespace LiveEdit.Model.Runtime;

/// <summary>
/// Tensor additions whose scalar outlives the native call. TorchSharp turns a number passed as a <see cref="Scalar"/>
/// (also the alpha = 1 that <c>a + b</c> passes to <c>add</c>) into a temporary object with a finalizer and hands only
/// its native pointer to libtorch; nothing keeps the object alive during the call, so a garbage collection on another
/// thread can free it while libtorch reads it. libtorch then fails in <c>c10::Scalar::toFloat</c> ("Expected false to
/// be true"): rare, only under load, and gone on retry. The serving path adds through <see cref="Plus"/>, whose scalar
/// lives as long as the process; elsewhere scalars are made and disposed around the call (see EditAdam.Step).
/// </summary>
public static class HeldScalars
{
    private static readonly Scalar One = 1;

    /// <summary><paramref name="a"/> + <paramref name="b"/>, with an alpha that cannot be collected mid-call.</summary>
    public static Tensor Plus(this Tensor a, Tensor b) => a.add(b, One);
}
