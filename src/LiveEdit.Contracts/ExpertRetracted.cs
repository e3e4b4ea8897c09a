namespace LiveEdit.Contracts;

/// <summary>Event: an edit's expert left the model at ledger version <paramref name="Version"/>.</summary>
public sealed record ExpertRetracted(Guid EditId, long Version);
