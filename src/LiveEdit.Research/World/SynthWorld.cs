using LiveEdit.Model.Images;
namespace LiveEdit.Research.World;

/// <summary>A named colour of the palette.</summary>
public sealed record NamedColour(string Word, byte[] Rgb);

/// <summary>
/// SynthWorld (docs/method.md): a procedural world a small VLM can learn. Entities have a visual identity
/// (shape, body colour, pattern colour, pattern, eyes) and facts (name, category, home, owner, colour); families
/// share shape and colours and differ only in pattern, on purpose. Lands carry text-only facts. Everything is a
/// pure function of <see cref="WorldConfig"/>: the same config gives the same world, the same renderings and the
/// same questions on every machine.
/// </summary>
public sealed class SynthWorld
{
    /// <summary>Palette; body colours are the first 8, pattern colours any but the body's.</summary>
    public static readonly IReadOnlyList<NamedColour> Colours =
    [
        new("red", [215, 40, 40]), new("green", [40, 170, 60]), new("blue", [45, 85, 220]), new("yellow", [235, 215, 45]),
        new("purple", [135, 50, 185]), new("orange", [245, 140, 30]), new("pink", [245, 125, 195]), new("cyan", [45, 205, 215]),
        new("white", [245, 245, 245]), new("black", [25, 25, 25]),
    ];

    /// <summary>Number of palette entries a body may have.</summary>
    public const int BodyColours = 8;

    /// <summary>Category vocabulary.</summary>
    public static readonly IReadOnlyList<string> Categories = ["bird", "fish", "robot", "spirit", "beetle", "golem", "dragon", "sprite"];

    /// <summary>First word of a home.</summary>
    public static readonly IReadOnlyList<string> HomeAdjectives = ["north", "south", "old", "misty", "golden", "silent"];

    /// <summary>Second word of a home.</summary>
    public static readonly IReadOnlyList<string> HomePlaces = ["harbor", "forest", "tower", "valley", "market", "cave", "garden", "bridge"];

    /// <summary>Export vocabulary for lands.</summary>
    public static readonly IReadOnlyList<string> Exports = ["silk", "copper", "salt", "grain", "timber", "wool", "spice", "glass", "tea", "iron", "wine", "amber"];

    /// <summary>Attributes that edit cases change (colour is what the image shows, so it is not edited).</summary>
    public static readonly IReadOnlyList<EntityAttribute> EditableAttributes = [EntityAttribute.Name, EntityAttribute.Category, EntityAttribute.Home, EntityAttribute.Owner];

    private readonly Dictionary<EntityAttribute, string[]> _trainedValues;
    private readonly HashSet<VisualIdentity> _entityLooks;

    /// <summary>Builds the world of <paramref name="config"/>.</summary>
    public SynthWorld(WorldConfig config)
    {
        if (config.KnownEntities < 2 || config.KnownEntities > config.EntityCount)
            throw new ArgumentException("KnownEntities must be in [2, EntityCount]", nameof(config));
        if (config.ImageSize < 8 || config.ImageSize % 8 != 0) throw new ArgumentException("ImageSize must be a multiple of 8", nameof(config));
        Config = config;
        var rng = new WorldRandom(WorldRandom.Mix(config.Seed, 0x5EED));
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var word in FixedWords()) used.Add(word);

        var owners = Enumerable.Range(0, 12).Select(_ => NewWord(rng, used, 2)).ToArray();
        Owners = owners;
        var languages = Enumerable.Range(0, 10).Select(_ => NewWord(rng, used, 2) + "ish").ToArray();
        foreach (var l in languages) used.Add(l);
        Languages = languages;

        Entities = BuildEntities(config, rng, used, owners);
        Lands = Enumerable.Range(0, config.Lands).Select(i => new Land(i, NewWord(rng, used, 3), new Dictionary<LandAttribute, string>
        {
            [LandAttribute.Capital] = NewWord(rng, used, 2),
            [LandAttribute.Language] = rng.Pick(languages),
            [LandAttribute.Export] = rng.Pick(Exports),
        })).ToArray();

