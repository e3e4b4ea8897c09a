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
    /// The generator's identity: SHA-256 (hex) over the editor's parameters (name, shape, little-endian float32 values, in
    /// state-dict order) and, when the config names it, the expert refinement's settings; what makes an expert's bytes.
    /// The routing policy is not part of it (docs/routing-policy.md). Cached; call <see cref="InvalidateHash"/> after
    /// training steps.
    /// </summary>
    public string GeneratorSha256 => sha ??= ComputeSha(null);

    /// <summary>
    /// The routing the editor's folder proposes (<see cref="EditorFile.DefaultPolicy"/>; <see cref="RoutingPolicy.Paper"/>
    /// when it names none). A serving host records it in the ledger before it first serves with it; research code routes
    /// with it unless given another.
    /// </summary>
    public RoutingPolicy DefaultPolicy { get; private set; } = RoutingPolicy.Paper;

    /// <summary>Verified generator ids this editor also answers to (<see cref="AddIdentityAlias"/>), oldest first.</summary>
    public IReadOnlyList<IdentityAlias> IdentityAliases => aliases;

    private readonly List<IdentityAlias> aliases = [];

    /// <summary>
    /// The generator SHA-256 these weights and refinement had when routing was part of the identity and the editor held
    /// <paramref name="policy"/>: the parameters' and refinement's terms, then the policy's non-zero terms
    /// (filter margin, filter band, hubness). Equals <see cref="GeneratorSha256"/> for the paper's routing.
    /// </summary>
    public string LegacyGeneratorSha256(RoutingPolicy policy) => policy.IsPaper ? GeneratorSha256 : ComputeSha(policy);

    /// <summary>
    /// Makes the editor answer to the generator id it had with <paramref name="policy"/> in its identity (computed here
    /// from the weights, see <see cref="LegacyGeneratorSha256"/>): experts stamped with it stay valid. Returns the alias;
    /// a paper policy adds nothing (that id is <see cref="GeneratorSha256"/>).
    /// </summary>
    public IdentityAlias AddIdentityAlias(RoutingPolicy policy)
    {
        policy.Validate();
        var alias = new IdentityAlias(LegacyGeneratorSha256(policy), policy);
        if (alias.GeneratorSha256 != GeneratorSha256 && aliases.All(a => a.GeneratorSha256 != alias.GeneratorSha256)) aliases.Add(alias);
        return alias;
    }

    /// <summary>True when experts stamped with <paramref name="generatorSha256"/> are this generator's: its own id or a verified alias.</summary>
    public bool Answers(string generatorSha256) =>
        string.Equals(generatorSha256, GeneratorSha256, StringComparison.OrdinalIgnoreCase)
        || aliases.Any(a => string.Equals(a.GeneratorSha256, generatorSha256, StringComparison.OrdinalIgnoreCase));

    /// <summary>The verified alias named <paramref name="generatorSha256"/>, or null.</summary>
    public IdentityAlias? AliasOf(string generatorSha256) =>
        aliases.FirstOrDefault(a => string.Equals(a.GeneratorSha256, generatorSha256, StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// Switches the expert refinement (an extension beyond the paper) on with <paramref name="refinement"/>, or off
    /// with null. The generator SHA-256 changes with it, so experts made with other settings are refused.
    /// </summary>
    public EditorModules WithRefinement(ExpertRefinement? refinement)
    {
        Config = Config with { Refinement = refinement?.Validate() };
        sha = null;
        aliases.Clear();
        return this;
    }

    /// <summary>Sets <see cref="DefaultPolicy"/> (checked against this editor's filter bank). The generator SHA-256 does not change.</summary>
    /// <exception cref="InvalidRoutingPolicyException"/>
    public EditorModules WithPolicy(RoutingPolicy policy)
    {
        DefaultPolicy = policy.RequireFits(this);
        return this;
    }

    /// <summary>
    /// Sets the default policy's hard-filter margin (an extension beyond the paper, see <see cref="RoutingPolicy.Margin"/>;
    /// 0 is the paper's filter).
    /// </summary>
    public EditorModules WithFilterMargin(double margin) => WithPolicy(DefaultPolicy with { Margin = margin });

    /// <summary>Sets the default policy's band of the survivors (an extension beyond the paper, see <see cref="RoutingPolicy.Band"/>; 0 is off).</summary>
    public EditorModules WithFilterBand(double band) => WithPolicy(DefaultPolicy with { Band = band });

    /// <summary>The filter bank of the hubness correction (our extension); null when the editor has none.</summary>
    public FilterBank? Bank { get; private set; }

    /// <summary>
    /// Sets the hubness correction (an extension beyond the paper, see <see cref="FilterBank"/>) of the default policy:
    /// λ = <paramref name="weight"/> and K = <paramref name="topK"/> over <paramref name="bank"/>, which must have been
    /// built with these weights and becomes the folder's bank; weight 0 switches it off (the bank is kept, for a later call).
    /// </summary>
    public EditorModules WithHubness(FilterBank? bank, double weight, int topK)
    {
        if (!double.IsFinite(weight) || weight < 0) throw new ArgumentException($"the hubness weight must be a finite number ≥ 0 (0: off), not {weight}");
        if (weight != 0 && bank is null) throw new ArgumentException("a hubness weight needs a filter bank");
        if (bank is not null && (bank.KeyRows != Config.KeyRows || bank.ModuleDim != Config.ModuleDim))
            throw new ArgumentException($"the filter bank's keys are {bank.KeyRows}×{bank.ModuleDim}, the editor's {Config.KeyRows}×{Config.ModuleDim}");
        if (weight != 0 && (topK < 1 || topK > bank!.Count)) throw new ArgumentException($"top K must be within 1..{bank!.Count}, not {topK}");
        Bank = bank;
        Config = Config with { FilterBankSha256 = bank?.Sha256 };
        DefaultPolicy = DefaultPolicy with { HubnessWeight = weight, HubnessTopK = weight == 0 ? 0 : topK, FilterBankSha256 = weight == 0 ? null : bank!.Sha256 };
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
        aliases.Clear(); // the ids of other weights
        // A filter bank holds keys of the old weights: it no longer describes this editor.
        if (Bank is not null || DefaultPolicy.HubnessWeight != 0 || Config.FilterBankSha256 is not null)
        {
            Bank = null;
            Config = Config with { FilterBankSha256 = null };
            DefaultPolicy = DefaultPolicy with { HubnessWeight = 0, HubnessTopK = 0, FilterBankSha256 = null };
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

    /// <summary>
    /// Input side in managed code, for a frozen editor on float32 hidden states in host memory (null otherwise: use
    /// <see cref="InputSide"/>): φ̄, φ̄_Ξ and ψ̄ of each row, [n·k·d_m] each, computed one row at a time over its own
    /// prompt and vision ranges (docs/routing-at-scale.md). They equal <see cref="InputSide"/>'s within float32
    /// rounding and have the same bits on every x64 machine, whatever else is in the batch.
    /// </summary>
    public ManagedInputKeys? InputSideManaged(Tensor hidden, VlmInputs inputs, IReadOnlyList<int> rows)
    {
        ArgumentNullException.ThrowIfNull(hidden);
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(rows);
        if (inpt_extractor.Managed is not { } managed || is_grad_enabled()) return null;
        if (hidden.device_type != DeviceType.CPU || hidden.dtype != ScalarType.Float32 || hidden.dim() != 3 || hidden.shape[2] != managed.Width) return null;
        using var scope = NewDisposeScope();
        var dense = hidden.is_contiguous() ? hidden : hidden.contiguous();
        ReadOnlySpan<float> all = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(dense.bytes);
        int length = (int)hidden.shape[1], d = managed.Width, dim = managed.KeyLength;
        var visual = new float[rows.Count * dim];
        var sentinel = new float[rows.Count * dim];
        var text = new float[rows.Count * dim];
        for (var j = 0; j < rows.Count; j++)
        {
            var i = rows[j];
            int ps = inputs.PromptStart[i], pl = inputs.PromptLength[i], vs = inputs.VisionStart[i], vl = inputs.VisionCount[i];
            if (pl <= 0) throw new ArgumentException($"example {i} has an empty {EditSignal.Part.Prompt} range");
            if (vl <= 0) throw new ArgumentException($"example {i} has an empty {EditSignal.Part.Vision} range");
            managed.Compute(all.Slice((i * length + ps) * d, pl * d), all.Slice((i * length + vs) * d, vl * d),
                visual.AsSpan(j * dim, dim), sentinel.AsSpan(j * dim, dim), text.AsSpan(j * dim, dim));
        }
        return new ManagedInputKeys(visual, sentinel, text);
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
        var file = new EditorFile(Config, GeneratorSha256, FileSha256(weights), provenance)
        {
            DefaultPolicy = DefaultPolicy.IsPaper ? null : DefaultPolicy,
            IdentityAliases = aliases.Count == 0 ? null : aliases.ToList(),
        };
        File.WriteAllText(Path.Combine(folder, ConfigFile), JsonSerializer.Serialize(file, EditorConfig.Json));
    }

    /// <summary>
    /// Loads an editor folder written by <see cref="Save"/>, checking both SHA-256s and recomputing every identity alias
    /// the file lists from the weights (a file that names an alias the weights do not hash to is refused); the editor
    /// comes frozen. A file written while routing was part of the identity (the policy inside <c>config</c>) loads with
    /// that policy as its default and its recorded id as a verified alias. <paramref name="device"/>: where the editor's
    /// weights go, the base model's device (CPU when null).
    /// </summary>
    public static (EditorModules Editor, EditorFile File) Load(string folder, Device? device = null)
    {
        var text = File.ReadAllText(Path.Combine(folder, ConfigFile));
        var file = JsonSerializer.Deserialize<EditorFile>(text, EditorConfig.Json)
            ?? throw new InvalidDataException($"{folder}/{ConfigFile} is empty");
        var legacy = LegacyPolicyInConfig(text);
        var weights = Path.Combine(folder, WeightsFile);
        var fileSha = FileSha256(weights);
        if (!string.Equals(fileSha, file.WeightsFileSha256, StringComparison.OrdinalIgnoreCase))
            throw new InvalidDataException($"{weights}: SHA-256 {fileSha} differs from {file.WeightsFileSha256} in {ConfigFile}");
        file.Config.Refinement?.Validate();
        var editor = new EditorModules(file.Config);
        editor.load(weights);
        // Before Freeze: the projections it keeps are computed where the weights then live.
        if (device is not null && device.type != DeviceType.CPU) editor.to(device);
        if (file.Config.FilterBankSha256 is { } bankSha) editor.Bank = FilterBank.Load(Path.Combine(folder, FilterBank.FileName), bankSha);
        editor.Freeze();
        try
        {
            editor.WithPolicy(file.DefaultPolicy ?? legacy ?? RoutingPolicy.Paper);
        }
        catch (InvalidRoutingPolicyException e)
        {
            throw new InvalidDataException($"{folder}: default {e.Message}", e);
        }
        var expected = file.GeneratorSha256;
        if (legacy is not null && file.DefaultPolicy is null)
        {
            // Written while the policy was hashed into the identity: the recorded id is the legacy one.
            if (!string.Equals(editor.LegacyGeneratorSha256(legacy), expected, StringComparison.OrdinalIgnoreCase))
                throw new InvalidDataException($"{folder}: parameter SHA-256 {editor.LegacyGeneratorSha256(legacy)} (with {legacy}) differs from {expected}");
            editor.AddIdentityAlias(legacy);
            expected = editor.GeneratorSha256;
        }
        if (!string.Equals(editor.GeneratorSha256, expected, StringComparison.OrdinalIgnoreCase))
            throw new InvalidDataException($"{folder}: parameter SHA-256 {editor.GeneratorSha256} differs from {expected}");
        foreach (var alias in file.IdentityAliases ?? [])
        {
            RoutingPolicy policy;
            try
            {
                policy = (alias.Policy ?? throw new InvalidDataException($"{folder}: identity alias {alias.GeneratorSha256} names no policy")).Validate();
            }
            catch (InvalidRoutingPolicyException e)
            {
                throw new InvalidDataException($"{folder}: identity alias {alias.GeneratorSha256}: {e.Message}", e);
            }
            var recomputed = editor.LegacyGeneratorSha256(policy);
            if (!string.Equals(recomputed, alias.GeneratorSha256, StringComparison.OrdinalIgnoreCase))
                throw new InvalidDataException(
                    $"{folder}: identity alias {alias.GeneratorSha256} is not this editor's: its weights and refinement with {policy} hash to {recomputed}");
            editor.AddIdentityAlias(policy);
        }
        return (editor, file);
    }

    // The routing values an editor file kept inside its config while they were part of the identity; null when none.
    private static RoutingPolicy? LegacyPolicyInConfig(string json)
    {
        using var doc = JsonDocument.Parse(json);
        if (!doc.RootElement.TryGetProperty("config", out var config) || config.ValueKind != JsonValueKind.Object) return null;
        double Number(string name) => config.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : 0;
        var weight = Number("hubnessWeight");
        var policy = new RoutingPolicy(Number("filterMargin"), Number("filterBand"), weight, (int)Number("hubnessTopK"),
            weight != 0 && config.TryGetProperty("filterBankSha256", out var b) && b.ValueKind == JsonValueKind.String ? b.GetString() : null);
        return policy.IsPaper ? null : policy;
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

    // The identity: parameters, then refinement. With a legacy policy, that policy's terms after them: the formula of
    // the time routing was part of the identity (editors with the paper's routing keep one id under both).
    private string ComputeSha(RoutingPolicy? legacyPolicy)
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
        foreach (var term in legacyPolicy?.LegacyIdentityTerms() ?? []) hash.AppendData(Encoding.UTF8.GetBytes(term));
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

/// <summary>Input-side keys for n inputs in managed memory: φ̄, φ̄_Ξ, ψ̄, each [n·k·d_m] (row j at j·k·d_m).</summary>
public sealed record ManagedInputKeys(float[] Visual, float[] Sentinel, float[] Text);

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
    /// <summary>
    /// The routing policy the folder proposes for serving (null: the paper's). The one place the default lives: a host
    /// records it in the ledger the first time it serves a ledger that has none (docs/routing-policy.md).
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public RoutingPolicy? DefaultPolicy { get; init; }

    /// <summary>
    /// Generator ids the editor also answers to: what its weights and refinement hashed to with a routing policy in the
    /// identity. Each is recomputed at load; null when there are none.
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<IdentityAlias>? IdentityAliases { get; init; }

    /// <summary>Throws unless the editor was trained on the base model with weights <paramref name="baseWeightsSha256"/>.</summary>
    /// <param name="name">How the message names the editor.</param>
    public void RequireBase(string baseWeightsSha256, string name = "the editor")
    {
        if (Provenance.BaseWeightsSha256 != baseWeightsSha256)
            throw new ArgumentException($"{name} was trained on base {Provenance.BaseWeightsSha256[..12]}, not {baseWeightsSha256[..12]}");
    }
}
