//! Renderings of the quarterly report: terminal, Markdown, JSON, CSV and a self-contained
//! HTML page (inline CSS and SVG, no script, no external request). Names, ids and tags come
//! from the estate and are attacker-controlled: HTML escapes everything, CSV neutralises
//! formula cells, Markdown escapes pipes and backticks (and fences code spans instead,
//! where escapes are not read).

use super::quarterly::{Report, Row, Status};
use super::text::{md_code, md_escape as md};
use super::xml_escape as esc;
use std::fmt::Write;

/// Owners shown one by one in the HTML page; the rest are grouped (CSV and JSON list all).
pub const HTML_TOP_OWNERS: usize = 50;

fn reduction_cell(r: &Row) -> (String, String) {
    match r.periods.last() {
        Some(p) => (
            p.reduction_pct.map(|x| x.text()).unwrap_or_default(),
            p.status.map(|s| s.as_str().to_string()).unwrap_or_default(),
        ),
        None => (String::new(), String::new()),
    }
}

/// The terminal summary.
pub fn terminal(rep: &Report) -> String {
    let mut o = String::new();
    let labels: Vec<&str> = rep.periods.iter().map(|p| p.label.as_str()).collect();
    let _ = writeln!(o, "Toxic-combination report · {}", labels.join(" → "));
    for p in &rep.periods {
        let _ = writeln!(
            o,
            "  {}: {} resources, {} owned ({} % coverage), {} identities, {} internet-exposed",
            p.label,
            p.resources,
            p.owned_resources,
            p.coverage_pct,
            p.identities,
            p.exposed_resources
        );
    }
    let _ = writeln!(o, "\nToxic resources by owner");
    let mut header = format!("  {:<28}", "OWNER");
    for l in &labels {
        let _ = write!(header, "{:>10}", l);
    }
    let _ = write!(header, "{:>10}  STATUS", "CHANGE %");
    if rep.tier.is_some() {
        header.push_str("  GAP TO TARGET");
    }
    let _ = writeln!(o, "{header}");
    for r in rep.owners.iter().chain(std::iter::once(&rep.total)) {
        let mut line = format!("  {:<28}", truncate(&r.name, 28));
        for p in &r.periods {
            let _ = write!(line, "{:>10}", p.figures.toxic_resources);
        }
        let (red, status) = reduction_cell(r);
        let _ = write!(line, "{:>10}  {}", red, status);
        if let Some(gap) = r.periods.last().and_then(|p| p.gap_to_target_pts.clone()) {
            let _ = write!(line, "  {gap} pts");
        }
        let _ = writeln!(o, "{}", line.trim_end());
    }
    if let Some(m) = &rep.movement {
        let _ = writeln!(
            o,
            "\nMovement {} → {}: {} new, {} resolved, {} persisting combinations",
            m.from, m.to, m.new, m.resolved, m.persisting
        );
        for c in m.top_open.iter().take(5) {
            let _ = writeln!(
                o,
                "  {} {:<8} {}  ({})",
                c.rule,
                c.severity.as_str(),
                c.walk,
                c.owner
            );
        }
    }
    let _ = writeln!(
        o,
        "\nATT&CK register (last period; posture is never counted as detection)"
    );
    for a in &rep.attack {
        let parts: Vec<String> = a
            .by_evidence
            .iter()
            .map(|(e, n)| format!("{} {n}", e.as_str()))
            .collect();
        let _ = writeln!(o, "  {:<10} {}", a.technique, parts.join(", "));
    }
    o
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

/// Versioned JSON (`toxgraph.report/v1`).
pub fn json(rep: &Report) -> String {
    super::pretty_json(rep)
}

/// A CSV cell: formula-looking text is neutralised, and quoting applied where needed.
fn csv_text(s: &str) -> String {
    let risky = s.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let s = if risky {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// One row per owner per period (then the total), with the required header first.
pub fn csv(rep: &Report) -> String {
    let mut o = String::from(
        "period,owner,resources,toxic_resources,toxic_combinations,reduction_pct,status,reduction_vs_first_pct,exposed_resources,critical,high,medium,low\n",
    );
    for (i, info) in rep.periods.iter().enumerate() {
        for r in rep.owners.iter().chain(std::iter::once(&rep.total)) {
            let p = &r.periods[i];
            let f = &p.figures;
            let sev: Vec<String> = f.by_severity.values().map(|n| n.to_string()).collect();
            let _ = writeln!(
                o,
                "{},{},{},{},{},{},{},{},{},{}",
                csv_text(&info.label),
                csv_text(&r.name),
                f.resources,
                f.toxic_resources,
                f.toxic_combinations,
                p.reduction_pct.map(|x| x.text()).unwrap_or_default(),
                p.status.map(|s| s.as_str()).unwrap_or(""),
                p.reduction_vs_first_pct
                    .map(|x| x.text())
                    .unwrap_or_default(),
                f.exposed_resources,
                sev.join(",")
            );
        }
    }
    o
}

/// The Markdown report.
pub fn markdown(rep: &Report) -> String {
    let mut o = String::new();
    let labels: Vec<String> = rep.periods.iter().map(|p| md(&p.label)).collect();
    let _ = writeln!(o, "# Toxic-combination report: {}\n", labels.join(" → "));
    o.push_str("## Denominators\n\n| Period | Resources | Owned | Coverage % | Identities | Internet-exposed |\n|---|---:|---:|---:|---:|---:|\n");
    for p in &rep.periods {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} |",
            md(&p.label),
            p.resources,
            p.owned_resources,
            p.coverage_pct,
            p.identities,
            p.exposed_resources
        );
    }
    let _ = write!(o, "\n## Toxic resources by owner\n\n| Owner |");
    for l in &labels {
        let _ = write!(o, " {l} |");
    }
    o.push_str(" Change % | Status |\n|---|");
    for _ in &labels {
        o.push_str("---:|");
    }
    o.push_str("---:|---|\n");
    for r in rep.owners.iter().chain(std::iter::once(&rep.total)) {
        let _ = write!(o, "| {} |", md(&r.name));
        for p in &r.periods {
            let _ = write!(o, " {} |", p.figures.toxic_resources);
        }
        let (red, status) = reduction_cell(r);
        let _ = writeln!(o, " {red} | {status} |");
    }
    if let Some(m) = &rep.movement {
        let _ = writeln!(
            o,
            "\n## Movement {} → {}\n\n{} new, {} resolved, {} persisting.\n",
            md(&m.from),
            md(&m.to),
            m.new,
            m.resolved,
            m.persisting
        );
        o.push_str("| Rule | Severity | Owner | Walk |\n|---|---|---|---|\n");
        for c in &m.top_open {
            let _ = writeln!(
                o,
                "| {} | {} | {} | {} |",
                c.rule,
                c.severity.as_str(),
                md(&c.owner),
                md(&c.walk)
            );
        }
    }
    o.push_str("\n## ATT&CK register\n\n| Technique | Name | Direct detection | Correlation context | Posture context |\n|---|---|---:|---:|---:|\n");
    for a in &rep.attack {
        let get = |e: crate::rules::Evidence| a.by_evidence.get(&e).copied().unwrap_or(0);
        use crate::rules::Evidence::*;
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} |",
            a.technique,
            md(&a.name),
            get(DirectDetection),
            get(CorrelationContext),
            get(PostureContext)
        );
    }
    o.push_str("\n## Lineage\n\n");
    lineage_md(&mut o, rep);
    o
}

