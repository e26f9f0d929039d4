//! Rule documentation, generated from the rule files themselves: `rules list`,
//! `rules explain ID`, and the Markdown pages beside each rule (`rules/TC001.md`).

use crate::rules::{Rule, RulePack};
use std::fmt::Write;

/// The pack as a table: id, severity, ATT&CK mapping with evidence labels, name.
pub fn rules_list(pack: &RulePack) -> String {
    let mut o = String::new();
    for r in &pack.rules {
        let attack: Vec<String> = r
            .attack
            .iter()
            .map(|a| {
                format!(
                    "{} ({})",
                    a.technique.as_deref().unwrap_or("-"),
                    a.evidence.as_str()
                )
            })
            .collect();
        let _ = writeln!(o, "{}  {:<8}  {}", r.id, r.severity.as_str(), r.name);
        let _ = writeln!(o, "        {}", r.title);
        let _ = writeln!(
            o,
            "        ATT&CK: {}",
            if attack.is_empty() {
                "none".into()
            } else {
                attack.join(", ")
            }
        );
    }
    let _ = writeln!(o, "\n{} rules", pack.rules.len());
    o
}

/// A rule's full documentation in Markdown.
pub fn rule_doc(r: &Rule) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "<!-- generated from {}.toml by `toxgraph rules explain {}`; do not edit -->",
        r.id, r.id
    );
    let _ = writeln!(o, "# {} {}\n", r.id, r.name);
    let _ = writeln!(o, "**{}**\n", r.title);
    let status = format!("{:?}", r.status).to_ascii_lowercase();
    let since = r
        .since
        .as_deref()
        .map(|s| format!(", since {s}"))
        .unwrap_or_default();
    let _ = writeln!(
        o,
        "Severity: {} · status: {status}{since}\n",
        r.severity.as_str()
    );
    let _ = writeln!(o, "## What it finds\n\n{}\n", r.description.trim());
    let _ = writeln!(o, "## Why it matters\n\n{}\n", r.rationale.trim());
    if let Some(ex) = &r.example {
        let _ = writeln!(o, "## Example path\n\n```text\n{}\n```\n", ex.trim());
    }
    let _ = writeln!(o, "## Pattern\n\n```text\n{}\n```\n", r.pattern_text.trim());
    let _ = writeln!(o, "## Remediation\n\n{}\n", r.remediation.trim());
    if !r.attack.is_empty() {
        o.push_str("## ATT&CK\n\n| Technique | Name | Evidence |\n|---|---|---|\n");
        for a in &r.attack {
            let _ = writeln!(
                o,
                "| {} | {} | {} |",
                a.technique.as_deref().unwrap_or("-"),
                a.name.as_deref().unwrap_or(""),
                a.evidence.as_str()
            );
        }
        o.push('\n');
    }
    if !r.references.is_empty() {
        o.push_str("## References\n\n");
        for u in &r.references {
            let _ = writeln!(o, "- <{u}>");
        }
    }
    o
}
