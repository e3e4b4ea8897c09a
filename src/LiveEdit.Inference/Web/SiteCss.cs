namespace LiveEdit.Inference.Web;

/// <summary>The UI's one style sheet, served by the host at <c>/ui/site.css</c> (no CDN, no script).</summary>
internal static class SiteCss
{
    public const string Text = """
        :root { --ink: #1b1b1b; --muted: #555; --line: #c8c8c8; --focus: #0b57d0; --bad: #8a1111; --good: #0d5b24; --bg: #fff; --soft: #f3f4f6; }
        * { box-sizing: border-box; }
        body { margin: 0; font: 15px/1.45 "DejaVu Sans", system-ui, sans-serif; color: var(--ink); background: var(--bg); }
        a { color: #0b4aa8; }
        a:focus, button:focus, input:focus, select:focus, textarea:focus { outline: 3px solid var(--focus); outline-offset: 2px; }
        .skip { position: absolute; left: -999px; }
        .skip:focus { left: 8px; top: 8px; background: #fff; padding: 4px 8px; z-index: 10; }
        header.top { display: flex; flex-wrap: wrap; gap: 4px 18px; align-items: center; padding: 8px 20px; border-bottom: 1px solid var(--line); background: var(--soft); }
        header.top .brand { font-weight: bold; margin-right: 12px; }
        header.top nav ul { display: flex; flex-wrap: wrap; gap: 4px 14px; list-style: none; margin: 0; padding: 0; }
        header.top .who { margin-left: auto; color: var(--muted); }
        header.top form { display: inline; }
        main { padding: 14px 20px 40px; max-width: 1280px; }
        h1 { font-size: 1.45em; margin: 6px 0 12px; }
        h2 { font-size: 1.15em; margin: 22px 0 8px; }
        table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; }
        th, td { text-align: left; vertical-align: top; padding: 5px 8px; border-bottom: 1px solid var(--line); overflow-wrap: anywhere; }
        td.sig { min-width: 12em; }
        th { background: var(--soft); }
        td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
        code, .hash { font-family: "DejaVu Sans Mono", monospace; font-size: 0.9em; overflow-wrap: anywhere; }
        form.filters, form.stack { display: flex; flex-wrap: wrap; gap: 8px 14px; align-items: flex-end; margin: 8px 0 14px; }
        form.stack { flex-direction: column; align-items: stretch; max-width: 560px; }
        label { display: flex; flex-direction: column; font-weight: bold; font-size: 0.92em; gap: 2px; }
        input, select, textarea, button { font: inherit; font-weight: normal; padding: 4px 6px; }
        form.stack button { align-self: flex-start; }
        td.when, td.id { white-space: nowrap; }
        button { cursor: pointer; border: 1px solid #444; background: #fff; border-radius: 3px; padding: 4px 12px; }
        button[disabled] { cursor: not-allowed; color: #777; border-color: #aaa; }
        .status { font-weight: bold; padding: 1px 6px; border: 1px solid currentColor; border-radius: 3px; white-space: nowrap; }
        .status-Active, .ok { color: var(--good); }
        .status-Rejected, .status-Retracted, .status-Failed, .bad { color: var(--bad); }
        .error { border: 2px solid var(--bad); color: var(--bad); padding: 8px 12px; margin: 10px 0; }
        .notice { border: 2px solid var(--good); color: var(--good); padding: 8px 12px; margin: 10px 0; }
        .rule { border-left: 4px solid #a15c00; background: #fff7e8; padding: 6px 10px; margin: 6px 0; }
        .columns { display: grid; grid-template-columns: repeat(auto-fit, minmax(380px, 1fr)); gap: 18px; }
        .card { border: 1px solid var(--line); padding: 10px 14px; border-radius: 4px; }
        dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 14px; margin: 6px 0; }
        dl.facts dt { font-weight: bold; }
        dl.facts dd { margin: 0; overflow-wrap: anywhere; }
        img.edit-image { max-width: 320px; image-rendering: pixelated; border: 1px solid var(--line); }
        .muted { color: var(--muted); }
        .pager { display: flex; gap: 18px; margin: 8px 0; }
        fieldset { border: 1px solid var(--line); margin: 8px 0; }
        fieldset.sign { display: flex; flex-wrap: wrap; gap: 6px 12px; align-items: flex-end; margin: 0; padding: 4px 10px 8px; }
        .decide form { border-top: 1px solid var(--line); padding-top: 8px; }
        pre.text { white-space: pre-wrap; margin: 0; font: inherit; }
        """;
}
