using TorchSharp;
using static TorchSharp.torch;

namespace LiveEdit.Model.Runtime;

/// <summary>
/// Moving values between the host and the model's device without writing device memory through host pointers: host
/// arrays become tensors through a CPU copy that is then moved, and tensors are read on the host after a copy there.
/// On the CPU every call here returns the tensor it was given (no copy), so CPU results keep their bytes.
/// </summary>
public static class DeviceTensors
{
    /// <summary>The values of <paramref name="t"/> as float32 on the host (copied there first when it lives elsewhere).</summary>
    public static float[] HostFloats(Tensor t) => t.detach().to(ScalarType.Float32, CPU).contiguous().data<float>().ToArray();

    /// <summary><paramref name="t"/> in float32, what LiveEdit's own modules compute in (itself when it already is).</summary>
    public static Tensor AsFloat32(Tensor t) => t.dtype == ScalarType.Float32 ? t : t.to_type(ScalarType.Float32);

    /// <summary><paramref name="t"/> on <paramref name="device"/> (itself when it is already there).</summary>
    public static Tensor On(Tensor t, Device device) => t.device_type == device.type && (device.type == DeviceType.CPU || t.device_index == device.index) ? t : t.to(device);
}