fn lineage_md(o: &mut String, rep: &Report) {
    let l = &rep.lineage;
    let _ = writeln!(
        o,
        "- tool: {}\n- generated at: {}\n- rule pack SHA-256: `{}` ({} files)",
        md(&l.tool),
        md(&l.generated_at),
        l.rule_pack_sha256,
        l.rule_files
    );
    for i in &l.inputs {
        let _ = writeln!(
            o,
            "- input {}: {} bytes, SHA-256 `{}`, taken at {}, label {}",
            md_code(&i.file),
            i.size,
            i.sha256,
            md(&i.taken_at),
            md(i.label.as_deref().unwrap_or("-"))
        );
    }
}

fn colour(s: Option<Status>) -> &'static str {
    match s {
        Some(Status::Green) => "#1a7f37",
        Some(Status::Amber) => "#b26b00",
        Some(Status::Red) => "#c62828",
        None => "#666",
    }
}

/// A line chart of values over periods, as inline SVG.
fn line_chart(values: &[usize], labels: &[String], w: u32, h: u32, axes: bool) -> String {
    let max = values.iter().copied().max().unwrap_or(0).max(1) as f64;
    // Room for the axis labels and the value above each point.
    let (pad_l, pad_r, pad_b, pad_t) = if axes {
        (40.0, 28.0, 24.0, 22.0)
    } else {
        (2.0, 2.0, 2.0, 2.0)
    };
    let (w_f, h_f) = (w as f64, h as f64);
    let n = values.len().max(1);
    let x = |i: usize| {
        if n == 1 {
            pad_l + (w_f - pad_l) / 2.0
        } else {
            pad_l + i as f64 * (w_f - pad_l - pad_r) / (n - 1) as f64
        }
    };
    let y = |v: usize| pad_t + (h_f - pad_t - pad_b) * (1.0 - v as f64 / max);
    let pts: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| format!("{:.1},{:.1}", x(i), y(*v)))
        .collect();
    let mut s = format!(r#"<svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img">"#);
    if axes {
        let _ = write!(
            s,
            r##"<line x1="{pad_l}" y1="{:.1}" x2="{w}" y2="{:.1}" stroke="#999"/>"##,
            h_f - pad_b,
            h_f - pad_b
        );
        let _ = write!(
            s,
            r##"<text x="2" y="{:.1}" font-size="10" fill="#444">{}</text>"##,
            pad_t + 4.0,
            max as usize
        );
        for (i, l) in labels.iter().enumerate() {
            let _ = write!(
                s,
                r##"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle" fill="#444">{}</text>"##,
                x(i),
                h_f - 6.0,
                esc(l)
            );
        }
    }
    let _ = write!(
        s,
        r##"<polyline fill="none" stroke="#1f4e79" stroke-width="2" points="{}"/>"##,
        pts.join(" ")
    );
    for (i, v) in values.iter().enumerate() {
        let _ = write!(
            s,
            r##"<circle cx="{:.1}" cy="{:.1}" r="{}" fill="#1f4e79"/>"##,
            x(i),
            y(*v),
            if axes { 3 } else { 2 }
        );
        if axes {
            let _ = write!(
                s,
                r##"<text x="{:.1}" y="{:.1}" font-size="10" text-anchor="middle" fill="#1f4e79">{v}</text>"##,
                x(i),
                y(*v) - 6.0
            );
        }
    }
    s.push_str("</svg>");
    s
}

