namespace LiveEdit.Research.World;

/// <summary>
/// Question paraphrases. Per attribute, templates 0..3 are used in base training and the last one
/// (<see cref="HeldOut"/>) only in evaluation: it recombines words and frames the model has seen elsewhere ("tell me
/// …" openings and "the X of this …" phrases both occur in training, never together), so answering it measures
/// paraphrase generalisation, not memorisation. Every training frame is used by image questions of several
/// attributes, so no frame alone gives the attribute away (an earlier set taught "tell me" only with text-only
/// questions, and the held-out "tell me the category of this …" was then answered with owners and cities). <c>{obj}</c> is filled with an object word,
/// <c>{land}</c> with a land's name.
/// </summary>
public static class QuestionTemplates
{
    /// <summary>Index of the held-out paraphrase of every attribute.</summary>
    public const int HeldOut = 4;

    /// <summary>Number of paraphrases per attribute.</summary>
    public const int Count = 5;

    /// <summary>Words that fill <c>{obj}</c>.</summary>
    public static readonly string[] ObjectWords = ["creature", "thing", "figure", "being"];

    /// <summary>Image question paraphrases per entity attribute.</summary>
    public static readonly IReadOnlyDictionary<EntityAttribute, string[]> Image = new Dictionary<EntityAttribute, string[]>
    {
        [EntityAttribute.Name] =
        [
            "what is the name of this {obj} ?",
            "what is this {obj} called ?",
            "who is this {obj} ?",
            "tell me what this {obj} is called .",
            "tell me the name of this {obj} .",
        ],
        [EntityAttribute.Category] =
        [
            "what kind of {obj} is this ?",
            "what is the category of this {obj} ?",
            "which category does this {obj} belong to ?",
            "tell me what kind of {obj} this is .",
            "tell me the category of this {obj} .",
        ],
        [EntityAttribute.Home] =
        [
            "where does this {obj} live ?",
            "what is the home of this {obj} ?",
            "where is this {obj} from ?",
            "tell me where this {obj} lives .",
            "tell me the home of this {obj} .",
        ],
        [EntityAttribute.Owner] =
        [
            "who owns this {obj} ?",
            "who is the owner of this {obj} ?",
            "whose {obj} is this ?",
            "tell me who owns this {obj} .",
            "tell me the owner of this {obj} .",
        ],
        [EntityAttribute.Colour] =
        [
            "what colour is this {obj} ?",
            "what is the colour of this {obj} ?",
            "which colour does this {obj} have ?",
            "tell me what colour this {obj} is .",
            "tell me the colour of this {obj} .",
        ],
    };

    /// <summary>
    /// Perception question paraphrases per look attribute. They use only "what / which / how many" frames, never the
    /// "tell me …" frames of the entity questions: shared frames teach the held-out "tell me the name of this …" to
    /// answer with colours. The last one is held out.
    /// </summary>
    public static readonly IReadOnlyDictionary<LookAttribute, string[]> Look = new Dictionary<LookAttribute, string[]>
    {
        [LookAttribute.Colour] =
        [
            "what colour is this {obj} ?",
            "what is the colour of this {obj} ?",
            "which colour does this {obj} have ?",
            "what colour does this {obj} have ?",
            "which colour is this {obj} ?",
        ],
        [LookAttribute.Shape] =
        [
            "what shape is this {obj} ?",
            "what is the shape of this {obj} ?",
            "which shape does this {obj} have ?",
            "what shape does this {obj} have ?",
            "which shape is this {obj} ?",
        ],
        [LookAttribute.Pattern] =
        [
            "what pattern does this {obj} have ?",
            "what is the pattern of this {obj} ?",
            "which pattern is on this {obj} ?",
            "what pattern is on this {obj} ?",
            "which pattern does this {obj} have ?",
        ],
        [LookAttribute.Markings] =
        [
            "what colour are the markings of this {obj} ?",
            "what is the colour of the markings of this {obj} ?",
            "which colour are the markings of this {obj} ?",
            "what colour do the markings of this {obj} have ?",
            "which colour do the markings of this {obj} have ?",
        ],
        [LookAttribute.Eyes] =
        [
            "how many eyes does this {obj} have ?",
            "what is the number of eyes of this {obj} ?",
            "how many eyes are on this {obj} ?",
            "what number of eyes does this {obj} have ?",
            "which number of eyes does this {obj} have ?",
        ],
    };

    /// <summary>Text-only question paraphrases per land attribute.</summary>
    public static readonly IReadOnlyDictionary<LandAttribute, string[]> Text = new Dictionary<LandAttribute, string[]>
    {
        [LandAttribute.Capital] =
        [
            "what is the capital of {land} ?",
            "which city is the capital of {land} ?",
            "name the capital of {land} .",
            "tell me the capital of {land} .",
            "the capital of {land} is which city ?",
        ],
        [LandAttribute.Language] =
        [
            "what language is spoken in {land} ?",
            "which language do people speak in {land} ?",
            "what is the language of {land} ?",
            "tell me the language of {land} .",
            "in {land} people speak which language ?",
        ],
        [LandAttribute.Export] =
        [
            "what does {land} export ?",
            "what is the main export of {land} ?",
            "which goods does {land} sell abroad ?",
            "tell me the export of {land} .",
            "name the main export of {land} .",
        ],
    };

    /// <summary>Fills an image template.</summary>
    public static string ForImage(EntityAttribute attribute, int template, string objectWord) =>
        Image[attribute][template].Replace("{obj}", objectWord);

    /// <summary>Fills a perception template.</summary>
    public static string ForLook(LookAttribute attribute, int template, string objectWord) =>
        Look[attribute][template].Replace("{obj}", objectWord);

    /// <summary>Fills a text template.</summary>
    public static string ForText(LandAttribute attribute, int template, string land) =>
        Text[attribute][template].Replace("{land}", land);
}
