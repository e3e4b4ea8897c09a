using System.Diagnostics;
using LiveEdit.Model.HuggingFace;
using LiveEdit.Model.Images;
using LiveEdit.Model.Llava;
using LiveEdit.Model.Tests.Editor;
using LiveEdit.Model.Vlm;
using LiveEdit.Testing;
using LiveEdit.Testing.Llava;
using Shouldly;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace LiveEdit.Model.Tests.Llava;

/// <summary>
/// The TorchSharp model against tools/llava-reference/llava_reference.py, a plain PyTorch forward pass written separately
/// from the modeling code and run with Debian's /usr/bin/python3 and python3-torch (`infra/services up --for-tests`
/// installs it). Where that interpreter cannot import torch the test fails and says why: it is never skipped.
/// </summary>
[Collection(EditorCollection.Name)]
public sealed class comparing_with_the_python_reference(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("liveedit-pyref-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Theory]
    [InlineData(TinyLlavaFamily.Llava15, TinyDType.BF16, false, TinyKeyLayout.Original)]
    [InlineData(TinyLlavaFamily.InterleaveQwen, TinyDType.F16, true, TinyKeyLayout.Newer)]
    public void the_logits_agree_within_1e_4_on_an_image_row_and_a_text_row(TinyLlavaFamily family, TinyDType dtype, bool sharded, TinyKeyLayout layout)
    {
        PythonTorch.WhyNot.ShouldBeNull("the reference needs Debian's python3-torch (infra/services up --for-tests installs it)");
        var folder = TinyLlavaCheckpoint.Write(Path.Combine(_dir, "ckpt"), new TinyLlavaOptions(family, dtype, sharded, layout, Seed: 21));
        using var model = LlavaLoader.Load(folder);
        using var scope = NewDisposeScope();
        var photo = new RgbImage(36, 28, Enumerable.Range(0, 36 * 28 * 3).Select(i => (byte)((i * 37) % 251)).ToArray());
        var inputs = model.Prepare(
        [
            new VlmExample(model.ImageInput(photo), "what is in the picture?", "a cat"),
            new VlmExample(null, "what is the capital of ora?", "vel"),
        ]);
        var ours = model.Logits(inputs);                                                            // [B, L, V] float32

        var inputsPath = Path.Combine(_dir, "inputs.safetensors");
        var imageRows = Enumerable.Range(0, inputs.Count).Where(inputs.HasImage).Select(i => (long)i).ToArray();
        SafetensorsWriter.Write(inputsPath,
        [
            ("input_ids", inputs.TokenIds.to_type(ScalarType.Int64)),
            ("pixel_values", inputs.Images!.index_select(0, tensor(imageRows)).to_type(ScalarType.Float32)),
        ]);
        var outPath = Path.Combine(_dir, "logits.safetensors");
        RunReference(folder, inputsPath, outPath);

        using var file = SafetensorsFile.Open(outPath);
        var theirs = file.Read("logits");
        theirs.shape.ShouldBe(ours.shape);
        for (var i = 0; i < inputs.Count; i++)
        {
            var real = inputs.Length[i];
            var a = ours[i].narrow(0, 0, real).to_type(ScalarType.Float64);
            var b = theirs[i].narrow(0, 0, real);
            var diff = (a - b).abs().max().item<double>();
            output.WriteLine($"{family} row {i}: {real} positions, largest |difference| {diff:E2}, largest |logit| {b.abs().max().item<double>():F3}");
            diff.ShouldBeLessThan(1e-4, $"row {i} ({(inputs.HasImage(i) ? "image" : "text")}, {real} positions)");
            b.abs().max().item<double>().ShouldBeGreaterThan(0.05, "logits large enough for the comparison to mean something");
        }
    }

    private static void RunReference(string folder, string inputs, string output)
    {
        var script = Path.Combine(RepositoryRoot.Path, "tools", "llava-reference", "llava_reference.py");
        var start = new ProcessStartInfo(PythonTorch.Interpreter) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { script, folder, inputs, output }) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("llava_reference.py ran for more than 5 minutes");
        }
        process.ExitCode.ShouldBe(0, $"llava_reference.py failed:\n{stdout.Result}\n{stderr.Result}");
    }
}

/// <summary>Whether Debian's Python can import torch (python3-torch), checked once.</summary>
internal static class PythonTorch
{
    public const string Interpreter = "/usr/bin/python3";

    private static readonly Lazy<string?> Missing = new(() =>
    {
        if (!File.Exists(Interpreter)) return $"{Interpreter} is not installed";
        try
        {
            var start = new ProcessStartInfo(Interpreter) { RedirectStandardError = true, RedirectStandardOutput = true };
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add("import torch");
            using var p = Process.Start(start)!;
            p.StandardOutput.ReadToEnd();
            var err = p.StandardError.ReadToEnd();
            if (!p.WaitForExit(TimeSpan.FromMinutes(2))) return "importing torch took over 2 minutes";
            return p.ExitCode == 0 ? null : $"{Interpreter} cannot import torch (apt-get install python3-torch): {err.Trim().Split('\n').LastOrDefault()}";
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            return $"{Interpreter} could not be run: {e.Message}";
        }
    });

    /// <summary>Why the reference cannot run here, or null when it can.</summary>
    public static string? WhyNot => Missing.Value;
}
