using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using LiveEdit.Model.Vlm;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LiveEdit.Model.Editor;

/// <summary>
/// The trainable part of LiveEdit (official names): the edit-side key extractor, the input-side key extractor with
/// the vision sentinel, the two low-rank generators (U: <c>moegen_c</c>, V: <c>moegen_r</c>) and the LayerNorm of the
/// fusion (<c>instant_reps_norm</c>). The VLM stays frozen.
/// </summary>
public sealed class EditorModules : nn.Module
{
    /// <summary>Weights file inside an editor folder.</summary>
    public const string WeightsFile = "editor.weights";
    /// <summary>Config and metadata file inside an editor folder.</summary>
    public const string ConfigFile = "editor.json";

    private readonly KeyExtractor edit_extractor;
    private readonly KeyExtractor inpt_extractor;
    private readonly LowRankGenerator moegen_c;
    private readonly LowRankGenerator moegen_r;
    private readonly LayerNorm instant_reps_norm;
    private string? sha;

    public EditorModules(EditorConfig config) : base(nameof(EditorModules))
    {
        Config = config;
        edit_extractor = new KeyExtractor(config, withSentinel: false);
        inpt_extractor = new KeyExtractor(config, withSentinel: true);
        moegen_c = new LowRankGenerator(config);
        moegen_r = new LowRankGenerator(config);
        instant_reps_norm = nn.LayerNorm(config.HiddenSize);
        RegisterComponents();
    }

    /// <summary>Sizes, and the optional expert refinement.</summary>
    public EditorConfig Config { get; private set; }

    /// <summary>
    /// SHA-256 (hex) over the editor's parameters (name, shape, little-endian float32 values, in state-dict order) and,
    /// when the config names them, the filter margin and the expert refinement's settings: experts record which generator made them.
    /// Cached; call <see cref="InvalidateHash"/> after training steps.
    /// </summary>
    public string GeneratorSha256 => sha ??= ComputeSha();

    /// <summary>
    /// Switches the expert refinement (an extension beyond the paper) on with <paramref name="refinement"/>, or off
    /// with null. The generator SHA-256 changes with it, so experts made with other settings are refused.
    /// </summary>
    public EditorModules WithRefinement(ExpertRefinement? refinement)
    {
        Config = Config with { Refinement = refinement?.Validate() };
        sha = null;
        return this;
    }

    /// <summary>
    /// Sets the hard filter's margin (an extension beyond the paper, see <see cref="EditorConfig.FilterMargin"/>; 0 is
    /// the paper's filter). The generator SHA-256 changes with it: the same experts route differently.
    /// </summary>
    public EditorModules WithFilterMargin(double margin)
    {
        if (!double.IsFinite(margin)) throw new ArgumentException($"the filter margin must be a finite number, not {margin}");
        Config = Config with { FilterMargin = margin };
        sha = null;
        return this;
    }

    /// <summary>
    /// Sets the band of the survivors (an extension beyond the paper, see <see cref="EditorConfig.FilterBand"/>; 0 is
    /// off). The generator SHA-256 changes with it, as with the margin.
    /// </summary>
    public EditorModules WithFilterBand(double band)
    {
        if (!double.IsFinite(band) || band < 0) throw new ArgumentException($"the filter band must be a finite number ≥ 0 (0: off), not {band}");
        Config = Config with { FilterBand = band };
        sha = null;
        return this;
    }

    /// <summary>The filter bank of the hubness correction (our extension); null when the editor has none.</summary>
    public FilterBank? Bank { get; private set; }

