//! The CI gate: compare the combinations of a snapshot with a baseline (or with another
//! snapshot), fail on new ones at or above a severity, honour risk acceptances that expire,
//! and say so in text, JSON, SARIF 2.1.0 or JUnit.

mod exceptions;
pub mod sarif;

pub use exceptions::{load_exceptions, Exception};

use crate::diag::Diagnostic;
use crate::error::Result;
use crate::graph::Graph;
use crate::ingest::Level;
use crate::report::xml_escape as xml;
use crate::rules::RulePack;
use crate::scan::Combination;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

pub const BASELINE_SCHEMA: &str = "toxgraph.baseline/v1";

/// One accepted combination in a baseline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaselineEntry {
    pub fingerprint: String,
    pub rule: String,
    pub entry: String,
    pub target: String,
    pub owner: String,
    /// `taken_at` of the first snapshot the combination was seen in.
    pub first_seen: String,
}

/// A baseline: sorted by fingerprint so that reviews show small diffs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    pub schema: String,
    pub taken_at: String,
    pub combinations: Vec<BaselineEntry>,
}

impl Baseline {
    /// The baseline of a scan; with `previous`, first-seen dates are kept.
    pub fn from_scan(
        g: &Graph,
        pack: &RulePack,
        combos: &[Combination],
        previous: Option<&Baseline>,
    ) -> Baseline {
        let kept: BTreeMap<&str, &str> = previous
            .map(|b| {
                b.combinations
                    .iter()
                    .map(|e| (e.fingerprint.as_str(), e.first_seen.as_str()))
                    .collect()
            })
            .unwrap_or_default();
        let mut combinations: Vec<BaselineEntry> = combos
            .iter()
            .map(|c| BaselineEntry {
                fingerprint: c.fingerprint.clone(),
                rule: pack.rules[c.rule].id.clone(),
                entry: g.id(c.entry).to_string(),
                target: g.id(c.target).to_string(),
                owner: g.owner(c.entry).to_string(),
                first_seen: kept
                    .get(c.fingerprint.as_str())
                    .map_or_else(|| g.meta.taken_at.clone(), |s| s.to_string()),
            })
            .collect();
        combinations.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
        combinations.dedup_by(|a, b| a.fingerprint == b.fingerprint);
        Baseline {
            schema: BASELINE_SCHEMA.into(),
            taken_at: g.meta.taken_at.clone(),
            combinations,
        }
    }

    pub fn to_json(&self) -> String {
        crate::report::pretty_json(self)
    }

    /// Reads a baseline; a malformed one is an error with the line and column, never a pass.
    pub fn read(path: &Path) -> Result<Baseline> {
        let text = crate::error::read_text(path)?;
        let file = path.display().to_string();
        let b: Baseline = serde_json::from_str(&text).map_err(|e| {
            let line = e.line().max(1);
            let msg = crate::diag::json_message(&e);
            Diagnostic::error(file.clone(), format!("malformed baseline: {msg}"))
                .at_line(
                    line,
                    e.column().max(1),
                    text.lines().nth(line - 1).unwrap_or(""),
                )
                .expected(format!(
                    "a {BASELINE_SCHEMA} file written by `toxgraph baseline`"
                ))
        })?;
        if b.schema != BASELINE_SCHEMA {
            return Err(Diagnostic::error(
                file,
                format!("baseline schema `{}` is not {BASELINE_SCHEMA}", b.schema),
            )
            .expected("a baseline written by this version of toxgraph")
            .into());
        }
        Ok(b)
    }
}

/// A combination as the gate reports it.
#[derive(Debug, Clone, Serialize)]
pub struct GateItem {
    pub fingerprint: String,
    pub rule: String,
    pub severity: Level,
    pub title: String,
    pub entry: String,
    pub target: String,
    pub owner: String,
    pub walk: String,
    pub remediation: String,
    /// For SARIF: the snapshot file and line defining the entry.
    #[serde(skip)]
    pub location: Option<(String, usize)>,
    /// An active exception that accepts it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted_by: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExceptionStatus {
    pub id: String,
    pub owner: String,
    pub ticket: String,
    pub expires: String,
    pub expired: bool,
    /// Days from `created` to the snapshot's date.
    pub days_open: Option<i64>,
    pub matched: usize,
}

