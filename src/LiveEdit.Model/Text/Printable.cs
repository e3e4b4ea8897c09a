using System.Globalization;
using System.Text;

namespace LiveEdit.Model.Text;

/// <summary>Text that is safe to show: control characters and terminal escapes made visible, length bounded.</summary>
public static class Printable
{
    /// <summary>
    /// <paramref name="text"/> with every control character (C0, DEL, C1, and line/paragraph separators) written as
    /// <c>\uXXXX</c>, so a stored ESC sequence is shown, never obeyed; at most <paramref name="max"/> characters of
    /// the input, then an ellipsis.
    /// </summary>
    public static string Escape(string? text, int max = int.MaxValue)
    {
        if (string.IsNullOrEmpty(text)) return text ?? "";
        var builder = new StringBuilder(Math.Min(text.Length, max) + 8);
        var taken = 0;
        foreach (var c in text)
        {
            if (taken++ >= max)
            {
                builder.Append('…');
                break;
            }
            if (IsControl(c)) builder.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
            else builder.Append(c);
        }
        return builder.ToString();
    }

    /// <summary>A short quoted excerpt for an error message.</summary>
    public static string Excerpt(string? text, int max = 40) => Escape(text, max);

    /// <summary>Whether the character is one a terminal or log would act on rather than print.</summary>
    public static bool IsControl(char c) => char.IsControl(c) || c is '\u2028' or '\u2029';

    /// <summary>The index of the first control character in <paramref name="text"/> not in <paramref name="allowed"/>; −1 when none.</summary>
    public static int FirstControl(string text, string allowed = "")
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (IsControl(text[i]) && !allowed.Contains(text[i])) return i;
        }
        return -1;
    }
}
