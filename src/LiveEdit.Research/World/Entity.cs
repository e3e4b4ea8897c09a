using LiveEdit.Model.Images;
namespace LiveEdit.Research.World;

/// <summary>Outline of an entity's body.</summary>
public enum Shape { Circle, Square, Triangle, Diamond, Hexagon, Star, Cross, Crescent }

/// <summary>How the second colour is laid over the body.</summary>
public enum Pattern { Solid, Stripes, Dots, Checker, Split, Ring }

/// <summary>The facts asked about an entity; each has a closed vocabulary.</summary>
public enum EntityAttribute { Name, Category, Home, Owner, Colour }

/// <summary>
/// What a perception question asks about a look: only what the image shows, so any look can be asked about, named or
/// not. Base training asks these about random unnamed looks, so the vision states describe every visible attribute of
/// any entity (as a large VLM's pretrained vision encoder does), not only what tells the known entities apart.
/// </summary>
public enum LookAttribute { Colour, Shape, Pattern, Markings, Eyes }

/// <summary>The facts asked about a land in text-only questions.</summary>
public enum LandAttribute { Capital, Language, Export }

/// <summary>What an entity looks like; two entities of one family differ only in <see cref="Pattern"/>.</summary>
/// <param name="BodyColour">Index into <see cref="SynthWorld.Colours"/>.</param>
/// <param name="PatternColour">Index into <see cref="SynthWorld.Colours"/>, never the body colour.</param>
/// <param name="Eyes">0, 1 or 2 eye dots.</param>
public sealed record VisualIdentity(Shape Shape, int BodyColour, int PatternColour, Pattern Pattern, int Eyes)
{
    /// <summary>Answer words of <see cref="LookAttribute.Pattern"/>, in the order of the pattern enum.</summary>
    public static readonly IReadOnlyList<string> PatternWords = ["plain", "stripes", "dots", "checks", "halves", "ring"];

    /// <summary>Answer words of <see cref="LookAttribute.Eyes"/> (0, 1, 2) and of markings on a plain body.</summary>
    public static readonly IReadOnlyList<string> CountWords = ["none", "one", "two"];

    /// <summary>What the image shows of <paramref name="attribute"/>: one word.</summary>
    public string Describe(LookAttribute attribute) => attribute switch
    {
        LookAttribute.Colour => SynthWorld.Colours[BodyColour].Word,
        LookAttribute.Shape => Shape.ToString().ToLowerInvariant(),
        LookAttribute.Pattern => PatternWords[(int)Pattern],
        LookAttribute.Markings => Pattern == Pattern.Solid ? CountWords[0] : SynthWorld.Colours[PatternColour].Word,
        LookAttribute.Eyes => CountWords[Eyes],
        _ => throw new ArgumentOutOfRangeException(nameof(attribute)),
    };

    /// <summary>The same look with what cannot be seen made canonical (a plain body shows no pattern colour).</summary>
    public VisualIdentity Visible => Pattern == Pattern.Solid ? this with { PatternColour = -1 } : this;

    /// <summary>In how many of the five visible attributes (shape, body colour, markings colour, pattern, eyes) two looks differ.</summary>
    public int Distance(VisualIdentity other) => Differences(other).Count(d => d);

    /// <summary>Per visible attribute (shape, body colour, markings colour, pattern, eyes): whether two looks differ in it.</summary>
    public bool[] Differences(VisualIdentity other)
    {
        VisualIdentity a = Visible, b = other.Visible;
        return [a.Shape != b.Shape, a.BodyColour != b.BodyColour, a.PatternColour != b.PatternColour, a.Pattern != b.Pattern, a.Eyes != b.Eyes];
    }
}

/// <summary>Which part of the world an entity belongs to.</summary>
public enum EntityRole
{
    /// <summary>Seen in base training: the base model knows its facts.</summary>
    Known,
    /// <summary>Never seen in base training: edits about it insert new knowledge.</summary>
    Novel,
}

/// <summary>Which editor split an entity's edit cases belong to (disjoint entity sets).</summary>
public enum EditSplit { EditorTrain, EditorEval }

/// <summary>Where a rendering is drawn from; the render seed includes it, so splits never share a rendering.</summary>
public enum RenderSplit { BaseTrain, BaseEval, EditorTrain, EditorEval, Demo }

/// <summary>One entity of the world: identity, family and facts.</summary>
/// <param name="Id">0-based index in <see cref="SynthWorld.Entities"/>.</param>
/// <param name="Family">Entities of one family share shape and both colours.</param>
/// <param name="Facts">Answer text for each attribute (1–2 words).</param>
public sealed record Entity(int Id, int Family, VisualIdentity Look, EntityRole Role, EditSplit EditSplit, IReadOnlyDictionary<EntityAttribute, string> Facts)
{
    /// <summary>The entity's name (a single word).</summary>
    public string Name => Facts[EntityAttribute.Name];
}

/// <summary>A land that text-only questions ask about.</summary>
public sealed record Land(int Id, string Name, IReadOnlyDictionary<LandAttribute, string> Facts);

/// <summary>
/// One question with its answer. <see cref="Image"/> is null for a text-only question.
/// <see cref="Template"/> is the paraphrase index (the last one per attribute is held out of base training).
/// </summary>
public sealed record WorldQuestion(RgbImage? Image, string Prompt, string Answer, int? EntityId, string Attribute, int Template)
{
    /// <summary>As a model input ([3, H, W] image tensor in the caller's dispose scope).</summary>
    public LiveEdit.Model.Vlm.VlmExample ToExample(bool withAnswer = true) => new(Image?.ToTensor(), Prompt, withAnswer ? Answer : null);
}

/// <summary>
/// A knowledge-editing benchmark case (MMEdit/VLKEB fields). The edit teaches <see cref="NewTarget"/> as the
/// answer to <see cref="Attribute"/> of <see cref="Entity"/>.
/// </summary>
/// <param name="Edit">Edit image + prompt, answer = the new target (reliability).</param>
/// <param name="TextGenerality">Same image, a paraphrased prompt, answer = the new target.</param>
/// <param name="ImageGenerality">Another rendering of the same entity, answer = the new target.</param>
/// <param name="ImageLocality">Another entity's image and a question about it; answer = its true fact (the edit must not change it).</param>
/// <param name="TextLocality">A text-only question and its true answer.</param>
/// <param name="OldTarget">The entity's fact before the edit.</param>
/// <param name="LocalityIsSibling">True when the image-locality entity is of the same family (visually similar on purpose).</param>
public sealed record EditCase(
    int Id,
    Entity Entity,
    EntityAttribute Attribute,
    string OldTarget,
    string NewTarget,
    WorldQuestion Edit,
    WorldQuestion TextGenerality,
    WorldQuestion ImageGenerality,
    WorldQuestion ImageLocality,
    WorldQuestion TextLocality,
    bool LocalityIsSibling);
