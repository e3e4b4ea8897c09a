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

    /// <summary>The default editor for a VLM: d_m = d (the paper uses d_m = d/4 on a 4096-wide LM).</summary>
    public static EditorConfig For(VlmShape shape, int? moduleDim = null, int heads = 4) =>
        new(shape.HiddenSize, shape.VisionTokens, moduleDim ?? shape.HiddenSize, heads);

    internal static readonly JsonSerializerOptions Json = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };
}
