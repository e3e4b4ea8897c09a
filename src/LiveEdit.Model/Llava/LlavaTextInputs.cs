namespace LiveEdit.Model.Llava;

/// <summary>Checks that a folder's tokenizer, chat template and image processor fit the model its config.json describes.</summary>
public static class LlavaTextInputs
{
    /// <summary>
    /// The tokenizer, image processor and chat template of the checkpoint in <paramref name="folder"/>, checked against
    /// <paramref name="config"/> with <see cref="Verify"/>. Throws <see cref="LlavaFileException"/> naming the file at fault.
    /// </summary>
    public static (ITextTokenizer Tokenizer, IImageProcessor Processor, LlavaChatTemplate Template) Load(string folder, LlavaConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var tokenizer = LlavaTokenizers.Load(folder);
        var processor = LlavaImageProcessor.Load(folder);
        var template = LlavaChatTemplate.For(folder, config);
        Verify(config, tokenizer, processor, template, folder);
        return (tokenizer, processor, template);
    }

    /// <summary>
    /// Every mismatch between the inputs and <paramref name="config"/>: the image placeholder must encode to exactly
    /// <c>image_token_index</c>, every id the tokenizer can produce (and EOS, PAD) must have an embedding row, and the
    /// processor's output must be the tower's <c>image_size</c>. Throws <see cref="LlavaFileException"/> for
    /// <paramref name="folder"/> listing them all; returns when there are none.
    /// </summary>
    public static void Verify(LlavaConfig config, ITextTokenizer tokenizer, IImageProcessor processor, LlavaChatTemplate template, string folder)
    {
        ArgumentNullException.ThrowIfNull(config);
        ArgumentNullException.ThrowIfNull(tokenizer);
        ArgumentNullException.ThrowIfNull(processor);
        ArgumentNullException.ThrowIfNull(template);
        var problems = new List<string>();
        var image = tokenizer.Encode(template.ImageToken, addBos: false);
        if (image.Count != 1 || image[0] != config.ImageTokenIndex)
            problems.Add($"{template.ImageToken} is tokenized as [{string.Join(", ", image)}] but config.json's image_token_index is {config.ImageTokenIndex}");
        var rows = config.Text.VocabSize;
        if (tokenizer.VocabSize > rows) problems.Add($"the tokenizer has {tokenizer.VocabSize} ids but the embedding has {rows} rows (text_config.vocab_size)");
        if (tokenizer.EosId < 0 || tokenizer.EosId >= rows) problems.Add($"the end-of-sequence id {tokenizer.EosId} has no embedding row");
        if (tokenizer.PadId < 0 || tokenizer.PadId >= rows) problems.Add($"the padding id {tokenizer.PadId} has no embedding row");
        if (tokenizer.BosId is { } bos && (bos < 0 || bos >= rows)) problems.Add($"the beginning-of-sequence id {bos} has no embedding row");
        if (processor.OutputSize != config.Vision.ImageSize)
            problems.Add($"preprocessor_config.json gives {processor.OutputSize}×{processor.OutputSize} images but vision_config.image_size is {config.Vision.ImageSize}");
        if (problems.Count > 0) throw new LlavaFileException(folder, "the tokenizer or image processor does not fit config.json: " + string.Join("; ", problems));
    }
}
