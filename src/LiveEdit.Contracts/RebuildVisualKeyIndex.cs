namespace LiveEdit.Contracts;

/// <summary>Command: rebuild the visual-key index for experts made by one generator.</summary>
public sealed record RebuildVisualKeyIndex(string GeneratorSha256);
