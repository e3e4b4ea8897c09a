using System.Net;
using System.Text;

namespace LiveEdit.Hosting.Audit;

/// <summary>
/// The HTML form of an <see cref="AuditExport"/>: one self-contained page (inline style, no script, no external request;
/// a Content-Security-Policy that forbids both), every value HTML-encoded so nothing in the ledger is ever markup.
/// </summary>
public static class AuditReportHtml
{
    private const string Style = """
        body{font-family:system-ui,-apple-system,"DejaVu Sans",sans-serif;margin:2rem;max-width:80rem;color:#111;line-height:1.4}
        h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #999}h3{font-size:1.05rem;margin-top:1.5rem}
        .failed{border:4px solid #a00;background:#fee;padding:1rem;margin-bottom:1.5rem}.failed h1{color:#a00;margin-top:0}
        dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dt{font-weight:bold}dd{margin:0;overflow-wrap:anywhere;white-space:pre-wrap}
        table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{border:1px solid #999;padding:.25rem .4rem;text-align:left;vertical-align:top;overflow-wrap:anywhere;white-space:pre-wrap}
        th{background:#eee;white-space:nowrap;overflow-wrap:normal}
        @media print{body{margin:0}}
        """;

    /// <summary>The page as text.</summary>
    public static string Write(AuditExport export)
    {
        var html = new StringBuilder(64 * 1024 + export.Edits.Count * 2048);
        html.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
            .Append("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n")
            .Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
        Text(html, $"{(export.Status == AuditStatus.Failed ? "FAILED: " : "")}Audit export of ledger '{export.Schema}', versions {export.Range.FromVersion} to {export.Range.ToVersion}");
        html.Append("</title>\n<style>").Append(Style).Append("</style>\n</head>\n<body>\n<main>\n");
        foreach (var block in AuditReportDocument.Blocks(export)) Block(html, block);
        html.Append("</main>\n</body>\n</html>\n");
        return html.ToString();
    }

    private static void Block(StringBuilder html, ReportBlock block)
    {
        switch (block)
        {
            case ReportAlert alert:
                html.Append("<section class=\"failed\" role=\"alert\" id=\"failures\">\n<h1>");
                Text(html, alert.Title);
                html.Append("</h1>\n<p>");
                Text(html, alert.Text);
                html.Append("</p>\n<ul>\n");
                foreach (var item in alert.Items)
                {
                    html.Append("<li>");
                    Text(html, item);
                    html.Append("</li>\n");
                }
                html.Append("</ul>\n</section>\n");
                break;
            case ReportHeading heading:
                var tag = $"h{Math.Clamp(heading.Level, 1, 3)}";
                html.Append('<').Append(tag).Append('>');
                Text(html, heading.Text);
                html.Append("</").Append(tag).Append(">\n");
                break;
            case ReportParagraph paragraph:
                html.Append("<p>");
                Text(html, paragraph.Text);
                html.Append("</p>\n");
                break;
            case ReportFields fields:
                html.Append("<dl>\n");
                foreach (var (name, value) in fields.Fields)
                {
                    html.Append("<dt>");
                    Text(html, name);
                    html.Append("</dt><dd>");
                    Text(html, value);
                    html.Append("</dd>\n");
                }
                html.Append("</dl>\n");
                break;
            case ReportTable table:
                html.Append("<table>\n<thead><tr>");
                foreach (var header in table.Headers)
                {
                    html.Append("<th scope=\"col\">");
                    Text(html, header);
                    html.Append("</th>");
                }
                html.Append("</tr></thead>\n<tbody>\n");
                foreach (var row in table.Rows)
                {
                    html.Append("<tr>");
                    foreach (var cell in row)
                    {
                        html.Append("<td>");
                        Text(html, cell);
                        html.Append("</td>");
                    }
                    html.Append("</tr>\n");
                }
                html.Append("</tbody>\n</table>\n");
                break;
        }
    }

    private static void Text(StringBuilder html, string text) => html.Append(WebUtility.HtmlEncode(text));
}
