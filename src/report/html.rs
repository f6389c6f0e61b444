//! A self-contained HTML report: one file, inline CSS, figures embedded as base64 PNG data URIs,
//! no script and no external resource, so it opens offline and can be archived with a dossier.
//!
//! All caller text is escaped; the only markup is the page's own.
use std::fmt::Write;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

/// A table; cells are plain text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Table {
    pub caption: String,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Column whose cells are coloured by their content: PASS / verified / accept in green,
    /// FAIL / falsified / reject in red, unknown / timeout / inconclusive in amber.
    pub highlight_column: Option<usize>,
}

/// A PNG figure with its caption.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Figure {
    pub caption: String,
    pub png: Vec<u8>,
}

/// A numbered section: paragraphs, then tables, then figures, then preformatted code.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Section {
    pub heading: String,
    pub paragraphs: Vec<String>,
    pub tables: Vec<Table>,
    pub figures: Vec<Figure>,
    /// Preformatted text, e.g. the `openssl` command that checks the dossier's signature.
    pub code: Option<String>,
}

/// The decision banner.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Banner {
    pub outcome: String,
    pub tone: Tone,
    pub reasons: Vec<String>,
}

/// Colour of the banner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tone {
    /// Green (ACCEPT).
    Ok,
    /// Red (REJECT).
    Bad,
    /// Amber (NO DECISION).
    #[default]
    Neutral,
}

/// The whole page.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HtmlReport {
    pub title: String,
    pub subtitle: String,
    /// The headline outcome (e.g. "ACCEPT") and its banner; `None` for pages that decide
    /// nothing (a comparison of models).
    pub decision: Option<Banner>,
    pub sections: Vec<Section>,
    pub footer: String,
}

