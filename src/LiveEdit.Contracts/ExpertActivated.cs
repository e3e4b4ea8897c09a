namespace LiveEdit.Contracts;

/// <summary>Event: an edit's expert became part of the model at ledger version <paramref name="Version"/>.</summary>
public sealed record ExpertActivated(Guid EditId, string ExpertSha256, long Version);
