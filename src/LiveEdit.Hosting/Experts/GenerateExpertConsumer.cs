using System.Diagnostics;
using LiveEdit.Contracts;
using LiveEdit.Hosting.Serving;
using LiveEdit.Hosting.Storage;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Edits;
using LiveEdit.Ledger.Errors;
using LiveEdit.Ledger.Versions;
using LiveEdit.Model.Images;
using LiveEdit.Model.Vlm;
using MassTransit;
using Microsoft.Extensions.Logging;

namespace LiveEdit.Hosting.Experts;

/// <summary>
/// Generates the expert of one edit: reads the edit and its image from the ledger, runs the generator, stores the
/// expert blob and appends <c>ExpertGenerated</c> (the ledger activates the edit in the same transaction when it
/// is already approved). Idempotent: an edit that already has its expert, or can no longer use one, is acked and
/// left alone; two workers racing on one edit record one expert (the loser's append fails on the stream version).
/// </summary>
public sealed class GenerateExpertConsumer(EditLedger ledger, ModelRuntime runtime, WorkerIdentity worker, FaultInjection faults, ILogger<GenerateExpertConsumer> log,
    PregeneratedExperts? pregenerated = null)
    : IConsumer<GenerateExpert>
{
    public async Task Consume(ConsumeContext<GenerateExpert> context)
    {
        var id = context.Message.EditId;
        var ct = context.CancellationToken;
        // A child of MassTransit's consume span, which continues the trace the message carries.
        using var span = Telemetry.LiveEditTelemetry.StartGeneration(id, worker.Id);
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
        // Image hash, prompt and target come from the chained EditProposed event (folded into Edit), never from a
        // projection table that no hash covers.
        if (runtime.CheckEditText(edit.Prompt, edit.Target) is { } problem)
        {
            await RecordFailureAsync(id, version, problem.Code, problem.Message, ct);
            return;
        }
        // An expert made ahead for exactly this image (its SHA-256), prompt and target needs no image: it was made from those bytes.
        var made = pregenerated?.Take(edit.ImageSha256, edit.Prompt, edit.Target);
        RgbImage? image = null;
        try
        {
            if (made is null) image = runtime.ReadImage(await ledger.Blobs.GetWithRetriesAsync(edit.ImageSha256, ct), $"image {edit.ImageSha256[..12]}");
        }
        catch (UnreadableImageException e)
        {
            await RecordFailureAsync(id, version, "unreadable_image", LiveEdit.Model.Text.Printable.Excerpt(e.Message, 200), ct);
            return;
        }
        catch (BlobCorruptedException)
        {
            await RecordFailureAsync(id, version, "image_blob_corrupt", $"the stored image {edit.ImageSha256[..12]} does not match its SHA-256", ct);
            return;
        }
        catch (BlobNotFoundException)
        {
            await RecordFailureAsync(id, version, "image_blob_missing", $"the image {edit.ImageSha256[..12]} is not in the blob store", ct);
            return;
        }
        var clock = Stopwatch.StartNew();
        var expert = made is not null
            ? await made.WaitAsync(ct)
            : await runtime.GenerateAsync(image!, edit.Prompt, edit.Target, ct);
        var elapsed = clock.ElapsedMilliseconds;
        var expertSha = await ledger.Blobs.PutAsync(expert.ToBytes(), ct);
        if (faults.DelayBeforeRecord > TimeSpan.Zero) await Task.Delay(faults.DelayBeforeRecord, ct);

        var record = new RecordExpert(id, expertSha, expert.GeneratorSha256, expert.BaseSha256,
            // Away from the CPU's byte-exact setting the worker id carries the device, which verification reads.
            expert.Rank, expert.HiddenSize, LiveEdit.Model.Editor.ExpertReproduction.RecordedWorkerId(worker.Id, runtime.Model), elapsed, expert.KeyRows, expert.ModuleDim, expert.VisualKey.ToArray());
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
        pregenerated?.Recorded(id, result.Events.Any(e => e is EditActivated) ? result.LedgerVersion : null);
        span?.SetTag(Telemetry.LiveEditTelemetry.ExpertTag, expertSha);
        log.LogInformation("Expert {Expert} for edit {EditId} in {Ms} ms by {Worker}", expertSha[..12], id, elapsed, worker.Id);

    }

    /// <summary>
    /// A permanent error: no retry can cure it, so it is recorded in the ledger (the edit becomes Failed, with the reason)
    /// and the message is acked. A lost race (the edit moved meanwhile) is left to the retry, which reads the edit again.
    /// </summary>
    private async Task RecordFailureAsync(Guid id, long version, string code, string reason, CancellationToken ct)
    {
        await ledger.RecordGenerationFailureAsync(new RecordGenerationFailure(id, code, reason, worker.Id), expectedVersion: version, ct);
        log.LogWarning("Edit {EditId} can never get an expert ({Code}: {Reason}); recorded as failed by {Worker}", id, code, reason, worker.Id);
    }

    /// <summary>Already has its expert, or can no longer use one.</summary>
    private static bool NeedsNoExpert(Edit edit) =>
        edit.HasExpert || edit.IsFinal || edit.Status is EditStatus.Superseded or EditStatus.Failed;
}
