using System.Text;
using PdfSharp.Drawing;
using PdfSharp.Fonts;
using PdfSharp.Pdf;

namespace LiveEdit.Hosting.Audit;

/// <summary>
/// The PDF form of an <see cref="AuditExport"/> (PDFsharp): the blocks of <see cref="AuditReportDocument"/> as text in
/// DejaVu Sans Mono, embedded with a Unicode map so the text can be searched and extracted. The font is read from
/// <see cref="FontFolder"/> (Debian's fonts-dejavu-core).
/// </summary>
public static class AuditReportPdf
{
    /// <summary>The environment variable that names another folder holding DejaVuSansMono.ttf and DejaVuSansMono-Bold.ttf.</summary>
    public const string FontFolderVariable = "LIVEEDIT_PDF_FONT_DIR";

    /// <summary>Where the fonts are read from: <see cref="FontFolderVariable"/>, else Debian's fonts-dejavu-core folder.</summary>
    public static string FontFolder =>
        Environment.GetEnvironmentVariable(FontFolderVariable) is { Length: > 0 } folder ? folder : "/usr/share/fonts/truetype/dejavu";

    private const string Family = "DejaVu Sans Mono";
    private const double FontSize = 8, LineHeight = 10.5, Margin = 40, CharWidth = FontSize * 0.6021; // DejaVu Sans Mono advances 1233/2048 em
    private static readonly Lock FontLock = new();

    /// <summary>Writes the report as PDF to <paramref name="output"/>.</summary>
    /// <exception cref="AuditPdfFontException">The font files are not there.</exception>
    public static void Write(AuditExport export, Stream output)
    {
        UseFonts();
        using var document = new PdfDocument();
        document.Info.Title = $"Audit export of ledger '{export.Schema}', versions {export.Range.FromVersion} to {export.Range.ToVersion}";
        document.Info.Creator = "LiveEdit Ledger";
        var writer = new PageWriter(document);
        foreach (var block in AuditReportDocument.Blocks(export)) writer.Block(block);
        writer.Finish();
        document.Save(output, closeStream: false);
    }

    /// <summary>The report as PDF bytes.</summary>
    public static byte[] Write(AuditExport export)
    {
        using var memory = new MemoryStream();
        Write(export, memory);
        return memory.ToArray();
    }

    private static void UseFonts()
    {
        lock (FontLock)
        {
            foreach (var file in DejaVuMono.Files)
                if (!File.Exists(Path.Combine(FontFolder, file)))
                    throw new AuditPdfFontException($"the PDF font {file} is not in '{FontFolder}': install Debian's fonts-dejavu-core, or set {FontFolderVariable} to a folder that holds it");
            // PDFsharp wants one resolver for the process, set before its first font and then only ever the same instance.
            if (GlobalFontSettings.FontResolver is not DejaVuMono) GlobalFontSettings.FontResolver = DejaVuMono.Instance;
        }
    }

    /// <summary>Lays text out line by line on A4 pages, wrapping at the page's width and starting new pages.</summary>
    private sealed class PageWriter(PdfDocument document)
    {
        private static readonly XPdfFontOptions Unicode = new(PdfFontEncoding.Unicode);
        private readonly XFont _regular = new(Family, FontSize, XFontStyleEx.Regular, Unicode);
        private readonly XFont _bold = new(Family, FontSize, XFontStyleEx.Bold, Unicode);
        private readonly XFont _title = new(Family, FontSize * 1.5, XFontStyleEx.Bold, Unicode);
        private XGraphics? _page;
        private double _y, _height;
        private int _columns, _pages;

