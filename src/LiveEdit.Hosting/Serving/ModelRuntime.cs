using LiveEdit.Model.Editor;
using LiveEdit.Model.Images;
using LiveEdit.Model.Runtime;
using LiveEdit.Model.Vlm;

namespace LiveEdit.Hosting.Serving;

/// <summary>
/// The frozen base model and the frozen editor of one process, with the single lock every use of them takes:
/// one model device, one computation at a time (TorchSharp modules and <see cref="EditedModel"/> are not
/// thread-safe, and a fixed thread count keeps results bit-exact). The base model is whatever kind the configuration
/// names (<see cref="VlmLoader"/>); nothing here knows which.
/// </summary>
public sealed class ModelRuntime : IDisposable
{
    private readonly SemaphoreSlim _device = new(1, 1);

    private ModelRuntime(IVisionLanguageModel model, EditorModules editor, int threads)
    {
        Model = model;
        Editor = editor;
        Threads = threads;
        Generator = new ExpertGenerator(model, editor);
    }

    /// <summary>
    /// Why <paramref name="prompt"/> → <paramref name="target"/> can never become an expert of this model (too long,
    /// a target the model cannot say), or null when it can: the model's own judgement. Checked at proposal, by the
    /// worker and by the importer.
    /// </summary>
    public EditTextProblem? CheckEditText(string prompt, string target) => Model.CheckEditText(prompt, target);

    /// <summary>Why a query with <paramref name="prompt"/> cannot be answered by this model, or null when it can.</summary>
    public EditTextProblem? CheckQuery(string prompt, bool withImage) => Model.CheckQuery(prompt, withImage);

    /// <summary>The frozen base VLM, of the kind the configuration names.</summary>
    public IVisionLanguageModel Model { get; }

    /// <summary>The frozen LiveEdit editor.</summary>
    public EditorModules Editor { get; }

    /// <summary>Turns edits into experts.</summary>
    public ExpertGenerator Generator { get; }

    /// <summary>Intra-op threads pinned for this process (results are bit-exact for a fixed count).</summary>
    public int Threads { get; }

    /// <summary>
    /// Loads and checks (SHA-256) the base model of <see cref="ModelSettings.Kind"/> on <see cref="ModelSettings.Device"/>
    /// and the editor made for it. A setting that cannot be used throws <see cref="ModelConfigurationException"/> naming it.
    /// </summary>
    public static ModelRuntime Load(ModelSettings settings)
    {
        VlmLoader.Check(settings.Kind, settings.Device, settings.DType);
        TorchRuntime.Configure(settings.Threads, seed: 0);
        NativeHeap.ReturnLargeBlocks();
        var model = VlmLoader.Load(settings.Kind, settings.BaseFolder, settings.Device, settings.DType);
        EditorModules editor;
        EditorFile file;
        try
        {
            (editor, file) = EditorModules.Load(settings.EditorFolder, model.Device);
        }
        catch
        {
            (model as IDisposable)?.Dispose();
            throw;
        }
        if (!string.Equals(file.Provenance.BaseWeightsSha256, model.WeightsSha256, StringComparison.OrdinalIgnoreCase))
            throw new InvalidOperationException(
                $"editor '{settings.EditorFolder}' was trained for base model {file.Provenance.BaseWeightsSha256[..12]}, not {model.WeightsSha256[..12]} ('{settings.BaseFolder}')");
        var frozen = editor.Freeze();
        // Both hashes are computed lazily with temporary tensors: compute them here, once, before any other thread can
        // use the modules (a first read from a verification running beside a generation would touch them concurrently).
        _ = frozen.GeneratorSha256;
        return new ModelRuntime(model, frozen, settings.Threads);
    }

    /// <summary>
    /// Decodes an uploaded image. The model's own preprocessing (<see cref="IVisionLanguageModel.ImageInput"/>) runs
    /// when the image is used, under the device lock.
    /// </summary>
    /// <exception cref="UnreadableImageException">Not an image the reader knows.</exception>
    public RgbImage ReadImage(byte[] bytes, string source = "image") => RgbImage.Decode(bytes, source);

    /// <summary>The model's own input tensor of <paramref name="image"/> (null: none), in the caller's dispose scope.</summary>
    public TorchSharp.torch.Tensor? ImageInput(RgbImage? image) => image is null ? null : Model.ImageInput(image);

    /// <summary>Runs <paramref name="work"/> with the device lock held.</summary>
    public async Task<T> RunAsync<T>(Func<T> work, CancellationToken cancellationToken = default)
    {
        await _device.WaitAsync(cancellationToken);
        try
        {
            return work();
        }
        finally
        {
            _device.Release();
        }
    }

    /// <summary>Generates the expert of one edit (a pure function of the frozen weights and the edit).</summary>
    public Task<Expert> GenerateAsync(RgbImage image, string prompt, string target, CancellationToken cancellationToken = default) =>
        RunAsync(() =>
        {
            using var scope = TorchSharp.torch.NewDisposeScope();
            return Generator.Generate(new VlmExample(Model.ImageInput(image), prompt, target));
        }, cancellationToken);

    public void Dispose()
    {
        _device.Dispose();
        (Model as IDisposable)?.Dispose();
        Editor.Dispose();
    }
}

/// <summary>
/// Configuration section <c>Model</c>: which base model (kind, folder, device, dtype), which editor, and how many threads
/// to use (docs/model-plugins.md). Kind, device and dtype default to the environment's <c>Model__Kind</c>,
/// <c>Model__Device</c> and <c>Model__DType</c>, so commands that build their settings by hand follow them too.
/// </summary>
public sealed class ModelSettings
{
    public const string Section = "Model";

    /// <summary><c>Model__Kind</c>: the base model's kind (<see cref="VlmLoader.KnownKinds"/>; default TinyVlm).</summary>
    public string Kind { get; set; } = Environment.GetEnvironmentVariable(VlmLoader.KindSetting) ?? VlmLoader.DefaultKind;

    /// <summary><c>Model__BaseFolder</c>: the base model's checkpoint folder.</summary>
    public string BaseFolder { get; set; } = "models/tinyvlm";

    /// <summary><c>Model__Device</c>: cpu (default), cuda or cuda:N.</summary>
    public string Device { get; set; } = Environment.GetEnvironmentVariable(VlmLoader.DeviceSetting) ?? "cpu";

    /// <summary><c>Model__DType</c>: float32 (default), float16 or bfloat16.</summary>
    public string DType { get; set; } = Environment.GetEnvironmentVariable(VlmLoader.DTypeSetting) ?? "float32";

    /// <summary>LiveEdit editor folder.</summary>
    public string EditorFolder { get; set; } = "models/liveedit-editor";

    /// <summary>Intra-op threads (results are bit-exact for a fixed count).</summary>
    public int Threads { get; set; } = 1;

    /// <summary>Resolves relative folders against <paramref name="root"/>.</summary>
    public ModelSettings ResolvedAgainst(string root) => new()
    {
        Kind = Kind,
        Device = Device,
        DType = DType,
        BaseFolder = Path.GetFullPath(BaseFolder, root),
        EditorFolder = Path.GetFullPath(EditorFolder, root),
        Threads = Threads,
    };
}
