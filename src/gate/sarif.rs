//! SARIF 2.1.0 for code-scanning dashboards (GitHub, Azure DevOps).
//!
//! Code scanning needs every result to have a physical location in a file of the
//! repository with a start line. A toxic combination is about cloud resources, not source
//! lines, so each result points at the snapshot (or export) file the pipeline scanned, at
//! the line that defines the entry resource, and names the resources themselves as logical
//! locations. `partialFingerprints` carries the combination's fingerprint, so a result keeps
//! its identity across runs whatever line it lands on.

use super::GateOutcome;
use crate::ingest::Level;
use crate::rules::RulePack;
use serde_json::{json, Value};

pub const SARIF_SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// Severity as code scanning reads it: `level` and the numeric `security-severity`.
fn level(l: Level) -> (&'static str, &'static str) {
    match l {
        Level::Critical => ("error", "9.5"),
        Level::High => ("error", "8.0"),
        Level::Medium => ("warning", "5.5"),
        Level::Low => ("note", "3.0"),
    }
}

pub fn sarif(o: &GateOutcome, pack: &RulePack, scanned: &str) -> String {
    let rules: Vec<Value> = pack
        .rules
        .iter()
        .map(|r| {
            let (lvl, sev) = level(r.severity);
            let attack: Vec<String> = r
                .attack
                .iter()
                .filter_map(|a| a.technique.as_ref().map(|t| format!("{t} ({})", a.evidence.as_str())))
                .collect();
            json!({
                "id": r.id,
                "name": r.name,
                "shortDescription": {"text": r.title},
                "fullDescription": {"text": r.description.trim()},
                "help": {
                    "text": format!("{}\n\nRemediation: {}", r.rationale.trim(), r.remediation.trim()),
                    "markdown": format!("**Why it matters.** {}\n\n**Remediation.** {}\n\nATT&CK: {}", r.rationale.trim(), r.remediation.trim(), attack.join(", ")),
                },
                "defaultConfiguration": {"level": lvl},
                "properties": {"security-severity": sev, "precision": "high", "tags": ["security", "cloud", "toxic-combination"]},
            })
        })
        .collect();
    let results: Vec<Value> = o
        .new
        .iter()
        .filter(|i| i.accepted_by.is_none())
        .map(|i| {
            let (lvl, _) = level(i.severity);
            let rule_index = pack.rules.iter().position(|r| r.id == i.rule).unwrap_or(0);
            let (file, line) = i.location.clone().unwrap_or_else(|| (scanned.to_string(), 1));
            // Entry and target, once each (they are the same resource for some rules).
            let mut logical = vec![json!({"fullyQualifiedName": i.entry, "kind": "resource"})];
            if !i.target.eq_ignore_ascii_case(&i.entry) {
                logical.push(json!({"fullyQualifiedName": i.target, "kind": "resource"}));
            }
            json!({
                "ruleId": i.rule,
                "ruleIndex": rule_index,
                "level": lvl,
                "message": {"text": format!("{}: {} -> {} (owner {}). Walk: {}", i.title, i.entry, i.target, i.owner, i.walk)},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {"uri": file.replace('\\', "/")},
                        "region": {"startLine": line.max(1)},
                    },
                    "logicalLocations": logical,
                }],
                "partialFingerprints": {"toxgraphFingerprint/v1": i.fingerprint},
                "properties": {"owner": i.owner, "entry": i.entry, "target": i.target},
            })
        })
        .collect();
    let doc = json!({
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "toxgraph",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }],
    });
    crate::report::pretty_json(&doc)
}
