using LiveEdit.Ledger.Edits;
using LiveEdit.Ledger.Errors;
using LiveEdit.Ledger.Versions;

namespace LiveEdit.Ledger;

// Commands: each reads the edit's chained state, lets EditDecisions decide, and appends what it decided
// (see EditLedger.Appending.cs for the lock and the chain).
public sealed partial class EditLedger
{
    /// <summary>Proposes an edit (and approves it in the same transaction under <see cref="ApprovalPolicy.AutoApprove"/>).</summary>
    public async Task<EditCommandResult> ProposeAsync(ProposeEdit command, CancellationToken ct = default)
    {
        var now = _options.Clock.GetUtcNow();
        var proposed = EditDecisions.Handle(command, now);
        await Blobs.RequireAsync(proposed.ImageSha256, "imageSha256", ct);
        if (proposed.Supersedes is { } older) await LoadAsync(older, ct);
        var events = new List<object> { proposed };
        if (_options.Policy == ApprovalPolicy.AutoApprove)
            events.Add(EditDecisions.Handle(Edit.Create(proposed), new ApproveEdit(proposed.EditId, _options.AutoApprover), ApprovalPolicy.AutoApprove, now));
        var head = await AppendAsync([new StreamAppend(proposed.EditId, null, events)], ct);
        return new EditCommandResult(proposed.EditId, events.Count, head, events);
    }

    /// <summary>Approves an edit; activates it in the same transaction when its expert already exists.</summary>
    /// <param name="expectedVersion">The stream version the caller saw, or null to use the one just read.</param>
    public Task<EditCommandResult> ApproveAsync(ApproveEdit command, long? expectedVersion = null, CancellationToken ct = default) =>
        ExecuteAsync(command.EditId, expectedVersion, (s, now) => EditDecisions.Handle(s, command, _options.Policy, now, _options.ServedModels), null, ct);

    /// <summary>Rejects an edit that is not active.</summary>
    public Task<EditCommandResult> RejectAsync(RejectEdit command, long? expectedVersion = null, CancellationToken ct = default) =>
        ExecuteAsync(command.EditId, expectedVersion, (s, now) => EditDecisions.Handle(s, command, now, _options.ServedModels), null, ct);

    /// <summary>Records a generated expert; activates the edit in the same transaction when it is approved.</summary>
    /// <remarks>A second worker racing on the same edit gets <see cref="ConcurrencyConflictException"/> or
    /// <see cref="InvalidEditTransitionException"/>: exactly one <c>ExpertGenerated</c> is ever appended.</remarks>
    public Task<EditCommandResult> RecordExpertAsync(RecordExpert command, long? expectedVersion = null, CancellationToken ct = default) =>
        ExecuteAsync(command.EditId, expectedVersion, (s, now) => EditDecisions.Handle(s, command, now),
            token => Blobs.RequireAsync(command.ExpertSha256, "expertSha256", token), ct);

    /// <summary>Records that the edit's expert can never be generated; the edit is Failed and no work is sent for it again.</summary>
    public Task<EditCommandResult> RecordGenerationFailureAsync(RecordGenerationFailure command, long? expectedVersion = null, CancellationToken ct = default) =>
        ExecuteAsync(command.EditId, expectedVersion, (s, now) => EditDecisions.Handle(s, command, now), null, ct);

    /// <summary>Activates an approved edit with an expert (normally done by the ledger itself).</summary>
    public Task<EditCommandResult> ActivateAsync(ActivateEdit command, long? expectedVersion = null, CancellationToken ct = default) =>
        ExecuteAsync(command.EditId, expectedVersion, (s, now) => EditDecisions.Handle(s, command, now), null, ct);

    /// <summary>Retracts an edit; from the returned version on it is not part of the model.</summary>
    public Task<EditCommandResult> RetractAsync(RetractEdit command, long? expectedVersion = null, CancellationToken ct = default) =>
        ExecuteAsync(command.EditId, expectedVersion, (s, now) => EditDecisions.Handle(s, command, now, _options.ServedModels), null, ct);

    private async Task<EditCommandResult> ExecuteAsync(
        Guid editId, long? expectedVersion, Func<Edit, DateTimeOffset, object> decide, Func<CancellationToken, Task>? precondition, CancellationToken ct)
    {
        var (state, version) = await LoadAsync(editId, ct);
        if (expectedVersion is { } expected && expected != version) throw new ConcurrencyConflictException(editId, expected, version);
        var now = _options.Clock.GetUtcNow();
        var first = decide(state, now);
        if (precondition is not null) await precondition(ct);

        var events = new List<object> { first };
        state = Edit.Next(state, first);
        if (EditDecisions.ActivationDue(state, now) is { } activated)
        {
            events.Add(activated);
            state = Edit.Next(state, activated);
        }

        var appends = new List<StreamAppend> { new(editId, version, events) };
        if (events.Any(e => e is EditActivated) && state.Supersedes is { } olderId)
        {
            var (older, olderVersion) = await LoadAsync(olderId, ct);
            // The older edit leaves first: no sequence number inside this transaction has both experts active.
            if (EditDecisions.SupersessionDue(older, editId, now) is { } superseded)
                appends.Insert(0, new StreamAppend(olderId, olderVersion, [superseded]));
        }

        var head = await AppendAsync(appends, ct);
        return new EditCommandResult(editId, version + events.Count, head, appends.SelectMany(a => a.Events).ToArray());
    }

    /// <summary>The decision state of an edit and its stream version.</summary>
    /// <exception cref="EditNotFoundException"/>
    /// <remarks>The state folds only chained events (a row inserted behind the ledger's back never decides
    /// anything); the version is the stream's last, so the next append does not collide with such a row.</remarks>
    public async Task<(Edit Edit, long Version)> LoadAsync(Guid editId, CancellationToken ct = default)
    {
        var (events, version) = await FetchChainedStreamAsync(editId, ct);
        return (Edit.Fold(events.Select(e => e.Data))!, version);
    }
}
