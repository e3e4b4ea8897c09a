namespace LiveEdit.Bench.Import;

/// <summary>Data sets whose JSON layout <see cref="MmEditImporter"/> reads.</summary>
public enum ExternalLayout
{
    /// <summary>MMEdit E-VQA (visual question answering edits).</summary>
    EVqa,

    /// <summary>MMEdit E-IC (image captioning edits).</summary>
    EIc,

    /// <summary>VLKEB.</summary>
    Vlkeb,
}
