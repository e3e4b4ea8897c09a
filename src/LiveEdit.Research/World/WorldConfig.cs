namespace LiveEdit.Research.World;

/// <summary>Sizes of a SynthWorld; with the seed they fix every entity, fact and rendering.</summary>
/// <param name="Seed">World seed.</param>
/// <param name="EntityCount">All entities (known + novel).</param>
/// <param name="KnownEntities">Entities the base model is trained on (the first ones).</param>
/// <param name="Lands">Lands for text-only facts (3 facts each).</param>
/// <param name="ImageSize">Side of rendered images in pixels.</param>
public sealed record WorldConfig(int Seed = 1, int EntityCount = 320, int KnownEntities = 48, int Lands = 40, int ImageSize = 32)
{
    /// <summary>The world TinyVLM's committed checkpoint is trained on.</summary>
    public static WorldConfig Default { get; } = new();
}
