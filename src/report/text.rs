//! Human-readable renderings of a scan: the terminal table and Markdown.

use super::{ComboDoc, ScanDoc, StepDoc};
use std::fmt::Write;

/// A short name for a node in a walk: the last segment of an Azure id.
fn short(id: &str) -> &str {
    crate::ids::last_segment(id.trim_end_matches('/'))
}

/// `internet -exposes[443]-> vm-web-01 -uses_identity-> ...`
pub fn walk_line(walk: &[StepDoc]) -> String {
    let mut s = String::new();
    for step in walk {
        if let Some(via) = step.via {
            let mut label = via.to_string();
            if let Some(r) = &step.role {
                label = format!("{via}[{r}]");
            } else if let Some(p) = &step.ports {
                label = format!("{via}[{}]", p.join(","));
            }
            let _ = write!(s, " -{label}-> ");
        }
        s.push_str(step.name.as_deref().unwrap_or_else(|| short(&step.node)));
    }
    s
}

fn pad(s: &str, w: usize) -> String {
    let len = s.chars().count();
    if len >= w {
        s.to_string()
    } else {
        format!("{s}{}", " ".repeat(w - len))
    }
}

fn rows(header: &[&str], data: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in data {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<String>| {
        let last = cells.len() - 1;
        let mut l = String::from("  ");
        for (i, c) in cells.iter().enumerate() {
            if i == last {
                l.push_str(c);
            } else {
                l.push_str(&pad(c, widths[i] + 2));
            }
        }
        l.trim_end().to_string() + "\n"
    };
    out.push_str(&line(header.iter().map(|h| h.to_string()).collect()));
    for r in data {
        out.push_str(&line(r.clone()));
    }
    out
}

fn sev_cells(m: &indexmap::IndexMap<crate::ingest::Level, usize>) -> Vec<String> {
    m.values().map(|n| n.to_string()).collect()
}

/// The terminal summary.
pub fn table(doc: &ScanDoc, verbose: bool) -> String {
    let mut o = String::new();
    let c = &doc.counts;
    let snap = &doc.snapshot;
    let _ = writeln!(
        o,
        "toxgraph {} · {} · snapshot {} taken {}",
        doc.tool.version,
        doc.input,
        snap.label.as_deref().unwrap_or("(no label)"),
        snap.taken_at
    );
    let g = &c.graph;
    let _ = writeln!(
        o,
        "in scope: {} ({} defined), {}, {}, {}, {}; {}\n",
        plural(g.resources, "resource"),
        g.defined_resources,
        plural(g.scopes, "scope"),
        plural_as(g.identities, "identity", "identities"),
        plural(g.edges, "edge"),
        plural(g.findings, "finding"),
        plural(c.rules, "rule")
    );
    o.push_str("Toxic combinations by rule\n");
    let data: Vec<Vec<String>> = doc
        .by_rule
        .iter()
        .map(|r| {
            vec![
                r.rule.clone(),
                r.severity.as_str().to_string(),
                r.combinations.to_string(),
                r.entries.to_string(),
                r.title.clone(),
            ]
        })
        .collect();
    o.push_str(&rows(
        &["RULE", "SEVERITY", "COMBINATIONS", "ENTRIES", "TITLE"],
        &data,
    ));
    let sev: Vec<String> = c
        .by_severity
        .iter()
        .map(|(l, n)| format!("{} {n}", l.as_str()))
        .collect();
    let _ = writeln!(o, "  by severity: {}\n", sev.join(", "));

    o.push_str("By owner (of the entry)\n");
    let data: Vec<Vec<String>> = doc
        .by_owner
        .iter()
        .map(|w| {
            let mut r = vec![
                w.owner.clone(),
                w.combinations.to_string(),
                w.toxic_resources.to_string(),
            ];
            r.extend(sev_cells(&w.by_severity));
            r
        })
        .collect();
    if data.is_empty() {
        o.push_str("  (no toxic combinations)\n");
    } else {
        o.push_str(&rows(
            &[
                "OWNER",
                "COMBINATIONS",
                "TOXIC RESOURCES",
                "CRITICAL",
                "HIGH",
                "MEDIUM",
                "LOW",
            ],
            &data,
        ));
    }

    if !doc.combinations.is_empty() {
        o.push_str("\nCombinations\n");
        for cd in &doc.combinations {
            combo_text(&mut o, cd);
        }
    }
    let _ = writeln!(
        o,
        "\n{} on {}.",
        plural(c.combinations, "toxic combination"),
        plural(c.toxic_resources, "toxic resource")
    );
    if let Some(n) = &doc.notice {
        let _ = writeln!(o, "Note: {n}.");
    }
    o.push_str(&warnings_text(doc, verbose));
    o
}

/// `3 warnings`, `1 warning`.
pub fn plural(n: usize, what: &str) -> String {
    plural_as(n, what, &format!("{what}s"))
}

/// `3 identities`, `1 identity`: for words whose plural is not an added `s`.
pub fn plural_as(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// Where a warning points: `file:line: `, `file: `, or nothing.
fn location(w: &super::WarningDoc) -> String {
    match (w.file.is_empty(), w.line) {
        (true, _) => String::new(),
        (false, 0) => format!("{}: ", w.file),
        (false, l) => format!("{}:{l}: ", w.file),
    }
}

/// The closing warnings line, or the full list with `verbose`.
fn warnings_text(doc: &ScanDoc, verbose: bool) -> String {
    let n = doc.counts.warnings;
    let mut o = String::new();
    if n == 0 {
        return o;
    }
    if verbose {
        let _ = writeln!(o, "{}:", plural(n, "warning"));
        for w in &doc.warnings {
            let _ = writeln!(o, "  {}{}", location(w), w.message);
        }
    } else {
        let _ = writeln!(o, "{} (--verbose lists them).", plural(n, "warning"));
    }
    o
}

fn combo_text(o: &mut String, c: &ComboDoc) {
    let _ = writeln!(
        o,
        "  {} {:<8} {} -> {}  owner: {}  fp: {}",
        c.rule,
        c.severity.as_str(),
        short(&c.entry),
        short(&c.target),
        c.owner,
        &c.fingerprint[..12]
    );
    let _ = writeln!(o, "      {}", walk_line(&c.walk));
}

/// Markdown-escapes estate-supplied text: pipes would split table cells, backticks open
/// code spans, angle brackets could open HTML.
pub(crate) fn md_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('`', "\\`")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Estate-supplied text as a whole Markdown code span, shown exactly as it is. Inside a
/// code span backslash escapes are not read (a Windows path escaped like other text would
/// show every `\` doubled), so no character is escaped: the fence is made longer than any
/// run of backticks in the text instead, and padded with a space where the text would
/// otherwise lose or merge an edge. Line ends become spaces, as a code span shows them.
pub(crate) fn md_code(s: &str) -> String {
    let s = s.replace(['\r', '\n'], " ");
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let edge = |c: char| s.starts_with(c) || s.ends_with(c);
    let stripped = s.starts_with(' ') && s.ends_with(' ') && !s.trim().is_empty();
    let pad = if edge('`') || stripped { " " } else { "" };
    format!("{fence}{pad}{s}{pad}{fence}")
}

/// The Markdown report.
pub fn markdown(doc: &ScanDoc) -> String {
    let mut o = String::new();
    let c = &doc.counts;
    let _ = writeln!(
        o,
        "# toxgraph scan: {}\n",
        md_escape(doc.snapshot.label.as_deref().unwrap_or(&doc.input))
    );
    let _ = writeln!(
        o,
        "Snapshot {} taken {}; toxgraph {}.\n",
        md_code(&doc.input),
        doc.snapshot.taken_at,
        doc.tool.version
    );
    let g = &c.graph;
    let _ = writeln!(
        o,
        "**{}** on **{}**, out of {} ({} defined), {}, {} and {}.\n",
        plural(c.combinations, "toxic combination"),
        plural(c.toxic_resources, "toxic resource"),
        plural(g.resources, "resource"),
        g.defined_resources,
        plural(g.scopes, "scope"),
        plural_as(g.identities, "identity", "identities"),
        plural(g.edges, "edge")
    );
    o.push_str("## By rule\n\n| Rule | Severity | Combinations | Entries | Title |\n|---|---|---:|---:|---|\n");
    for r in &doc.by_rule {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} |",
            r.rule,
            r.severity.as_str(),
            r.combinations,
            r.entries,
            md_escape(&r.title)
        );
    }
    o.push_str("\n## By owner\n\n");
    if doc.by_owner.is_empty() {
        o.push_str("No toxic combinations.\n");
    } else {
        o.push_str("| Owner | Combinations | Toxic resources | Critical | High | Medium | Low |\n|---|---:|---:|---:|---:|---:|---:|\n");
    }
    for w in &doc.by_owner {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} |",
            md_escape(&w.owner),
            w.combinations,
            w.toxic_resources,
            sev_cells(&w.by_severity).join(" | ")
        );
    }
    o.push_str("\n## Combinations\n\n");
    for cd in &doc.combinations {
        let _ = writeln!(
            o,
            "### {} · {} → {}\n",
            cd.rule,
            md_escape(short(&cd.entry)),
            md_escape(short(&cd.target))
        );
        let _ = writeln!(
            o,
            "- severity: {}\n- owner: {}\n- fingerprint: `{}`",
            cd.severity.as_str(),
            md_escape(&cd.owner),
            cd.fingerprint
        );
        let attack: Vec<String> = cd
            .attack
            .iter()
            .map(|a| {
                format!(
                    "{} ({})",
                    a.technique.as_deref().unwrap_or("none"),
                    a.evidence.as_str()
                )
            })
            .collect();
        if !attack.is_empty() {
            let _ = writeln!(o, "- ATT&CK: {}", attack.join(", "));
        }
        let _ = writeln!(o, "\n```text\n{}\n```\n", walk_line(&cd.walk));
    }
    if c.warnings > 0 {
        let _ = writeln!(o, "## Warnings ({})\n", c.warnings);
        for w in &doc.warnings {
            let _ = writeln!(o, "- {}{}", md_escape(&location(w)), md_escape(&w.message));
        }
    }
    o
}

/// `query` output: every match with its walk, then a count.
pub fn query_text(doc: &ScanDoc, verbose: bool) -> String {
    let mut o = String::new();
    for c in &doc.combinations {
        let _ = writeln!(o, "{} -> {}  (owner: {})", c.entry, c.target, c.owner);
        let _ = writeln!(o, "    {}", walk_line(&c.walk));
    }
    let _ = writeln!(
        o,
        "{}",
        plural_as(doc.combinations.len(), "match", "matches")
    );
    o.push_str(&warnings_text(doc, verbose));
    o
}