/// The gate's verdict and everything behind it.
#[derive(Debug, Clone, Serialize)]
pub struct GateOutcome {
    pub schema: &'static str,
    pub fail_on: Level,
    pub failed: bool,
    /// New combinations at or above `fail_on`, not accepted.
    pub failing: usize,
    pub new: Vec<GateItem>,
    pub resolved: Vec<BaselineEntry>,
    pub persisting: usize,
    pub exceptions: Vec<ExceptionStatus>,
    pub average_exception_days_open: Option<String>,
}

/// Compares `after` (graph and combinations) with the accepted fingerprints.
pub fn evaluate(
    g: &Graph,
    pack: &RulePack,
    combos: &[Combination],
    accepted: &Baseline,
    exceptions: &[Exception],
    fail_on: Level,
) -> GateOutcome {
    let known: std::collections::BTreeSet<&str> = accepted
        .combinations
        .iter()
        .map(|e| e.fingerprint.as_str())
        .collect();
    let now_date = &g.meta.taken_at[..g.meta.taken_at.len().min(10)];
    let mut matched = vec![0usize; exceptions.len()];
    let mut new = Vec::new();
    let mut persisting = 0;
    let mut seen = std::collections::BTreeSet::new();
    for c in combos {
        if !seen.insert(c.fingerprint.as_str()) {
            continue;
        }
        if known.contains(c.fingerprint.as_str()) {
            persisting += 1;
            continue;
        }
        let rule = &pack.rules[c.rule];
        let entry = g.id(c.entry).to_string();
        let accepted_by = exceptions.iter().enumerate().find_map(|(i, x)| {
            let hit = x.matches(&c.fingerprint, &rule.id, &entry);
            if hit {
                matched[i] += 1;
            }
            (hit && !x.expired(now_date)).then(|| x.id())
        });
        let steps: Vec<_> = c
            .walk
            .iter()
            .map(|s| crate::report::step_doc(g, s))
            .collect();
        let origin = g.node(c.entry).origin;
        new.push(GateItem {
            fingerprint: c.fingerprint.clone(),
            rule: rule.id.clone(),
            severity: rule.severity,
            title: rule.title.clone(),
            target: g.id(c.target).to_string(),
            owner: g.owner(c.entry).to_string(),
            walk: crate::report::walk_line(&steps),
            remediation: rule.remediation.trim().to_string(),
            location: origin.map(|o| {
                (
                    g.files.get(o.file as usize).cloned().unwrap_or_default(),
                    o.line as usize,
                )
            }),
            accepted_by,
            entry,
        });
    }
    let resolved: Vec<BaselineEntry> = accepted
        .combinations
        .iter()
        .filter(|e| !seen.contains(e.fingerprint.as_str()))
        .cloned()
        .collect();
    let failing = new
        .iter()
        .filter(|i| i.severity >= fail_on && i.accepted_by.is_none())
        .count();
    let statuses: Vec<ExceptionStatus> = exceptions
        .iter()
        .zip(&matched)
        .map(|(x, m)| ExceptionStatus {
            id: x.id(),
            owner: x.owner.clone(),
            ticket: x.ticket.clone(),
            expires: x.expires.clone(),
            expired: x.expired(now_date),
            days_open: x.days_open(now_date),
            matched: *m,
        })
        .collect();
    let ages: Vec<i64> = statuses.iter().filter_map(|s| s.days_open).collect();
    let average = (!ages.is_empty()).then(|| {
        let tenths = (ages.iter().sum::<i64>() * 10 + ages.len() as i64 / 2) / ages.len() as i64;
        format!("{}.{}", tenths / 10, tenths % 10)
    });
    GateOutcome {
        schema: "toxgraph.gate/v1",
        fail_on,
        failed: failing > 0,
        failing,
        new,
        resolved,
        persisting,
        exceptions: statuses,
        average_exception_days_open: average,
    }
}