const CSS: &str = "body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2em;color:#222;max-width:1100px}\
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}\
table{border-collapse:collapse;width:100%;font-size:.9em}th,td{padding:.25em .5em;border-bottom:1px solid #eee;text-align:right}\
th:first-child,td:first-child{text-align:left}.badge{color:#fff;padding:0 .5em;border-radius:.6em;font-size:.85em}\
code{font-size:.85em;word-break:break-all}.cards{display:flex;gap:1em;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:6px;padding:.6em 1em}\
.big{font-size:1.6em;font-weight:600}.muted{color:#666;font-size:.85em}\
@media print{body{margin:0}h2{break-after:avoid}table{break-inside:auto}tr{break-inside:avoid}}";

/// The self-contained HTML page.
pub fn html(rep: &Report) -> String {
    let mut o = String::new();
    let labels: Vec<String> = rep.periods.iter().map(|p| p.label.clone()).collect();
    let title = format!("Toxic-combination report: {}", labels.join(" → "));
    let _ = write!(o, "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{CSS}</style></head><body>", esc(&title));
    let _ = write!(o, "<h1>{}</h1>", esc(&title));
    // Summary cards: the total per period with its change and status.
    o.push_str("<div class=\"cards\">");
    for p in &rep.total.periods {
        let change = match (p.reduction_pct, p.status) {
            (Some(r), Some(s)) => format!(
                "<span class=\"badge\" style=\"background:{}\">{} %</span>",
                colour(Some(s)),
                esc(&r.text())
            ),
            _ => "<span class=\"muted\">first period</span>".into(),
        };
        let _ = write!(o, "<div class=\"card\"><div class=\"muted\">{}</div><div class=\"big\">{}</div><div class=\"muted\">toxic resources · {} combinations</div>{change}</div>", esc(&p.period), p.figures.toxic_resources, p.figures.toxic_combinations);
    }
    o.push_str("</div>");
    let totals: Vec<usize> = rep
        .total
        .periods
        .iter()
        .map(|p| p.figures.toxic_resources)
        .collect();
    let _ = write!(
        o,
        "<h2>Total toxic resources</h2>{}",
        line_chart(&totals, &labels, 520, 180, true)
    );

    o.push_str("<h2>Denominators</h2><table><tr><th>Period</th><th>Resources</th><th>Owned</th><th>Coverage %</th><th>Identities</th><th>Internet-exposed</th></tr>");
    for p in &rep.periods {
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&p.label),
            p.resources,
            p.owned_resources,
            esc(&p.coverage_pct),
            p.identities,
            p.exposed_resources
        );
    }
    o.push_str("</table>");

    o.push_str("<h2>Toxic resources by owner</h2><table><tr><th>Owner</th>");
    for l in &labels {
        let _ = write!(o, "<th>{}</th>", esc(l));
    }
    o.push_str("<th>Trend</th><th>Change %</th><th>Status</th>");
    if rep.tier.is_some() {
        o.push_str("<th>Gap to target (pts)</th>");
    }
    o.push_str("</tr>");
    let shown = rep.owners.len().min(HTML_TOP_OWNERS);
    for r in rep
        .owners
        .iter()
        .take(shown)
        .chain(std::iter::once(&rep.total))
    {
        html_row(&mut o, r, &labels, rep.tier.is_some());
    }
    if rep.owners.len() > shown {
        let rest = &rep.owners[shown..];
        let _ = write!(o, "<tr><td colspan=\"{}\" class=\"muted\">{} more owners with {} toxic resources in the last period (full table in the CSV and JSON reports)</td></tr>", labels.len() + 4, rest.len(), rest.iter().map(Row::last_toxic).sum::<usize>());
    }
    o.push_str("</table>");

    let _ = write!(
        o,
        "<h2>By environment (tag <code>{}</code>)</h2><table><tr><th>Environment</th>",
        esc(&rep.env_key)
    );
    for l in &labels {
        let _ = write!(o, "<th>{}</th>", esc(l));
    }
    o.push_str("<th>Trend</th><th>Change %</th><th>Status</th></tr>");
    for r in &rep.by_env {
        html_row(&mut o, r, &labels, false);
    }
    o.push_str("</table>");

    if let Some(m) = &rep.movement {
        let _ = write!(
            o,
            "<h2>Movement {} → {}</h2><p>{} new, {} resolved, {} persisting combinations.</p>",
            esc(&m.from),
            esc(&m.to),
            m.new,
            m.resolved,
            m.persisting
        );
        o.push_str("<table><tr><th>Rule</th><th>Severity</th><th>Owner</th><th>Open since first period</th><th>Walk</th></tr>");
        for c in &m.top_open {
            let _ = write!(o, "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td style=\"text-align:left\"><code>{}</code></td></tr>", esc(&c.rule), c.severity.as_str(), esc(&c.owner), if c.since_first_period { "yes" } else { "no" }, esc(&c.walk));
        }
        o.push_str("</table>");
    }
    o.push_str("<h2>ATT&amp;CK register</h2><p class=\"muted\">Combinations in the last period by technique. Posture context is configuration that would allow a technique; only direct detection is detected activity.</p><table><tr><th>Technique</th><th>Name</th><th>Direct detection</th><th>Correlation context</th><th>Posture context</th></tr>");
    for a in &rep.attack {
        use crate::rules::Evidence::*;
        let get = |e| a.by_evidence.get(&e).copied().unwrap_or(0);
        let _ = write!(o, "<tr><td>{}</td><td style=\"text-align:left\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", esc(&a.technique), esc(&a.name), get(DirectDetection), get(CorrelationContext), get(PostureContext));
    }
    o.push_str("</table>");
    let l = &rep.lineage;
    let _ = write!(o, "<h2>Lineage</h2><p class=\"muted\">{} · generated {} · rule pack SHA-256 <code>{}</code> ({} files)</p><table><tr><th>Input</th><th>Label</th><th>Taken at</th><th>Bytes</th><th>SHA-256</th></tr>", esc(&l.tool), esc(&l.generated_at), esc(&l.rule_pack_sha256), l.rule_files);
    for i in &l.inputs {
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            esc(&i.file),
            esc(i.label.as_deref().unwrap_or("-")),
            esc(&i.taken_at),
            i.size,
            esc(&i.sha256)
        );
    }
    o.push_str("</table></body></html>\n");
    o
}

