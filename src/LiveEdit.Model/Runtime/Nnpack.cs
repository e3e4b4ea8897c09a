using System.Runtime.InteropServices;
using TorchSharp;

namespace LiveEdit.Model.Runtime;

/// <summary>
/// libtorch's NNPACK switch (<c>torch.backends.nnpack</c> in PyTorch), which TorchSharp does not expose.
/// </summary>
/// <remarks>
/// Before choosing a CPU convolution kernel, libtorch asks whether NNPACK may be used when mkldnn is not chosen: for
/// the vision encoder that is every single-image forward (three convolutions of fewer than 20,480 input values each).
/// The first question initialises NNPACK; on a CPU it does not support (no AVX2/FMA3) libtorch 2.10 then logs
/// "Could not initialize NNPACK! Reason: Unsupported hardware." on every later question too, three lines per image.
/// Switched off, the question is never asked. No result changes: NNPACK computes none of the encoder's convolutions
/// (they are strided, and at the batch sizes where libtorch would consider NNPACK it picks mkldnn first); the tests
/// compare the committed model's logits bit for bit with the switch on and off.
/// </remarks>
public static class Nnpack
{
    private const string Library = "libtorch_cpu";

    /// <summary>Whether libtorch may consider NNPACK for convolutions (libtorch's default: yes).</summary>
    /// <exception cref="PlatformNotSupportedException">The loaded libtorch does not export the switch.</exception>
    public static bool Enabled
    {
        get
        {
            EnsureTorchLoaded();
            return UserEnabledNnpack(GlobalContext());
        }
        set
        {
            EnsureTorchLoaded();
            SetUserEnabledNnpack(GlobalContext(), value);
        }
    }

    /// <summary>Switches NNPACK off for this process; does nothing where the loaded libtorch has no such switch.</summary>
    public static void Disable()
    {
        try
        {
            Enabled = false;
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            // Another libtorch build: at worst its NNPACK notice is printed, results are the same.
        }
    }

    // TorchSharp loads libtorch_cpu from the application's native assets; calling into it first makes sure the
    // entry points below bind to that same, already loaded copy (and so to its one global context).
    private static void EnsureTorchLoaded() => torch.get_num_threads();

    // at::globalContext() and at::Context::{userEnabledNNPACK, setUserEnabledNNPACK}: the Itanium C++ ABI passes
    // `this` as the first argument, so the member functions take the context pointer first.
    [DllImport(Library, EntryPoint = "_ZN2at13globalContextEv")]
    private static extern IntPtr GlobalContext();

    [DllImport(Library, EntryPoint = "_ZNK2at7Context17userEnabledNNPACKEv")]
    [return: MarshalAs(UnmanagedType.U1)]
    private static extern bool UserEnabledNnpack(IntPtr context);

    [DllImport(Library, EntryPoint = "_ZN2at7Context20setUserEnabledNNPACKEb")]
    private static extern void SetUserEnabledNnpack(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);
}