/// The text report: each new combination with its walk and remediation, resolved ones as
/// good news, exceptions with their ageing, then a one-line verdict.
pub fn text(o: &GateOutcome) -> String {
    let mut s = String::new();
    for i in &o.new {
        let flag = match (&i.accepted_by, i.severity >= o.fail_on) {
            (Some(x), _) => format!("accepted by {x}"),
            (None, true) => "NEW".into(),
            (None, false) => format!("new, below --fail-on {}", o.fail_on.as_str()),
        };
        let _ = writeln!(
            s,
            "{} {} {}  [{flag}]  owner: {}",
            i.rule,
            i.severity.as_str(),
            i.title,
            i.owner
        );
        let _ = writeln!(s, "    {}", i.walk);
        let _ = writeln!(s, "    fix: {}", i.remediation.lines().next().unwrap_or(""));
    }
    if !o.resolved.is_empty() {
        let _ = writeln!(
            s,
            "\nResolved (good news): {} combinations",
            o.resolved.len()
        );
        for r in o.resolved.iter().take(20) {
            let _ = writeln!(s, "  {} {} -> {}", r.rule, r.entry, r.target);
        }
    }
    if !o.exceptions.is_empty() {
        let _ = writeln!(s, "\nExceptions");
        for x in &o.exceptions {
            let age = x
                .days_open
                .map_or(String::new(), |d| format!(", open {d} days"));
            let state = if x.expired {
                "EXPIRED, no longer suppresses"
            } else {
                "active"
            };
            let _ = writeln!(
                s,
                "  {} ({}, {}): {state}, expires {}{age}, matched {}",
                x.id, x.owner, x.ticket, x.expires, x.matched
            );
        }
        if let Some(a) = &o.average_exception_days_open {
            let _ = writeln!(s, "  average days open: {a}");
        }
    }
    let _ = writeln!(s, "\n{}", verdict_line(o));
    s
}

/// The text report's last line: the verdict, with its counts. Printed on its own to
/// standard error when the report itself goes to a file in another format.
pub fn verdict_line(o: &GateOutcome) -> String {
    let verdict = if o.failed { "FAILED" } else { "passed" };
    format!(
        "gate {verdict}: {} new at or above {} ({} new in all, {} persisting, {} resolved)",
        o.failing,
        o.fail_on.as_str(),
        o.new.len(),
        o.persisting,
        o.resolved.len()
    )
}

pub fn json(o: &GateOutcome) -> String {
    crate::report::pretty_json(o)
}

/// JUnit XML for Azure DevOps test results: one test case per new combination.
pub fn junit(o: &GateOutcome) -> String {
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        s,
        "<testsuites name=\"toxgraph gate\" tests=\"{}\" failures=\"{}\">",
        o.new.len(),
        o.failing
    );
    let _ = writeln!(
        s,
        "  <testsuite name=\"new toxic combinations\" tests=\"{}\" failures=\"{}\">",
        o.new.len(),
        o.failing
    );
    for i in &o.new {
        let name = format!("{} {} -> {}", i.rule, i.entry, i.target);
        let _ = write!(
            s,
            "    <testcase classname=\"toxgraph.{}\" name=\"{}\">",
            xml(&i.rule),
            xml(&name)
        );
        if i.severity >= o.fail_on && i.accepted_by.is_none() {
            let _ = write!(
                s,
                "<failure message=\"{}\" type=\"{}\">{}\n{}</failure>",
                xml(&i.title),
                i.severity.as_str(),
                xml(&i.walk),
                xml(&i.remediation)
            );
        } else {
            s.push_str("<skipped/>");
        }
        s.push_str("</testcase>\n");
    }
    s.push_str("  </testsuite>\n</testsuites>\n");
    s
}
