using LiveEdit.Model.Editor;
using LiveEdit.Model.Images;
using LiveEdit.Model.Runtime;
using LiveEdit.Model.Vlm;

namespace LiveEdit.Hosting.Serving;

/// <summary>
/// The frozen base model and the frozen editor of one process, with the single lock every use of them takes:
/// one model device, one computation at a time (TorchSharp modules and <see cref="EditedModel"/> are not
/// thread-safe, and a fixed thread count keeps results bit-exact).
/// </summary>
public sealed class ModelRuntime : IDisposable
{
    private readonly SemaphoreSlim _device = new(1, 1);

    private ModelRuntime(TinyVlm model, EditorModules editor, int threads)
    {
        Model = model;
        Editor = editor;
        Threads = threads;
        Generator = new ExpertGenerator(model, editor);
        TextLimits = new EditTextLimits(model.Tokenizer, model.Config.MaxLength, model.Config.VisionTokens);
    }

    /// <summary>What this model can learn from an edit's text (see <see cref="CheckEditText"/>).</summary>
    public EditTextLimits TextLimits { get; }

    /// <summary>
    /// Why <paramref name="prompt"/> → <paramref name="target"/> can never become an expert of this model (too long,
    /// words the model cannot say), or null when it can. Checked at proposal, by the worker and by the importer.
    /// </summary>
    public EditTextProblem? CheckEditText(string prompt, string target) => TextLimits.Check(prompt, target);

    /// <summary>The frozen base VLM.</summary>
    public TinyVlm Model { get; }

    /// <summary>The frozen LiveEdit editor.</summary>
    public EditorModules Editor { get; }

    /// <summary>Turns edits into experts.</summary>
    public ExpertGenerator Generator { get; }

    /// <summary>Intra-op threads pinned for this process (results are bit-exact for a fixed count).</summary>
    public int Threads { get; }

    /// <summary>Side of the square image the model reads.</summary>
    public int ImageSize => Model.Config.ImageSize;

    /// <summary>Loads and checks (SHA-256) the committed checkpoints.</summary>
    public static ModelRuntime Load(ModelSettings settings)
    {
        TorchRuntime.Configure(settings.Threads, seed: 0);
        NativeHeap.ReturnLargeBlocks();
        var model = TinyVlm.Load(settings.BaseFolder);
        var (editor, file) = EditorModules.Load(settings.EditorFolder);
        if (!string.Equals(file.Provenance.BaseWeightsSha256, model.WeightsSha256, StringComparison.OrdinalIgnoreCase))
            throw new InvalidOperationException(
                $"editor '{settings.EditorFolder}' was trained for base model {file.Provenance.BaseWeightsSha256[..12]}, not {model.WeightsSha256[..12]} ('{settings.BaseFolder}')");
        var frozen = editor.Freeze();
        // Both hashes are computed lazily with temporary tensors: compute them here, once, before any other thread can
        // use the modules (a first read from a verification running beside a generation would touch them concurrently).
        _ = frozen.GeneratorSha256;
        return new ModelRuntime(model, frozen, settings.Threads);
    }

    /// <summary>Decodes an uploaded image and brings it to the model's input size.</summary>
    /// <exception cref="UnreadableImageException">Not an image the reader knows.</exception>
    public RgbImage ReadImage(byte[] bytes, string source = "image") => RgbImage.Decode(bytes, source).ToModelInput(ImageSize);

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
            return Generator.Generate(new VlmExample(image.ToTensor(), prompt, target));
        }, cancellationToken);

    public void Dispose()
    {
        _device.Dispose();
        Model.Dispose();
        Editor.Dispose();
    }
}

/// <summary>Configuration section <c>Model</c>: where the committed checkpoints are and how many threads to use.</summary>
public sealed class ModelSettings
{
    public const string Section = "Model";

    /// <summary>TinyVLM checkpoint folder.</summary>
    public string BaseFolder { get; set; } = "models/tinyvlm";

    /// <summary>LiveEdit editor folder.</summary>
    public string EditorFolder { get; set; } = "models/liveedit-editor";

    /// <summary>Intra-op threads (results are bit-exact for a fixed count).</summary>
    public int Threads { get; set; } = 1;

    /// <summary>Resolves relative folders against <paramref name="root"/>.</summary>
    public ModelSettings ResolvedAgainst(string root) => new()
    {
        BaseFolder = Path.GetFullPath(BaseFolder, root),
        EditorFolder = Path.GetFullPath(EditorFolder, root),
        Threads = Threads,
    };
}