        public void Block(ReportBlock block)
        {
            switch (block)
            {
                case ReportAlert alert:
                    Gap();
                    Line(alert.Title, _title, XBrushes.DarkRed, FontSize * 1.5 * 1.3);
                    Wrapped(alert.Text, _bold, XBrushes.DarkRed);
                    foreach (var item in alert.Items) Wrapped("* " + item, _bold, XBrushes.DarkRed, indent: 2);
                    Gap();
                    break;
                case ReportHeading heading:
                    Gap();
                    if (heading.Level == 1) Line(heading.Text, _title, XBrushes.Black, FontSize * 1.5 * 1.3);
                    else Wrapped(heading.Level == 2 ? heading.Text.ToUpperInvariant() : heading.Text, _bold, XBrushes.Black);
                    break;
                case ReportParagraph paragraph:
                    Wrapped(paragraph.Text, _regular, XBrushes.Black);
                    break;
                case ReportFields fields:
                    var width = Math.Min(24, fields.Fields.Max(f => f.Name.Length) + 2);
                    foreach (var (name, value) in fields.Fields) Wrapped((name + ":").PadRight(width) + value, _regular, XBrushes.Black, indent: width);
                    break;
                case ReportTable table:
                    foreach (var row in table.Rows)
                        Wrapped(string.Join("  |  ", table.Headers.Zip(row).Where(c => c.Second.Length > 0).Select(c => $"{c.First}: {c.Second}")), _regular, XBrushes.Black, indent: 4, hanging: true);
                    break;
            }
        }

        public void Finish() => _page?.Dispose();

        private void Gap() => _y += LineHeight * 0.6;

        private void Wrapped(string text, XFont font, XBrush brush, int indent = 0, bool hanging = true)
        {
            EnsurePage();
            var first = true;
            foreach (var line in Wrap(Printable(text), _columns, hanging ? indent : 0))
            {
                Line(first || !hanging ? line : new string(' ', indent) + line, font, brush, LineHeight);
                first = false;
            }
        }

        private void Line(string text, XFont font, XBrush brush, double height)
        {
            EnsurePage();
            if (_y + height > _height - Margin) NewPage();
            _page!.DrawString(text, font, brush, new XRect(Margin, _y, 10_000, height), XStringFormats.TopLeft);
            _y += height;
        }

        private void EnsurePage()
        {
            if (_page is null) NewPage();
        }

        private void NewPage()
        {
            _page?.Dispose();
            var page = document.AddPage();
            page.Size = PdfSharp.PageSize.A4;
            _page = XGraphics.FromPdfPage(page);
            _height = page.Height.Point;
            _columns = (int)((page.Width.Point - 2 * Margin) / CharWidth);
            _y = Margin;
            _pages++;
            _page.DrawString($"page {_pages}", _regular, XBrushes.Gray, new XRect(Margin, _height - Margin + 10, page.Width.Point - 2 * Margin, LineHeight), XStringFormats.TopRight);
        }

        /// <summary>Lines of at most <paramref name="columns"/> characters (the continuation lines leave <paramref name="indent"/> for their indent).</summary>
        private static IEnumerable<string> Wrap(string text, int columns, int indent)
        {
            foreach (var paragraph in text.Split('\n'))
            {
                var rest = paragraph.TrimEnd();
                var width = columns;
                if (rest.Length == 0) yield return "";
                while (rest.Length > 0)
                {
                    if (rest.Length <= width)
                    {
                        yield return rest;
                        break;
                    }
                    var cut = rest.LastIndexOf(' ', width, width / 2);
                    if (cut <= 0) cut = width;
                    yield return rest[..cut];
                    rest = rest[cut..].TrimStart();
                    width = Math.Max(10, columns - indent);
                }
            }
        }

        /// <summary>Control characters (other than new lines) shown as U+FFFD: nothing in the ledger drives the layout.</summary>
        private static string Printable(string text)
        {
            if (!text.Any(c => char.IsControl(c) && c != '\n')) return text;
            var builder = new StringBuilder(text.Length);
            foreach (var c in text) builder.Append(char.IsControl(c) && c != '\n' ? '\uFFFD' : c);
            return builder.ToString();
        }
    }

    /// <summary>DejaVu Sans Mono regular and bold from <see cref="FontFolder"/>.</summary>
    private sealed class DejaVuMono : IFontResolver
    {
        public static readonly DejaVuMono Instance = new();
        public static readonly string[] Files = ["DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf"];

        public FontResolverInfo? ResolveTypeface(string familyName, bool bold, bool italic) =>
            new(bold ? "DejaVuSansMono-Bold" : "DejaVuSansMono");

        public byte[]? GetFont(string faceName) => File.ReadAllBytes(Path.Combine(FontFolder, faceName + ".ttf"));
    }
}

/// <summary>The PDF's font files are missing.</summary>
public sealed class AuditPdfFontException(string message) : Exception(message);
