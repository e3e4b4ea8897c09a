using LiveEdit.Ledger.Edits;
using LiveEdit.Ledger.Errors;
using Npgsql;

namespace LiveEdit.Ledger;

/// <summary>One edit for <see cref="EditLedger.AppendActiveEditsAsync"/>: its proposal and the expert generated for it.</summary>
/// <param name="Proposal">The proposal; <see cref="ProposeEdit.Supersedes"/> must be null.</param>
/// <param name="Expert">The generated expert, for the same edit id.</param>
public sealed record ActiveEditLifecycle(ProposeEdit Proposal, RecordExpert Expert);

// Bulk: whole lifecycles of edits appended through the ordinary append path, many per transaction, for building
// large ledgers (fixtures, measurements) quickly.
public sealed partial class EditLedger
{
    /// <summary>Lifecycles per append (one transaction, one chain extension) in <see cref="AppendActiveEditsAsync"/>.</summary>
    public const int ActiveEditsPerAppend = 250;

    /// <summary>
    /// Appends, for each of <paramref name="edits"/> in order, its whole life up to activation: proposed, approved by
    /// <paramref name="approvedBy"/>, expert generated, activated. Each event is decided by <see cref="EditDecisions"/>
    /// exactly as the single commands decide it, and written through the ordinary append path (Marten, the lock, the
    /// hash chain), <see cref="ActiveEditsPerAppend"/> edits per transaction. Returns the ledger version after the last.
    /// </summary>
    /// <remarks>Every image and expert blob must be in the blob store. A refused edit (bad input, an edit id that exists)
    /// stops the call with its exception; the transactions before it stay, the one it was in writes nothing.</remarks>
    /// <exception cref="InvalidEditInputException"/>
    /// <exception cref="FourEyesViolationException"/>
    /// <exception cref="EditAlreadyExistsException"/>
    public async Task<long> AppendActiveEditsAsync(IReadOnlyList<ActiveEditLifecycle> edits, string approvedBy, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(edits);
        long head = 0;
        for (var start = 0; start < edits.Count; start += ActiveEditsPerAppend)
        {
            var chunk = edits.Skip(start).Take(ActiveEditsPerAppend).ToList();
            await RequireBlobsAsync(chunk.SelectMany(e => new[] { (e.Proposal.ImageSha256, "imageSha256"), (e.Expert.ExpertSha256, "expertSha256") }).ToList(), ct);
            var now = _options.Clock.GetUtcNow();
            var appends = chunk.Select(e => new StreamAppend(e.Proposal.EditId, null, Lifecycle(e, approvedBy, now))).ToList();
            head = await AppendAsync(appends, ct);
        }
        return head;
    }

    private IReadOnlyList<object> Lifecycle(ActiveEditLifecycle e, string approvedBy, DateTimeOffset now)
    {
        if (e.Proposal.Supersedes is not null) throw new InvalidEditInputException("supersedes", "edits appended in bulk supersede nothing.");
        if (e.Expert.EditId != e.Proposal.EditId) throw new InvalidEditInputException("editId", "the expert must be for the proposed edit.");
        var proposed = EditDecisions.Handle(e.Proposal, now);
        var state = Edit.Create(proposed);
        var approved = EditDecisions.Handle(state, new ApproveEdit(proposed.EditId, approvedBy), _options.Policy, now);
        state = Edit.Next(state, approved);
        var generated = EditDecisions.Handle(state, e.Expert, now);
        state = Edit.Next(state, generated);
        var activated = EditDecisions.ActivationDue(state, now)
            ?? throw new InvalidOperationException($"edit {proposed.EditId} is not due for activation after approval and expert");
        return [proposed, approved, generated, activated];
    }

    private async Task RequireBlobsAsync(IReadOnlyList<(string Sha256, string Field)> blobs, CancellationToken ct)
    {
        foreach (var (sha, field) in blobs) Sha256Hex.Require(sha, field);
        await using var connection = Connect();
        await connection.OpenAsync(ct);
        await using var command = new NpgsqlCommand($"select s from unnest(@s) s where not exists (select 1 from {_schema}.ledger_blobs b where b.sha256 = s)", connection);
        command.Parameters.AddWithValue("s", blobs.Select(b => b.Sha256).Distinct().ToArray());
        if (await command.ExecuteScalarAsync(ct) is string missing)
            throw new BlobNotFoundException(missing);
    }
}
