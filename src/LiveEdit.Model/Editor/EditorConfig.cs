using System.Text.Json;
using System.Text.Json.Serialization;
using LiveEdit.Model.Vlm;

namespace LiveEdit.Model.Editor;

/// <summary>
/// Sizes of the LiveEdit editor (docs/method.md; official config keys in brackets).
/// </summary>
/// <param name="HiddenSize">d, the VLM width at layer l_e [llm_mid_dim].</param>
/// <param name="VisionTokens">N_v, rows of the vision sentinel Ξ.</param>
/// <param name="ModuleDim">d_m, width of keys and query seeds [module_dim].</param>
/// <param name="Heads">Heads of every cross-attention [cross_att_head_n].</param>
/// <param name="Rank">r, expert rank [lora_rank].</param>
/// <param name="KeyRows">k, key vectors per edit [eqe_n].</param>
/// <param name="LoraScale">lora_scale; the generators scale by s = 1/(lora_scale·√r).</param>
/// <param name="Refinement">
/// Null: the paper's method (an expert is the generators' output). Otherwise our extension: the generated U, V are
/// then refined by a few gradient steps on the edit's own target (see <see cref="ExpertRefinement"/>).
/// </param>
/// <param name="VisualKeyBlocks">
/// 0: the paper's visual key extractor. Otherwise our extension: that many pre-LN transformer blocks over the vision
/// tokens (<see cref="VisionTokenBlock"/>) before the visual key's CA_2 pooling, on both sides. Not written when 0, so
/// editors from before the extension read and hash as they did.
/// </param>
/// <param name="FilterBankSha256">
/// SHA-256 of the editor folder's <see cref="FilterBank.FileName"/>; null when it has none. An artefact of the folder that
/// a <see cref="RoutingPolicy"/> with a hubness correction names; not part of the generator's identity.
/// </param>
public sealed record EditorConfig(
    int HiddenSize,
    int VisionTokens,
    int ModuleDim,
    int Heads = 4,
    int Rank = 4,
    int KeyRows = 4,
    double LoraScale = 5.0,
    ExpertRefinement? Refinement = null,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] int VisualKeyBlocks = 0,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] string? FilterBankSha256 = null)
{
    /// <summary>s = 1/(lora_scale·√r), the generators' output scale.</summary>
    [JsonIgnore]
    public double GeneratorScale => 1.0 / (LoraScale * Math.Sqrt(Rank));

    /// <summary>1/√d_m, the scale of every key similarity.</summary>
    [JsonIgnore]
    public double SimilarityScale => 1.0 / Math.Sqrt(ModuleDim);

    /// <summary>
    /// The editor for a VLM of <paramref name="shape"/>: d and N_v from the model (the editor reads layer l_e's output,
    /// <see cref="VlmShape.EditLayer"/>), d_m = <see cref="EditorHyperParameters.DefaultModuleDim"/> unless given.
    /// </summary>
    public static EditorConfig For(VlmShape shape, int? moduleDim = null, int heads = 4) =>
        For(shape, new EditorHyperParameters(ModuleDim: moduleDim, Heads: heads));

    /// <summary>The editor for a VLM of <paramref name="shape"/> with these hyper-parameters.</summary>
    public static EditorConfig For(VlmShape shape, EditorHyperParameters hyper)
    {
        ArgumentNullException.ThrowIfNull(shape);
        ArgumentNullException.ThrowIfNull(hyper);
        var dm = hyper.ModuleDim ?? EditorHyperParameters.DefaultModuleDim(shape);
        if (dm < 1 || hyper.Heads < 1 || dm % hyper.Heads != 0)
            throw new ArgumentException($"d_m = {dm} must be positive and a multiple of the {hyper.Heads} heads");
        if (hyper.Rank < 1 || hyper.KeyRows < 1 || hyper.LoraScale <= 0)
            throw new ArgumentException($"rank {hyper.Rank}, key rows {hyper.KeyRows} and lora scale {hyper.LoraScale} must be positive");
        return new(shape.HiddenSize, shape.VisionTokens, dm, hyper.Heads, hyper.Rank, hyper.KeyRows, hyper.LoraScale);
    }

    internal static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };
}

/// <summary>
/// The editor's own sizes, apart from those the model fixes (d, N_v): the paper's LLaVA-1.5-7B editor is r = 4, k = 4,
/// d_m = 1024 on d = 4096, lora_scale 5.
/// </summary>
/// <param name="ModuleDim">d_m; null: <see cref="DefaultModuleDim"/>.</param>
/// <param name="Heads">Heads of every cross-attention.</param>
/// <param name="Rank">r, the rank of every expert.</param>
/// <param name="KeyRows">k, key vectors per edit.</param>
/// <param name="LoraScale">lora_scale.</param>
public sealed record EditorHyperParameters(int? ModuleDim = null, int Heads = 4, int Rank = 4, int KeyRows = 4, double LoraScale = 5.0)
{
    /// <summary>The paper's widest module: d_m = 1024 for LLaVA-1.5-7B (d = 4096).</summary>
    public const int PaperModuleDim = 1024;

    /// <summary>d_m = min(d, 1024): the model width for small models (TinyVLM's editor), the paper's 1024 for 7B-class ones.</summary>
    public static int DefaultModuleDim(VlmShape shape) => Math.Min(shape.HiddenSize, PaperModuleDim);
}
