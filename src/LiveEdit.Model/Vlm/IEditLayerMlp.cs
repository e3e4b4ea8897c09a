using TorchSharp.Modules;

namespace LiveEdit.Model.Vlm;

/// <summary>
/// A VLM whose edit-layer MLP (the MLP of decoder block l_e, whose output is the hidden state LiveEdit edits) can be
/// fine-tuned in place — what the FT-L baseline needs. LiveEdit itself never changes base weights.
/// </summary>
public interface IEditLayerMlp
{
    /// <summary>The live parameters of block l_e's MLP (changing them changes the model).</summary>
    IReadOnlyList<Parameter> EditLayerMlpParameters();
}
