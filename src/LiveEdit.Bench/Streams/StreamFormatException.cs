namespace LiveEdit.Bench.Streams;

/// <summary>A stream or import file that cannot be read; names the file and the line (or record) at fault.</summary>
public sealed class StreamFormatException(string file, int? line, string problem, Exception? inner = null)
    : Exception(line is { } l ? $"{file}, line {l}: {problem}" : $"{file}: {problem}", inner)
{
    /// <summary>The file at fault.</summary>
    public string File { get; } = file;

    /// <summary>1-based line number, when the problem has one.</summary>
    public int? Line { get; } = line;

    /// <summary>What is wrong, without the location.</summary>
    public string Problem { get; } = problem;
}