const STYLE: &str = r#"
:root { --ok: #1a7f37; --bad: #b42318; --warn: #9a6700; --ink: #1f2328; --muted: #57606a;
        --rule: #d0d7de; --zebra: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #fff;
       font: 15px/1.5 "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; }
main { max-width: 1000px; margin: 0 auto; padding: 24px 28px 40px; }
header h1 { font-size: 26px; margin: 0 0 4px; }
header .subtitle { color: var(--muted); margin: 0 0 20px; }
.decision { border-radius: 6px; padding: 16px 22px; margin: 0 0 24px; color: #fff; }
.decision.ok { background: var(--ok); }
.decision.bad { background: var(--bad); }
.decision.neutral { background: var(--warn); }
.decision .label { font-size: 13px; letter-spacing: 0.08em; text-transform: uppercase; opacity: 0.9; }
.decision .outcome { font-size: 32px; font-weight: bold; letter-spacing: 0.04em; margin: 2px 0 6px; }
.decision ul { margin: 4px 0 0; padding-left: 20px; }
nav { border: 1px solid var(--rule); border-radius: 6px; padding: 10px 18px; margin-bottom: 24px; }
nav h2 { font-size: 15px; margin: 0 0 4px; }
nav ol { margin: 0; padding-left: 22px; }
nav a { color: var(--ink); }
section { margin: 0 0 30px; }
section h2 { font-size: 20px; border-bottom: 2px solid var(--rule); padding-bottom: 4px; }
table { border-collapse: collapse; width: 100%; margin: 12px 0 20px; font-size: 14px; }
caption { caption-side: top; text-align: left; font-weight: bold; padding-bottom: 6px; }
th, td { border: 1px solid var(--rule); padding: 5px 9px; text-align: left; vertical-align: top; }
th { background: #eaeef2; }
tbody tr:nth-child(even) { background: var(--zebra); }
td.good { color: var(--ok); font-weight: bold; background: #dafbe1; }
td.bad { color: var(--bad); font-weight: bold; background: #ffebe9; }
td.warn { color: var(--warn); font-weight: bold; background: #fff8c5; }
figure { margin: 12px 0 24px; text-align: center; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--rule); }
figcaption { color: var(--muted); font-size: 14px; margin-top: 6px; }
pre { background: var(--zebra); border: 1px solid var(--rule); border-radius: 6px; padding: 12px;
      overflow-x: auto; white-space: pre-wrap; word-break: break-all; font-size: 13px; }
footer { color: var(--muted); font-size: 13px; border-top: 1px solid var(--rule); padding-top: 10px; }
@media print {
  main { max-width: none; padding: 0; }
  nav { display: none; }
  .decision, td.good, td.bad, td.warn, th, tbody tr:nth-child(even) {
    -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  section h2 { break-after: avoid; }
  table, figure, pre { break-inside: avoid; }
}
"#;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// CSS class for a highlighted cell, judged from its text. Negative words are checked first so
/// that "not verified" or "unverified" never reads as a pass.
fn cell_class(text: &str) -> Option<&'static str> {
    let text = text.trim().to_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
    if has(&[
        "fail",
        "falsif",
        "reject",
        "unverified",
        "not verified",
        "uncertified",
        "violat",
    ]) {
        Some("bad")
    } else if has(&["unknown", "timeout", "inconclusive", "abstain", "skipped"]) {
        Some("warn")
    } else if has(&["pass", "verified", "certified", "accept"]) {
        Some("good")
    } else {
        None
    }
}

fn section_id(index: usize) -> String {
    format!("section-{}", index + 1)
}

fn write_table(out: &mut String, table: &Table, number: usize) {
    out.push_str("<table>\n");
    let _ = writeln!(
        out,
        "<caption>Table {number}. {}</caption>",
        escape(&table.caption)
    );
    if !table.header.is_empty() {
        out.push_str("<thead><tr>");
        for cell in &table.header {
            let _ = write!(out, "<th scope=\"col\">{}</th>", escape(cell));
        }
        out.push_str("</tr></thead>\n");
    }
    out.push_str("<tbody>\n");
    for row in &table.rows {
        out.push_str("<tr>");
        for (column, cell) in row.iter().enumerate() {
            let class = (table.highlight_column == Some(column))
                .then(|| cell_class(cell))
                .flatten();
            match class {
                Some(class) => {
                    let _ = write!(out, "<td class=\"{class}\">{}</td>", escape(cell));
                }
                None => {
                    let _ = write!(out, "<td>{}</td>", escape(cell));
                }
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
}

fn write_figure(out: &mut String, figure: &Figure, number: usize) {
    let caption = escape(&figure.caption);
    let _ = writeln!(
        out,
        "<figure>\n<img src=\"data:image/png;base64,{}\" alt=\"{caption}\">\n\
         <figcaption>Figure {number}. {caption}</figcaption>\n</figure>",
        BASE64.encode(&figure.png)
    );
}

/// Renders the report as one HTML document. Tables and figures are numbered through the page.
pub fn render_html(r: &HtmlReport) -> String {
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    let _ = writeln!(out, "<title>{}</title>", escape(&r.title));
    let _ = writeln!(out, "<style>{STYLE}</style>\n</head>\n<body>\n<main>");

    let _ = writeln!(out, "<header>\n<h1>{}</h1>", escape(&r.title));
    if !r.subtitle.is_empty() {
        let _ = writeln!(out, "<p class=\"subtitle\">{}</p>", escape(&r.subtitle));
    }
    out.push_str("</header>\n");

    if let Some(banner) = &r.decision {
        let class = match banner.tone {
            Tone::Ok => "ok",
            Tone::Bad => "bad",
            Tone::Neutral => "neutral",
        };
        let _ = writeln!(
            out,
            "<div class=\"decision {class}\" role=\"status\">\n\
             <div class=\"label\">Decision</div>\n<div class=\"outcome\">{}</div>",
            escape(&banner.outcome)
        );
        if !banner.reasons.is_empty() {
            out.push_str("<ul>\n");
            for reason in &banner.reasons {
                let _ = writeln!(out, "<li>{}</li>", escape(reason));
            }
            out.push_str("</ul>\n");
        }
        out.push_str("</div>\n");
    }

    if r.sections.len() > 1 {
        out.push_str("<nav>\n<h2>Contents</h2>\n<ol>\n");
        for (i, section) in r.sections.iter().enumerate() {
            let _ = writeln!(
                out,
                "<li><a href=\"#{}\">{}</a></li>",
                section_id(i),
                escape(&section.heading)
            );
        }
        out.push_str("</ol>\n</nav>\n");
    }

    let (mut table_number, mut figure_number) = (0, 0);
    for (i, section) in r.sections.iter().enumerate() {
        let _ = writeln!(
            out,
            "<section id=\"{}\">\n<h2>{}. {}</h2>",
            section_id(i),
            i + 1,
            escape(&section.heading)
        );
        for paragraph in &section.paragraphs {
            let _ = writeln!(out, "<p>{}</p>", escape(paragraph));
        }
        for table in &section.tables {
            table_number += 1;
            write_table(&mut out, table, table_number);
        }
        for figure in &section.figures {
            figure_number += 1;
            write_figure(&mut out, figure, figure_number);
        }
        if let Some(code) = &section.code {
            let _ = writeln!(out, "<pre><code>{}</code></pre>", escape(code));
        }
        out.push_str("</section>\n");
    }

    if !r.footer.is_empty() {
        let _ = writeln!(out, "<footer>{}</footer>", escape(&r.footer));
    }
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_the_five_html_metacharacters() {
        assert_eq!(
            escape(r#"<a href="x">Tom's & Jerry's</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom&#39;s &amp; Jerry&#39;s&lt;/a&gt;"
        );
    }

    #[test]
    fn cell_class_reads_negations_as_failures() {
        assert_eq!(cell_class("PASS"), Some("good"));
        assert_eq!(cell_class("verified"), Some("good"));
        assert_eq!(cell_class("not verified"), Some("bad"));
        assert_eq!(cell_class("Unverified"), Some("bad"));
        assert_eq!(cell_class("FAIL"), Some("bad"));
        assert_eq!(cell_class("falsified"), Some("bad"));
        assert_eq!(cell_class("unknown (timeout)"), Some("warn"));
        assert_eq!(cell_class("0.93"), None);
    }
}
