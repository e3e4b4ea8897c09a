using System.Collections.Concurrent;
using JasperFx.Events;
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
        _known[proposed.EditId] = new KnownEdit(events.Aggregate((Edit?)null, Edit.Next)!, events.Count, proposed.ProposedAt);
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
        // First from what this ledger remembers of the edit; a remembered state may be behind the stream (another process
        // appended to it), never ahead, and every append names the version it decided at, so a stale state shows up as a
        // conflict or a refused command: then the edit is read again from its chained rows and decided once more.
        // A writer that lost a race to another append still gets the conflict when the edit, read again, refuses the command.
        if (!_known.TryGetValue(editId, out var known))
            return await ExecuteAsync(editId, await ReadKnownAsync(editId, ct), expectedVersion, decide, precondition, ct);
        ConcurrencyConflictException? conflict;
        try
        {
            return await ExecuteAsync(editId, known, expectedVersion, decide, precondition, ct);
        }
        catch (LedgerException e) when (e is not ChainRefusedException)
        {
            _known.TryRemove(editId, out _);
            conflict = e as ConcurrencyConflictException;
        }
        try
        {
            return await ExecuteAsync(editId, await ReadKnownAsync(editId, ct), expectedVersion, decide, precondition, ct);
        }
        catch (InvalidEditTransitionException) when (conflict is not null)
        {
            throw conflict;
        }
    }

    private async Task<EditCommandResult> ExecuteAsync(Guid editId, KnownEdit known, long? expectedVersion, Func<Edit, DateTimeOffset, object> decide,
        Func<CancellationToken, Task>? precondition, CancellationToken ct)
    {
        var (state, version, proposedAt) = known;
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
        KnownEdit? olderAfter = null;
        if (events.Any(e => e is EditActivated) && state.Supersedes is { } olderId)
        {
            var older = await ReadKnownAsync(olderId, ct); // read, not remembered: supersessions are rare and the older edit is another stream
            // The older edit leaves first: no sequence number inside this transaction has both experts active.
            if (EditDecisions.SupersessionDue(older.State, editId, now) is { } superseded)
            {
                appends.Insert(0, new StreamAppend(olderId, older.Version, [superseded]));
                olderAfter = older with { State = Edit.Next(older.State, superseded)!, Version = older.Version + 1 };
            }
        }

        long head;
        try
        {
            head = await AppendAsync(appends, ct);
        }
        catch (ConcurrencyConflictException) when (olderAfter is not null)
        {
            _known.TryRemove(olderAfter.State.Id, out _); // the older edit's remembered state may be the stale one
            throw;
        }
        Remember(editId, new KnownEdit(state, version + events.Count, proposedAt));
        if (olderAfter is not null) Remember(olderAfter.State.Id, olderAfter);
        if (events.OfType<EditActivated>().FirstOrDefault() is { } activation)
            LedgerTelemetry.Activated(proposedAt, activation, first);
        return new EditCommandResult(editId, version + events.Count, head, appends.SelectMany(a => a.Events).ToArray());
    }

    /// <summary>The decision state of an edit and its stream version.</summary>
    /// <exception cref="EditNotFoundException"/>
    /// <remarks>The state folds only chained events (a row inserted behind the ledger's back never decides
    /// anything); the version is the stream's last, so the next append does not collide with such a row.</remarks>
    public async Task<(Edit Edit, long Version)> LoadAsync(Guid editId, CancellationToken ct = default)
    {
        var known = await ReadKnownAsync(editId, ct);
        return (known.State, known.Version);
    }

    /// <summary>An edit's decision state as its chained events fold it, its stream version and when it was proposed.</summary>
    private sealed record KnownEdit(Edit State, long Version, DateTimeOffset ProposedAt);

    /// <summary>Most edits remembered for commands; past it the memory starts over (each edit is then read once more).</summary>
    internal const int MaxKnownEdits = 10_000;

    // What the ledger knows of each edit it read or appended to: the state folded from authenticated rows, or from the
    // events it appended itself once they were chained and committed. Commands decide from it without reading the stream.
    private readonly ConcurrentDictionary<Guid, KnownEdit> _known = new();

    /// <summary>Edits whose decision state this ledger remembers (for tests).</summary>
    internal int KnownEdits => _known.Count;

    private async Task<KnownEdit> ReadKnownAsync(Guid editId, CancellationToken ct)
    {
        var (events, version) = await FetchChainedStreamAsync(editId, ct);
        return Known(editId, events, version);
    }

    /// <summary>The decision state <paramref name="events"/> (an edit's chained events, the proposal first) fold to, remembered.</summary>
    private KnownEdit Known(Guid editId, IReadOnlyList<IEvent> events, long version)
    {
        var known = new KnownEdit(Edit.Fold(events.Select(e => e.Data))!, version, ((EditProposed)events[0].Data).ProposedAt);
        Remember(editId, known);
        return known;
    }

    /// <summary>Keeps <paramref name="known"/> unless a later version of the edit is remembered already.</summary>
    private void Remember(Guid editId, KnownEdit known)
    {
        if (_known.Count >= MaxKnownEdits) _known.Clear();
        _known.AddOrUpdate(editId, known, (_, current) => current.Version > known.Version ? current : known);
    }
}