fn html_row(o: &mut String, r: &Row, labels: &[String], tier: bool) {
    let _ = write!(o, "<tr><td>{}</td>", esc(&r.name));
    for p in &r.periods {
        let _ = write!(o, "<td>{}</td>", p.figures.toxic_resources);
    }
    let values: Vec<usize> = r
        .periods
        .iter()
        .map(|p| p.figures.toxic_resources)
        .collect();
    let _ = write!(o, "<td>{}</td>", line_chart(&values, labels, 80, 20, false));
    let last = r.periods.last();
    let (red, _) = reduction_cell(r);
    let status = last.and_then(|p| p.status);
    let badge = status.map_or(String::new(), |s| {
        format!(
            "<span class=\"badge\" style=\"background:{}\">{}</span>",
            colour(Some(s)),
            s.as_str()
        )
    });
    let _ = write!(o, "<td>{}</td><td>{badge}</td>", esc(&red));
    if tier {
        let _ = write!(
            o,
            "<td>{}</td>",
            esc(&last
                .and_then(|p| p.gap_to_target_pts.clone())
                .unwrap_or_default())
        );
    }
    o.push_str("</tr>");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(
            esc("<script>alert(1)</script>"),
            "&lt;script&gt;alert(1)&lt;/script&gt;"
        );
        assert_eq!(csv_text("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
        assert_eq!(csv_text("-2+3"), "'-2+3");
        assert_eq!(csv_text("a,b"), "\"a,b\"");
        assert_eq!(md("a|b`c"), "a\\|b\\`c");
        // Code spans show their text as it is: no escapes, a longer fence instead.
        assert_eq!(md_code(r"C:\est\q1.jsonl"), r"`C:\est\q1.jsonl`");
        assert_eq!(md_code("a`b"), "``a`b``");
        assert_eq!(md_code("`a``"), "``` `a`` ```");
        assert_eq!(md_code(" a "), "`  a  `");
        assert_eq!(md_code("a\nb|<c>"), "`a b|<c>`");
    }
}
