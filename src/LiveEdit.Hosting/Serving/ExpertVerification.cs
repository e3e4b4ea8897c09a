using LiveEdit.Hosting.Storage;
using LiveEdit.Ledger;
using LiveEdit.Ledger.Errors;
using LiveEdit.Model.Editor;

namespace LiveEdit.Hosting.Serving;

/// <summary>One edit whose recorded expert is not the one its edit makes now.</summary>
/// <param name="WorkerId">The worker that recorded the expert.</param>
public sealed record ExpertMismatch(Guid EditId, string RecordedSha256, string RegeneratedSha256, string? WorkerId);

/// <summary>A blob an edit needs whose stored bytes are missing or do not hash to the recorded SHA-256.</summary>
/// <param name="Role">"expert" or "image".</param>
/// <param name="Problem">"missing" or "corrupt".</param>
/// <param name="ActualSha256">SHA-256 of the stored bytes when corrupt.</param>
public sealed record BrokenBlob(Guid EditId, string Role, string Sha256, string Problem, string? ActualSha256);

/// <summary>
/// What <see cref="ExpertVerification.VerifyAsync"/> found: experts re-generated bit for bit, experts that differ (each
/// named), experts made by another generator (not checkable with this runtime's editor), and blobs that are missing or
/// corrupt (each named with its edit).
/// </summary>
public sealed record ExpertVerificationReport(int Identical, IReadOnlyList<ExpertMismatch> Different, int OtherGenerator, int Threads,
    IReadOnlyList<BrokenBlob> BrokenBlobs)
{
    /// <summary>
    /// Experts whose bytes differ from their re-generation but that were made, or re-generated, on an accelerator or in
    /// half precision and agree within its tolerance (<see cref="LiveEdit.Model.Editor.ExpertReproduction"/>); on the CPU in float32 this is 0.
    /// </summary>
    public int WithinTolerance { get; init; }

    /// <summary>No recorded expert differs from its re-generation.</summary>
    public bool AllIdentical => Different.Count == 0;

    /// <summary>No expert differs and every stored blob hashes to its recorded SHA-256.</summary>
    public bool AllIntact => Different.Count == 0 && BrokenBlobs.Count == 0;
}

/// <summary>
/// Checks every recorded expert against the chained events: the stored expert blob is read and hashed against the
/// SHA-256 in <c>ExpertGenerated</c>, and the expert is re-generated from the image, prompt and target of the chained
/// <c>EditProposed</c> (never from a projection row) and compared by SHA-256 (docs/determinism.md: reproducibility across
/// machines is checked, not assumed). Reads only; changes nothing.
/// </summary>
public static class ExpertVerification
{
    /// <param name="progress">Called with (edits checked, edits in all) after each edit.</param>
    public static async Task<ExpertVerificationReport> VerifyAsync(EditLedger ledger, ModelRuntime runtime, Action<int, int>? progress = null,
        CancellationToken ct = default)
    {
        var recorded = await ledger.ListRecordedExpertsAsync(ct);
        int identical = 0, otherGenerator = 0, done = 0, withinTolerance = 0;
        var verifyingTag = ExpertReproduction.DeviceTag(runtime.Model);
        var different = new List<ExpertMismatch>();
        var broken = new List<BrokenBlob>();
        foreach (var generated in recorded)
        {
            var (edit, _) = await ledger.LoadAsync(generated.EditId, ct);
            // A broken expert blob is named; re-generation below still says whether the record itself is right.
            var recordedBytes = await ReadAsync(ledger, edit.Id, "expert", generated.ExpertSha256, broken, ct);
            // An expert recorded under a verified identity alias (the id the generator had while the routing policy was
            // part of it) is re-generated and stamped with that id: the same bytes as then.
            if (!runtime.Editor.Answers(generated.GeneratorSha256))
            {
                otherGenerator++;
            }
            else if (await ReadAsync(ledger, edit.Id, "image", edit.ImageSha256, broken, ct) is { } imageBytes)
            {
                var image = runtime.ReadImage(imageBytes, $"image {edit.ImageSha256[..12]}");
                var expert = await runtime.GenerateAsync(image, edit.Prompt, edit.Target, ct);
                if (runtime.Editor.AliasOf(generated.GeneratorSha256) is { } alias) expert = expert.StampedFor(alias.GeneratorSha256);
                if (string.Equals(expert.Sha256, generated.ExpertSha256, StringComparison.OrdinalIgnoreCase)) identical++;
                else if (recordedBytes is not null && Reproduced(recordedBytes, expert, generated.WorkerId, verifyingTag) == Reproduction.WithinTolerance) withinTolerance++;
                else different.Add(new ExpertMismatch(edit.Id, generated.ExpertSha256, expert.Sha256, generated.WorkerId));
            }
            progress?.Invoke(++done, recorded.Count);
        }
        return new ExpertVerificationReport(identical, different, otherGenerator, runtime.Threads, broken) { WithinTolerance = withinTolerance };
    }

    // Byte-exact on the CPU; within the device's tolerance when either side ran on an accelerator or in half precision.
    private static Reproduction Reproduced(byte[] recordedBytes, Expert regenerated, string? workerId, string? verifyingTag)
    {
        Expert recorded;
        try
        {
            recorded = Expert.FromBytes(recordedBytes);
        }
        catch (Exception e) when (e is InvalidDataException or ArgumentException)
        {
            return Reproduction.Different;
        }
        return ExpertReproduction.Compare(recorded, regenerated, ExpertReproduction.DeviceTagOf(workerId), verifyingTag);
    }

    private static async Task<byte[]?> ReadAsync(EditLedger ledger, Guid editId, string role, string sha256, List<BrokenBlob> broken, CancellationToken ct)
    {
        try
        {
            return await ledger.Blobs.GetWithRetriesAsync(sha256, ct); // re-hashes the stored bytes
        }
        catch (BlobNotFoundException)
        {
            broken.Add(new BrokenBlob(editId, role, sha256, "missing", null));
        }
        catch (BlobCorruptedException e)
        {
            broken.Add(new BrokenBlob(editId, role, sha256, "corrupt", e.ActualSha256));
        }
        return null;
    }
}