    /// <summary>
    /// Sets the hubness correction (an extension beyond the paper, see <see cref="FilterBank"/>): λ =
    /// <paramref name="weight"/> and K = <paramref name="topK"/> over <paramref name="bank"/>, which must have been built
    /// with these weights; weight 0 switches it off (the bank is kept, for a later call). The generator SHA-256 changes
    /// with it, as with the margin.
    /// </summary>
    public EditorModules WithHubness(FilterBank? bank, double weight, int topK)
    {
        if (!double.IsFinite(weight) || weight < 0) throw new ArgumentException($"the hubness weight must be a finite number ≥ 0 (0: off), not {weight}");
        if (weight != 0 && bank is null) throw new ArgumentException("a hubness weight needs a filter bank");
        if (bank is not null && (bank.KeyRows != Config.KeyRows || bank.ModuleDim != Config.ModuleDim))
            throw new ArgumentException($"the filter bank's keys are {bank.KeyRows}×{bank.ModuleDim}, the editor's {Config.KeyRows}×{Config.ModuleDim}");
        if (weight != 0 && (topK < 1 || topK > bank!.Count)) throw new ArgumentException($"top K must be within 1..{bank!.Count}, not {topK}");
        Bank = bank;
        Config = Config with { HubnessWeight = weight, HubnessTopK = weight == 0 ? 0 : topK, FilterBankSha256 = bank?.Sha256 };
        sha = null;
        return this;
    }

    /// <summary>
    /// The visual-key parameters of both extractors and the sentinel (named as in the state dict): what keys-only
    /// fine-tuning trains. Generators, text keys and the fusion norm are not among them.
    /// </summary>
    public IEnumerable<(string Name, Parameter Parameter)> VisualKeyParameters() =>
        edit_extractor.VisualKeyParameters().Select(p => ($"{nameof(edit_extractor)}.{p.Name}", p.Parameter))
            .Concat(inpt_extractor.VisualKeyParameters().Select(p => ($"{nameof(inpt_extractor)}.{p.Name}", p.Parameter)));

    /// <summary>
    /// Copies every parameter and buffer of <paramref name="source"/> into the one of the same name here (for fine-tuning
    /// from a trained editor); names only this editor has (new vision-token blocks) keep their initialisation. Throws
    /// when a name of <paramref name="source"/> is missing here or differs in shape.
    /// </summary>
    public EditorModules CopyFrom(EditorModules source)
    {
        var mine = state_dict();
        using (no_grad())
            foreach (var (name, value) in source.state_dict())
            {
                if (!mine.TryGetValue(name, out var target)) throw new ArgumentException($"{name} of the source editor has no counterpart");
                if (!target.shape.SequenceEqual(value.shape)) throw new ArgumentException($"{name}: shape [{string.Join(", ", value.shape)}] vs [{string.Join(", ", target.shape)}]");
                target.copy_(value);
            }
        InvalidateHash();
        return this;
    }

    /// <summary>
    /// Forgets the cached <see cref="GeneratorSha256"/> and the projections <see cref="Freeze"/> kept (the weights
    /// changed).
    /// </summary>
    public void InvalidateHash()
    {
        sha = null;
        // A filter bank holds keys of the old weights: it no longer describes this editor.
        if (Bank is not null || Config.HubnessWeight != 0 || Config.FilterBankSha256 is not null)
        {
            Bank = null;
            Config = Config with { HubnessWeight = 0, HubnessTopK = 0, FilterBankSha256 = null };
        }
        edit_extractor.Thaw();
        inpt_extractor.Thaw();
    }

    /// <summary>
    /// Edit side, for the rows of a batch run on [image; prompt; target]: U, V [n, r, d], visual key φ̂ and text key
    /// ψ̂ [n, k, d_m].
    /// </summary>
    public EditTensors EditSide(Tensor hidden, VlmInputs inputs, IReadOnlyList<int> rows)
    {
        using var scope = NewDisposeScope();
        var (whole, wholeMask) = EditSignal.Gather(hidden, inputs, rows, EditSignal.Part.Whole);
        var (prompt, promptMask) = EditSignal.Gather(hidden, inputs, rows, EditSignal.Part.Prompt);
        var (vision, _) = EditSignal.Gather(hidden, inputs, rows, EditSignal.Part.Vision);
        var u = moegen_c.Generate(whole, wholeMask);
        var v = moegen_r.Generate(whole, wholeMask);
        var visual = edit_extractor.VisualKey(prompt, promptMask, vision);
        var text = edit_extractor.TextKey(prompt, promptMask);
        return new EditTensors(u.MoveToOuterDisposeScope(), v.MoveToOuterDisposeScope(),
            visual.MoveToOuterDisposeScope(), text.MoveToOuterDisposeScope());
    }