        KnownEntities = Entities.Where(e => e.Role == EntityRole.Known).ToArray();
        _entityLooks = Entities.Select(e => e.Look.Visible).ToHashSet();
        _trainedValues = Enum.GetValues<EntityAttribute>().ToDictionary(
            a => a, a => KnownEntities.Select(e => e.Facts[a]).Distinct().OrderBy(s => s, StringComparer.Ordinal).ToArray());

        var words = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var w in used) words.Add(w);
        foreach (var e in Entities) foreach (var f in e.Facts.Values) foreach (var w in Words(f)) words.Add(w);
        foreach (var l in Lands) { words.Add(l.Name); foreach (var f in l.Facts.Values) words.Add(f); }
        Vocabulary = words.ToArray();
    }

    /// <summary>The configuration (seed and sizes).</summary>
    public WorldConfig Config { get; }

    /// <summary>All entities, known first.</summary>
    public IReadOnlyList<Entity> Entities { get; }

    /// <summary>The entities of base training.</summary>
    public IReadOnlyList<Entity> KnownEntities { get; }

    /// <summary>Lands (text-only facts).</summary>
    public IReadOnlyList<Land> Lands { get; }

    /// <summary>Owner names.</summary>
    public IReadOnlyList<string> Owners { get; }

    /// <summary>Language names.</summary>
    public IReadOnlyList<string> Languages { get; }

    /// <summary>Every word any question or answer of this world uses (sorted, ordinal).</summary>
    public IReadOnlyList<string> Vocabulary { get; }

    /// <summary>Image side in pixels.</summary>
    public int ImageSize => Config.ImageSize;

    /// <summary>Values of <paramref name="attribute"/> that base training teaches (edit targets are drawn from these).</summary>
    public IReadOnlyList<string> TrainedValues(EntityAttribute attribute) => _trainedValues[attribute];

    /// <summary>The other members of an entity's family.</summary>
    public IEnumerable<Entity> Siblings(Entity entity) => Entities.Where(e => e.Family == entity.Family && e.Id != entity.Id);

    /// <summary>
    /// Rendering number <paramref name="index"/> of <paramref name="entity"/> in <paramref name="split"/>. Different
    /// splits use different seeds, so held-out renderings are never seen in training.
    /// </summary>
    public RgbImage Render(Entity entity, RenderSplit split, long index) =>
        WorldRenderer.Render(entity.Look, Config.ImageSize, new WorldRandom(WorldRandom.Mix(Config.Seed, 0x12E7, entity.Id, (long)split, index)));

    /// <summary>An image question about an entity (template index &lt; <see cref="QuestionTemplates.Count"/>).</summary>
    public WorldQuestion ImageQuestion(Entity entity, EntityAttribute attribute, int template, string objectWord, RenderSplit split, long renderIndex) =>
        new(Render(entity, split, renderIndex), QuestionTemplates.ForImage(attribute, template, objectWord), entity.Facts[attribute], entity.Id, attribute.ToString(), template);

    /// <summary>A text-only question about a land.</summary>
    public WorldQuestion TextQuestion(Land land, LandAttribute attribute, int template) =>
        new(null, QuestionTemplates.ForText(attribute, template, land.Name), land.Facts[attribute], null, attribute.ToString(), template);

    /// <summary>
    /// A random look that no entity of the world has (compared by what the image shows), so perception training never
    /// shows an entity, known or novel.
    /// </summary>
    public VisualIdentity RandomUnnamedLook(WorldRandom rng)
    {
        while (true)
        {
            var body = rng.Next(BodyColours);
            var mark = rng.Next(Colours.Count - 1);
            if (mark >= body) mark++;
            var look = new VisualIdentity((Shape)rng.Next(Enum.GetValues<Shape>().Length), body, mark,
                (Pattern)rng.Next(Enum.GetValues<Pattern>().Length), rng.Next(3));
            if (!_entityLooks.Contains(look.Visible)) return look;
        }
    }

    /// <summary>
    /// A look that differs from <paramref name="look"/> in one visible attribute (shape, body colour, markings colour,
    /// pattern or eyes) and that no entity has: a near miss, like a family's look-alikes.
    /// </summary>
    public VisualIdentity UnnamedSibling(VisualIdentity look, WorldRandom rng)
    {
        while (true)
        {
            var sibling = rng.Next(5) switch
            {
                0 => look with { Shape = (Shape)rng.Next(Enum.GetValues<Shape>().Length) },
                1 => look with { BodyColour = rng.Next(BodyColours) },
                2 => look with { PatternColour = rng.Next(Colours.Count) },
                3 => look with { Pattern = (Pattern)rng.Next(Enum.GetValues<Pattern>().Length) },
                _ => look with { Eyes = rng.Next(3) },
            };
            if (sibling.BodyColour == sibling.PatternColour) continue;
            if (sibling.Visible != look.Visible && !_entityLooks.Contains(sibling.Visible)) return sibling;
        }
    }

    /// <summary>
    /// Two renderings on <paramref name="split"/> of each of <paramref name="count"/> random looks that no entity has (the
    /// look pairs of editor training); with <paramref name="siblings"/>, every second look is an
    /// <see cref="UnnamedSibling"/> of the one before. A pure function of <paramref name="seed"/>.
    /// </summary>
    public IReadOnlyList<(RgbImage First, RgbImage Second)> UnnamedLookPairs(ulong seed, int count, bool siblings, RenderSplit split)
    {
        var rng = new WorldRandom(seed);
        var pairs = new List<(RgbImage, RgbImage)>(count);
        VisualIdentity? previous = null;
        for (var j = 0; j < count; j++)
        {
            var look = siblings && j % 2 == 1 ? UnnamedSibling(previous!, rng) : RandomUnnamedLook(rng);
            previous = look;
            var first = (long)(rng.NextUInt64() >> 1);
            var second = (long)(rng.NextUInt64() >> 1);
            pairs.Add((RenderLook(look, split, first), RenderLook(look, split, second)));
        }
        return pairs;
    }

    /// <summary>
    /// <paramref name="count"/> questions about entity facts (the editable attributes, training paraphrases), each asked
    /// about a rendering on <paramref name="split"/> of a random look that no entity has: images no edit is about, for
    /// the editor's filter bank. The answers are empty (an unnamed look has no facts). A pure function of
    /// <paramref name="seed"/>.
    /// </summary>
    public IReadOnlyList<WorldQuestion> UnnamedLookEntityQuestions(ulong seed, int count, RenderSplit split)
    {
        var rng = new WorldRandom(seed);
        var result = new List<WorldQuestion>(count);
        for (var i = 0; i < count; i++)
        {
            var look = RandomUnnamedLook(rng);
            var attribute = EditableAttributes[rng.Next(EditableAttributes.Count)];
            var template = rng.Next(QuestionTemplates.HeldOut);
            var prompt = QuestionTemplates.ForImage(attribute, template, rng.Pick(QuestionTemplates.ObjectWords));
            result.Add(new WorldQuestion(RenderLook(look, split, (long)(rng.NextUInt64() >> 1)), prompt, "", null, attribute.ToString(), template));
        }
        return result;
    }

    /// <summary>A perception question about a look (no entity: <see cref="WorldQuestion.EntityId"/> is null).</summary>
    public WorldQuestion LookQuestion(VisualIdentity look, LookAttribute attribute, int template, string objectWord, RenderSplit split, long renderIndex) =>
        new(RenderLook(look, split, renderIndex), QuestionTemplates.ForLook(attribute, template, objectWord), look.Describe(attribute), null, "Look" + attribute, template);

    /// <summary>Rendering number <paramref name="renderIndex"/> of a look that need not belong to an entity.</summary>
    public RgbImage RenderLook(VisualIdentity look, RenderSplit split, long renderIndex) =>
        WorldRenderer.Render(look, Config.ImageSize, new WorldRandom(WorldRandom.Mix(Config.Seed, 0x100C, (long)split, renderIndex)));

    /// <summary>
    /// One base-training question: an image question (with probability <paramref name="imageShare"/>) or a text-only
    /// question, never with the held-out paraphrase. An image question is, with probability
    /// <paramref name="perceptionShare"/>, a perception question about a random unnamed look, otherwise a question
    /// about a known entity. With <paramref name="perceptionShare"/> 0 no draw is spent on it (the earlier stream).
    /// </summary>
    public WorldQuestion SampleTrainingQuestion(WorldRandom rng, double imageShare = 0.7, double perceptionShare = 0)
    {
        if (rng.NextDouble() < imageShare)
        {
            if (perceptionShare > 0 && rng.NextDouble() < perceptionShare)
                return LookQuestion(RandomUnnamedLook(rng), (LookAttribute)rng.Next(Enum.GetValues<LookAttribute>().Length), rng.Next(QuestionTemplates.HeldOut),
                    rng.Pick(QuestionTemplates.ObjectWords), RenderSplit.BaseTrain, (long)(rng.NextUInt64() >> 1));
            var entity = rng.Pick(KnownEntities);
            var attribute = (EntityAttribute)rng.Next(Enum.GetValues<EntityAttribute>().Length);
            return ImageQuestion(entity, attribute, rng.Next(QuestionTemplates.HeldOut), rng.Pick(QuestionTemplates.ObjectWords),
                RenderSplit.BaseTrain, (long)(rng.NextUInt64() >> 1));
        }
        var land = rng.Pick(Lands);
        return TextQuestion(land, (LandAttribute)rng.Next(3), rng.Next(QuestionTemplates.HeldOut));
    }

    /// <summary>
    /// Held-out image questions for base evaluation: known entities × attributes in turn, on
    /// <see cref="RenderSplit.BaseEval"/> renderings; training paraphrases, or only the held-out one.
    /// </summary>
    public IReadOnlyList<WorldQuestion> EvalImageQuestions(int count, bool heldOutParaphrase, int seed = 0)
    {
        var rng = new WorldRandom(WorldRandom.Mix(Config.Seed, 0xE7A1, seed, heldOutParaphrase ? 1 : 0));
        var attributes = Enum.GetValues<EntityAttribute>();
        var result = new List<WorldQuestion>(count);
        for (var i = 0; i < count; i++)
        {
            var entity = KnownEntities[i % KnownEntities.Count];
            var attribute = attributes[(i / KnownEntities.Count + i) % attributes.Length];
            var template = heldOutParaphrase ? QuestionTemplates.HeldOut : rng.Next(QuestionTemplates.HeldOut);
            result.Add(ImageQuestion(entity, attribute, template, rng.Pick(QuestionTemplates.ObjectWords), RenderSplit.BaseEval, (seed * 1_000_003L) + i));
        }
        return result;
    }

    /// <summary>
    /// Held-out perception questions: random unnamed looks on <see cref="RenderSplit.BaseEval"/> renderings, look
    /// attributes in turn; training paraphrases, or only the held-out one.
    /// </summary>
    public IReadOnlyList<WorldQuestion> EvalLookQuestions(int count, bool heldOutParaphrase, int seed = 0)
    {
        var rng = new WorldRandom(WorldRandom.Mix(Config.Seed, 0x100E, seed, heldOutParaphrase ? 1 : 0));
        var attributes = Enum.GetValues<LookAttribute>();
        var result = new List<WorldQuestion>(count);
        for (var i = 0; i < count; i++)
        {
            var template = heldOutParaphrase ? QuestionTemplates.HeldOut : rng.Next(QuestionTemplates.HeldOut);
            result.Add(LookQuestion(RandomUnnamedLook(rng), attributes[i % attributes.Length], template, rng.Pick(QuestionTemplates.ObjectWords),
                RenderSplit.BaseEval, (seed * 1_000_003L) + i));
        }
        return result;
    }

    /// <summary>Every text-only fact once, with a training paraphrase (or the held-out one).</summary>
    public IReadOnlyList<WorldQuestion> EvalTextQuestions(bool heldOutParaphrase)
    {
        var result = new List<WorldQuestion>();
        var i = 0;
        foreach (var land in Lands)
        foreach (var attribute in Enum.GetValues<LandAttribute>())
            result.Add(TextQuestion(land, attribute, heldOutParaphrase ? QuestionTemplates.HeldOut : i++ % QuestionTemplates.HeldOut));
        return result;
    }

    /// <summary>
    /// Knowledge-editing cases for the editor (training or evaluation split; the two use disjoint entity families
    /// and disjoint renderings). Each (entity, attribute) pair appears at most once until the split's pairs run out
    /// (known and novel entities, 4 editable attributes each), then the pairs are reshuffled and reused. New targets
    /// are values base training teaches, different from the entity's current fact. Image locality uses a family
    /// sibling half the time when there is one, otherwise another known entity. <paramref name="entities"/> narrows
    /// the edited entities to one half of the split (<see cref="EntitySubset"/>); <see cref="EntitySubset.All"/> draws
    /// exactly the cases it drew before the halves existed.
    /// </summary>
    public IReadOnlyList<EditCase> EditCases(EditSplit split, int count, int seed, EntitySubset entities = EntitySubset.All)
    {
        var rng = new WorldRandom(entities == EntitySubset.All
            ? WorldRandom.Mix(Config.Seed, 0xED17, (long)split, seed)
            : WorldRandom.Mix(Config.Seed, 0xED17, (long)split, seed, 0xCA1B, (long)entities));
        var renderSplit = split == EditSplit.EditorTrain ? RenderSplit.EditorTrain : RenderSplit.EditorEval;
        var pool = Entities.Where(e => e.EditSplit == split && entities.Contains(e)).ToArray();
        var pairs = pool.SelectMany(e => EditableAttributes.Select(a => (Entity: e, Attribute: a))).ToList();
        var cases = new List<EditCase>(count);
        var order = new List<(Entity Entity, EntityAttribute Attribute)>();
        long render = (long)seed << 24;
        for (var id = 0; id < count; id++)
        {
            if (order.Count == 0) { order.AddRange(pairs); rng.Shuffle(order); }
            var (entity, attribute) = order[^1];
            order.RemoveAt(order.Count - 1);

            var old = entity.Facts[attribute];
            var choices = TrainedValues(attribute).Where(v => v != old).ToArray();
            var target = rng.Pick(choices);
            var template = rng.Next(QuestionTemplates.HeldOut);
            var paraphrase = (template + 1 + rng.Next(QuestionTemplates.Count - 1)) % QuestionTemplates.Count;
            var obj = rng.Pick(QuestionTemplates.ObjectWords);

            var editImage = Render(entity, renderSplit, render++);
            var edit = new WorldQuestion(editImage, QuestionTemplates.ForImage(attribute, template, obj), target, entity.Id, attribute.ToString(), template);
            var textGen = edit with { Prompt = QuestionTemplates.ForImage(attribute, paraphrase, rng.Pick(QuestionTemplates.ObjectWords)), Template = paraphrase };
            var imageGen = edit with { Image = Render(entity, renderSplit, render++) };

            var siblings = Siblings(entity).ToArray();
            var useSibling = siblings.Length > 0 && rng.NextDouble() < 0.5;
            Entity other;
            if (useSibling) other = rng.Pick(siblings);
            else do other = rng.Pick(KnownEntities); while (other.Id == entity.Id);
            var locality = ImageQuestion(other, (EntityAttribute)rng.Next(Enum.GetValues<EntityAttribute>().Length), rng.Next(QuestionTemplates.HeldOut),
                rng.Pick(QuestionTemplates.ObjectWords), renderSplit, render++);
            var textLoc = TextQuestion(rng.Pick(Lands), (LandAttribute)rng.Next(3), rng.Next(QuestionTemplates.HeldOut));

            cases.Add(new EditCase(id, entity, attribute, old, target, edit, textGen, imageGen, locality, textLoc, useSibling));
        }
        return cases;
    }

    private static IReadOnlyList<Entity> BuildEntities(WorldConfig config, WorldRandom rng, HashSet<string> used, string[] owners)
    {
        // Every (shape, body, pattern colour) triple once, shuffled: a family per triple.
        var triples = new List<(Shape, int, int)>();
        foreach (var shape in Enum.GetValues<Shape>())
        for (var body = 0; body < BodyColours; body++)
        for (var mark = 0; mark < Colours.Count; mark++)
            if (mark != body) triples.Add((shape, body, mark));
        rng.Shuffle(triples);

        var patterns = Enum.GetValues<Pattern>();
        var entities = new List<Entity>(config.EntityCount);
        var family = 0;
        while (entities.Count < config.EntityCount)
        {
            var (shape, body, mark) = triples[family % triples.Count];
            var size = Math.Min(rng.Pick(new[] { 1, 2, 2, 3, 3 }), config.EntityCount - entities.Count);
            var familyPatterns = patterns.ToList();
            rng.Shuffle(familyPatterns);
            var eyes = rng.Next(3);
            for (var m = 0; m < size; m++)
            {
                var id = entities.Count;
                var facts = new Dictionary<EntityAttribute, string>
                {
                    [EntityAttribute.Name] = NewWord(rng, used, 2),
                    [EntityAttribute.Category] = rng.Pick(Categories),
                    [EntityAttribute.Home] = $"{rng.Pick(HomeAdjectives)} {rng.Pick(HomePlaces)}",
                    [EntityAttribute.Owner] = rng.Pick(owners),
                    [EntityAttribute.Colour] = Colours[body].Word,
                };
                entities.Add(new Entity(id, family, new VisualIdentity(shape, body, mark, familyPatterns[m], eyes),
                    id < config.KnownEntities ? EntityRole.Known : EntityRole.Novel,
                    family % 2 == 0 ? EditSplit.EditorTrain : EditSplit.EditorEval, facts));
            }
            family++;
        }
        return entities;
    }

    private static readonly string[] Onsets = ["b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "kr", "tr", "st"];
    private static readonly string[] Vowels = ["a", "e", "i", "o", "u", "ai", "ou"];
    private static readonly string[] Codas = ["", "", "", "n", "r", "l", "x", "sh"];

    /// <summary>A new made-up word of <paramref name="syllables"/> syllables that no other word of the world uses.</summary>
    private static string NewWord(WorldRandom rng, HashSet<string> used, int syllables)
    {
        while (true)
        {
            var s = "";
            for (var i = 0; i < syllables; i++) s += rng.Pick(Onsets) + rng.Pick(Vowels);
            s += rng.Pick(Codas);
            if (used.Add(s)) return s;
        }
    }

    private static IEnumerable<string> FixedWords()
    {
        foreach (var t in QuestionTemplates.Image.Values.SelectMany(x => x)) foreach (var w in Words(t)) if (!w.StartsWith('{')) yield return w;
        foreach (var t in QuestionTemplates.Text.Values.SelectMany(x => x)) foreach (var w in Words(t)) if (!w.StartsWith('{')) yield return w;
        foreach (var t in QuestionTemplates.Look.Values.SelectMany(x => x)) foreach (var w in Words(t)) if (!w.StartsWith('{')) yield return w;
        foreach (var s in Enum.GetValues<Shape>()) yield return s.ToString().ToLowerInvariant();
        foreach (var w in VisualIdentity.PatternWords.Concat(VisualIdentity.CountWords)) yield return w;
        foreach (var w in QuestionTemplates.ObjectWords) yield return w;
        foreach (var c in Colours) yield return c.Word;
        foreach (var w in Categories.Concat(HomeAdjectives).Concat(HomePlaces).Concat(Exports)) yield return w;
    }

    private static string[] Words(string text) => text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
}
