using LiveEdit.Ledger.Audit;

namespace LiveEdit.Inference.Web;

/// <summary>The newest signed checkpoint in this host's <c>Checkpoints:Folder</c>, in words.</summary>
public sealed record CheckpointView(string Text, LedgerCheckpoint? Checkpoint)
{
    public static readonly CheckpointView None = new("No checkpoint read.", null);

    /// <summary>Reads the checkpoint files of the folder and keeps the one with the highest sequence.</summary>
    public static CheckpointView Latest(IConfiguration configuration)
    {
        var folder = configuration["Checkpoints:Folder"];
        if (string.IsNullOrWhiteSpace(folder))
            return new("This host writes no signed checkpoints (Checkpoints:Folder is not set); `liveedit ledger checkpoint` writes them elsewhere.", null);
        if (!Directory.Exists(folder)) return new("No signed checkpoint yet: the checkpoint folder is empty.", null);
        LedgerCheckpoint? newest = null;
        foreach (var file in Directory.EnumerateFiles(folder, "checkpoint-*.json"))
        {
            try
            {
                if (new FileInfo(file).Length > LedgerCheckpoint.MaxFileBytes) continue;
                var checkpoint = LedgerCheckpoint.Parse(File.ReadAllText(file));
                if (newest is null || checkpoint.Sequence > newest.Sequence) newest = checkpoint;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or System.Text.Json.JsonException or CheckpointException or CheckpointFormatException)
            {
                // An unreadable file is verify's to report (`liveedit verify --checkpoints`); the page shows the newest readable one.
            }
        }
        return newest is null
            ? new("No signed checkpoint yet.", null)
            : new($"Last signed checkpoint: version {newest.Sequence}, {LedgerEventView.Time(newest.Time)}, chain hash {newest.ChainHash[..16]}…, key {newest.KeyId[..16]}… (its signature is checked by `liveedit verify --checkpoints`).", newest);
    }
}