    /// <summary>Edit-side visual keys φ̂ only, for <paramref name="rows"/> of <paramref name="hidden"/> ([n, k, d_m]).</summary>
    public Tensor EditVisualKeys(Tensor hidden, VlmInputs inputs, IReadOnlyList<int> rows)
    {
        using var scope = NewDisposeScope();
        var (prompt, promptMask) = EditSignal.Gather(hidden, inputs, rows, EditSignal.Part.Prompt);
        var (vision, _) = EditSignal.Gather(hidden, inputs, rows, EditSignal.Part.Vision);
        return edit_extractor.VisualKey(prompt, promptMask, vision).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Input side, for rows with an image: visual key φ̄, sentinel key φ̄_Ξ and text key ψ̄, each [n, k, d_m].
    /// </summary>
    public InputKeys InputSide(Tensor hidden, VlmInputs inputs, IReadOnlyList<int> rows)
    {
        using var scope = NewDisposeScope();
        var (prompt, promptMask) = EditSignal.Gather(hidden, inputs, rows, EditSignal.Part.Prompt);
        var (vision, _) = EditSignal.Gather(hidden, inputs, rows, EditSignal.Part.Vision);
        // Same values either way; sharing CA_1 only where no gradient flows keeps training's floats as they were.
        var (visual, sentinel) = is_grad_enabled()
            ? (inpt_extractor.VisualKey(prompt, promptMask, vision), inpt_extractor.SentinelKey(prompt, promptMask))
            : inpt_extractor.VisualAndSentinelKeys(prompt, promptMask, vision);
        var text = inpt_extractor.TextKey(prompt, promptMask);
        return new InputKeys(visual.MoveToOuterDisposeScope(), sentinel.MoveToOuterDisposeScope(), text.MoveToOuterDisposeScope());
    }

    /// <summary>LN(h) of the fusion. [B, L, d]</summary>
    public Tensor FusionNorm(Tensor hidden) => instant_reps_norm.forward(hidden);

    /// <summary>Writes <see cref="ConfigFile"/> and <see cref="WeightsFile"/> into <paramref name="folder"/>.</summary>
    public void Save(string folder, EditorProvenance provenance)
    {
        Directory.CreateDirectory(folder);
        var weights = Path.Combine(folder, WeightsFile);
        this.save(weights);
        var bankPath = Path.Combine(folder, FilterBank.FileName);
        if (Bank is not null) Bank.Save(bankPath);
        else if (File.Exists(bankPath)) File.Delete(bankPath);
        var file = new EditorFile(Config, GeneratorSha256, FileSha256(weights), provenance);
        File.WriteAllText(Path.Combine(folder, ConfigFile), JsonSerializer.Serialize(file, EditorConfig.Json));
    }

    /// <summary>Loads an editor folder written by <see cref="Save"/>, checking both SHA-256s; the editor comes frozen.</summary>
    public static (EditorModules Editor, EditorFile File) Load(string folder)
    {
        var file = JsonSerializer.Deserialize<EditorFile>(File.ReadAllText(Path.Combine(folder, ConfigFile)), EditorConfig.Json)
            ?? throw new InvalidDataException($"{folder}/{ConfigFile} is empty");
        var weights = Path.Combine(folder, WeightsFile);
        var fileSha = FileSha256(weights);
        if (!string.Equals(fileSha, file.WeightsFileSha256, StringComparison.OrdinalIgnoreCase))
            throw new InvalidDataException($"{weights}: SHA-256 {fileSha} differs from {file.WeightsFileSha256} in {ConfigFile}");
        file.Config.Refinement?.Validate();
        var editor = new EditorModules(file.Config);
        editor.load(weights);
        if (file.Config.FilterBankSha256 is { } bankSha) editor.Bank = FilterBank.Load(Path.Combine(folder, FilterBank.FileName), bankSha);
        else if (file.Config.HubnessWeight != 0) throw new InvalidDataException($"{folder}: a hubness weight but no filter bank");
        editor.Freeze();
        if (!string.Equals(editor.GeneratorSha256, file.GeneratorSha256, StringComparison.OrdinalIgnoreCase))
            throw new InvalidDataException($"{folder}: parameter SHA-256 {editor.GeneratorSha256} differs from {file.GeneratorSha256}");
        return (editor, file);
    }

    /// <summary>
    /// Freezes the editor for expert generation and inference (eval mode, no gradients) and keeps the key extractors'
    /// projections that depend on the weights alone (the same values, fewer operations per query). Training switches
    /// them off by itself; after changing a frozen editor's weights in place, call this again.
    /// </summary>
    public EditorModules Freeze()
    {
        eval();
        foreach (var p in parameters()) p.requires_grad = false;
        edit_extractor.Freeze();
        inpt_extractor.Freeze();
        return this;
    }

    private string ComputeSha()
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var (name, tensor) in state_dict())
        {
            hash.AppendData(Encoding.UTF8.GetBytes(name));
            foreach (var size in tensor.shape) hash.AppendData(BitConverter.GetBytes(size));
            var values = tensor.detach().cpu().to_type(ScalarType.Float32).contiguous().data<float>().ToArray();
            var bytes = new byte[values.Length * 4];
            Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
            if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("big-endian");
            hash.AppendData(bytes);
        }
        // Without refinement the hash is the parameters' alone (editors from before the extension keep theirs).
        if (Config.Refinement is { } r)
            hash.AppendData(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
                $"refinement steps={r.Steps} lr={r.LearningRate:R} stop={r.StopLoss:R}")));
        // Likewise the filter margin (our extension), only when it is not the paper's 0.
        if (Config.FilterMargin != 0)
            hash.AppendData(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"filter-margin={Config.FilterMargin:R}")));
        if (Config.FilterBand != 0)
            hash.AppendData(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"filter-band={Config.FilterBand:R}")));
        if (Config.HubnessWeight != 0)
            hash.AppendData(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture,
                $"hubness weight={Config.HubnessWeight:R} top={Config.HubnessTopK} bank={Config.FilterBankSha256}")));
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static string FileSha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }
}

