using System.Diagnostics;
using LiveEdit.Contracts;
using LiveEdit.Hosting.Serving;
using LiveEdit.Hosting.Startup;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Edits;
using LiveEdit.Ledger.Errors;
using LiveEdit.Ledger.Versions;
using MassTransit;
using Microsoft.Extensions.Logging;

namespace LiveEdit.Hosting.Experts;

/// <summary>
/// Generates the expert of one edit: reads the edit and its image from the ledger, runs the generator, stores the
/// expert blob and appends <c>ExpertGenerated</c> (the ledger activates the edit in the same transaction when it
/// is already approved). Idempotent: an edit that already has its expert, or can no longer use one, is acked and
/// left alone; two workers racing on one edit record one expert (the loser's append fails on the stream version).
/// </summary>
public sealed class GenerateExpertConsumer(EditLedger ledger, ModelRuntime runtime, WorkerIdentity worker, FaultInjection faults, ILogger<GenerateExpertConsumer> log)
    : IConsumer<GenerateExpert>
{
    public async Task Consume(ConsumeContext<GenerateExpert> context)
    {
        var id = context.Message.EditId;
        var ct = context.CancellationToken;
        Edit edit;
        long version;
        try
        {
            (edit, version) = await ledger.LoadAsync(id, ct);
        }
        catch (EditNotFoundException)
        {
            log.LogWarning("GenerateExpert for unknown edit {EditId}: nothing to do", id);
            return;
        }
        if (NeedsNoExpert(edit))
        {
            log.LogInformation("Edit {EditId} needs no expert ({Status}, expert {Expert}); acked", id, edit.Status, edit.ExpertSha256 ?? "none");
            return;
        }

        log.LogInformation("Generating expert for edit {EditId} on {Worker}", id, worker.Id);
        var summary = await ledger.GetEditAsync(id, ct);
        var image = runtime.ReadImage(await BlobReads.GetAsync(ledger, summary.ImageSha256, ct), $"image {summary.ImageSha256[..12]}");
        var clock = Stopwatch.StartNew();
        var expert = await runtime.GenerateAsync(image, summary.Prompt, summary.Target, ct);
        var elapsed = clock.ElapsedMilliseconds;
        var expertSha = await ledger.Blobs.PutAsync(expert.ToBytes(), ct);
        if (faults.DelayBeforeRecord > TimeSpan.Zero) await Task.Delay(faults.DelayBeforeRecord, ct);

        var record = new RecordExpert(id, expertSha, expert.GeneratorSha256, expert.BaseSha256,
            expert.Rank, expert.HiddenSize, worker.Id, elapsed, expert.KeyRows, expert.ModuleDim, expert.VisualKey.ToArray());
        EditCommandResult? result = null;
        for (var attempt = 0; result is null; attempt++)
        {
            try
            {
                result = await ledger.RecordExpertAsync(record, expectedVersion: version, ct);
            }
            catch (LedgerException e) when (e is ConcurrencyConflictException or InvalidEditTransitionException)
            {
                // The edit moved while its expert was made (an approval, another worker, a retraction). The expert is a
                // pure function of the edit, so it stays valid: read the edit again and record it on the new version.
                (edit, version) = await ledger.LoadAsync(id, ct);
                if (NeedsNoExpert(edit))
                {
                    log.LogInformation("Edit {EditId} changed while its expert was made ({Reason}); the ledger already has what it needs", id, e.Code);
                    return;
                }
                if (attempt >= 5) throw;
            }
        }
        log.LogInformation("Expert {Expert} for edit {EditId} in {Ms} ms by {Worker}", expertSha[..12], id, elapsed, worker.Id);

        foreach (var @event in result.Events)
        {
            if (@event is EditActivated)
                await context.Publish(new ExpertActivated(id, expertSha, result.LedgerVersion), ct);
        }
    }

    /// <summary>Already has its expert, or can no longer use one.</summary>
    private static bool NeedsNoExpert(Edit edit) => edit.HasExpert || edit.IsFinal || edit.Status == EditStatus.Superseded;
}
