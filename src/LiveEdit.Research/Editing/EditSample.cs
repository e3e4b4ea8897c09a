using LiveEdit.Model.Vlm;
using LiveEdit.Research.World;
using static TorchSharp.torch;

namespace LiveEdit.Research.Editing;

/// <summary>One input of an edit case; the image is made on demand, in the caller's dispose scope.</summary>
/// <param name="EntityId">The entity the image shows (null: text only or unknown), for the hard filter's precision and recall.</param>
/// <param name="Fact">The attribute the question asks about <paramref name="EntityId"/> (null: unknown). A locality
/// question whose fact is itself edited is no locality question any more: the evaluation leaves it out of M-Loc.</param>
public sealed record EditQuery(Func<Tensor>? Image, string Prompt, string Answer, int? EntityId, string? Fact = null)
{
    /// <summary>As a model input with the answer for teacher forcing (or without, for greedy decoding).</summary>
    public VlmExample ToExample(bool withAnswer = true) => new(Image?.Invoke(), Prompt, withAnswer ? Answer : null);

    /// <summary>From a SynthWorld question ([0, 1] pixels as rendered).</summary>
    public static EditQuery From(WorldQuestion q) => From(q, null);

    /// <summary>From a SynthWorld question; <paramref name="imageInput"/>: a model's own preprocessing (null: [0, 1] pixels as rendered).</summary>
    public static EditQuery From(WorldQuestion q, Func<LiveEdit.Model.Images.RgbImage, Tensor>? imageInput) =>
        new(q.Image is { } image ? (imageInput is null ? image.ToTensor : () => imageInput(image)) : null, q.Prompt, q.Answer, q.EntityId, q.EntityId is null ? null : q.Attribute);
}

/// <summary>
/// An edit case as the editor sees it (MMEdit/VLKEB fields): the edit (image, prompt, new target), text generality
/// (paraphrase, new target), image generality (another rendering, new target), image locality (another entity,
/// its true answer) and text locality (text only, true answer).
/// </summary>
/// <param name="Attribute">What the edit's question asks (cases asking the same have near-identical prompts).</param>
/// <param name="LookAlikes">A group of entities that look alike on purpose (a SynthWorld family; null: none known).
/// Training puts cases of one group into the same batch, as hard negatives for the visual filter.</param>
public sealed record EditSample(int Id, string Attribute, EditQuery Edit, EditQuery TextGenerality, EditQuery ImageGenerality, EditQuery ImageLocality, EditQuery TextLocality,
    int? LookAlikes = null)
{
    /// <summary>From a SynthWorld edit case ([0, 1] pixels as rendered).</summary>
    public static EditSample From(EditCase c) => From(c, null);

    /// <summary>From a SynthWorld edit case; <paramref name="imageInput"/>: a model's own preprocessing (null: [0, 1] pixels as rendered).</summary>
    public static EditSample From(EditCase c, Func<LiveEdit.Model.Images.RgbImage, Tensor>? imageInput) => new(c.Id, c.Attribute.ToString(),
        EditQuery.From(c.Edit, imageInput), EditQuery.From(c.TextGenerality, imageInput), EditQuery.From(c.ImageGenerality, imageInput),
        EditQuery.From(c.ImageLocality, imageInput), EditQuery.From(c.TextLocality, imageInput), c.Entity.Family);
}