/// <summary>Edit-side outputs for n edits: U, V [n, r, d]; visual key φ̂, text key ψ̂ [n, k, d_m].</summary>
public sealed record EditTensors(Tensor U, Tensor V, Tensor VisualKey, Tensor TextKey);

/// <summary>Input-side keys for n inputs: φ̄, φ̄_Ξ, ψ̄, each [n, k, d_m].</summary>
public sealed record InputKeys(Tensor Visual, Tensor Sentinel, Tensor Text);

/// <summary>
/// How an editor was made (written beside its weights): the training command, and the commands that last set its
/// expert refinement and its filter margin (null when never set apart from training).
/// </summary>
public sealed record EditorProvenance(string BaseWeightsSha256, long Seed, int Steps, int Threads, string Command, double Seconds,
    string? RefinementCommand = null)
{
    /// <summary>Generator SHA-256 of the editor this one was fine-tuned from (<c>--init</c>); null when trained from scratch.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? InitGeneratorSha256 { get; init; }

    /// <summary>The command that last set the hard filter's margin and band (<c>liveedit train filter-margin</c>); null when never set.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? FilterMarginCommand { get; init; }

    /// <summary>The command that last set the filter bank and hubness correction (<c>liveedit train hubness</c>); null when never set.</summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? HubnessCommand { get; init; }
}

/// <summary>The JSON file of an editor folder.</summary>
public sealed record EditorFile(EditorConfig Config, string GeneratorSha256, string WeightsFileSha256, EditorProvenance Provenance)
{
    /// <summary>Throws unless the editor was trained on the base model with weights <paramref name="baseWeightsSha256"/>.</summary>
    /// <param name="name">How the message names the editor.</param>
    public void RequireBase(string baseWeightsSha256, string name = "the editor")
    {
        if (Provenance.BaseWeightsSha256 != baseWeightsSha256)
            throw new ArgumentException($"{name} was trained on base {Provenance.BaseWeightsSha256[..12]}, not {baseWeightsSha256[..12]}");
    }
}
