//! Rules: one TOML file per rule, holding its metadata, its documentation and its path
//! pattern. The pack is the folder; nothing else registers a rule.
//!
//! TOML because it is what Rust tooling is configured in, and because the `toml` crate is
//! actively maintained and gives byte spans for every value (the YAML crates for serde are
//! unmaintained or unsound). Loading validates the whole pack and reports every problem
//! it finds, each with a caret under the offending text.

pub mod pattern;

use crate::diag::Diagnostic;
use crate::error::{Error, Result};
use crate::ingest::Level;
use pattern::Pattern;
use serde::Deserialize;
use std::path::Path;
use toml::Spanned;

/// How much a technique mapping can be trusted: detection and posture are never mixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Evidence {
    /// The rule requires an alert that detected this technique.
    DirectDetection,
    /// Detected activity nearby makes the technique plausible; not itself a detection.
    CorrelationContext,
    /// Configuration that would allow the technique; nothing was detected.
    PostureContext,
    /// The rule maps to no technique.
    NoMapping,
}

impl Evidence {
    pub const NAMES: &'static str =
        "direct-detection, correlation-context, posture-context, no-mapping";

    pub fn parse(s: &str) -> Option<Evidence> {
        Some(match s {
            "direct-detection" => Evidence::DirectDetection,
            "correlation-context" => Evidence::CorrelationContext,
            "posture-context" => Evidence::PostureContext,
            "no-mapping" => Evidence::NoMapping,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Evidence::DirectDetection => "direct-detection",
            Evidence::CorrelationContext => "correlation-context",
            Evidence::PostureContext => "posture-context",
            Evidence::NoMapping => "no-mapping",
        }
    }
}

/// An ATT&CK technique a rule maps to, with the evidence label that qualifies it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Attack {
    /// `None` only with [`Evidence::NoMapping`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub technique: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub evidence: Evidence,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Stable,
    Preview,
    Deprecated,
}

/// A validated rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub name: String,
    pub title: String,
    pub severity: Level,
    pub status: Status,
    pub since: Option<String>,
    /// What it finds.
    pub description: String,
    /// Why it matters.
    pub rationale: String,
    pub remediation: String,
    /// An example path, as a reader would draw it.
    pub example: Option<String>,
    pub references: Vec<String>,
    pub attack: Vec<Attack>,
    pub pattern_text: String,
    pub pattern: Pattern,
    /// The file it was read from (empty for ad-hoc queries).
    pub file: String,
}

impl Rule {
    /// A rule for a pattern typed on the command line: it reports, it does not judge.
    pub fn adhoc(text: &str) -> Result<Rule> {
        let pattern = pattern::parse(text).map_err(|e| {
            let d = Diagnostic::error("<query>", e.message.clone()).at_span(text, e.start, e.end);
            match &e.expected {
                Some(x) => d.expected(x.clone()),
                None => d,
            }
        })?;
        Ok(Rule {
            id: "query".into(),
            name: "query".into(),
            title: "ad-hoc query".into(),
            severity: Level::Low,
            status: Status::Preview,
            since: None,
            description: String::new(),
            rationale: String::new(),
            remediation: String::new(),
            example: None,
            references: vec![],
            attack: vec![],
            pattern_text: text.to_string(),
            pattern,
            file: String::new(),
        })
    }
}

/// The rules of one folder, sorted by id.
#[derive(Debug, Clone, Default)]
pub struct RulePack {
    pub rules: Vec<Rule>,
    /// `(file name, contents)` of every rule file, sorted by name: what lineage hashes.
    pub sources: Vec<(String, String)>,
}

impl RulePack {
    pub fn get(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id.eq_ignore_ascii_case(id))
    }

    /// Does any rule test `props.KEY`? If none does, the graph need not keep props.
    pub fn reads_props(&self) -> bool {
        self.rules.iter().any(|r| r.pattern.reads_props())
    }
}

/// The shipped pack, compiled into the binary so it works from any directory.
pub fn shipped() -> Result<RulePack> {
    let files: Vec<(String, String)> = SHIPPED
        .iter()
        .map(|(n, t)| (format!("rules/{n}"), (*t).to_string()))
        .collect();
    from_sources(files)
}

include!(concat!(env!("OUT_DIR"), "/shipped_rules.rs"));

/// Loads every `*.toml` in a folder (or a single rule file).
pub fn load(path: &Path) -> Result<RulePack> {
    let mut files = Vec::new();
    let read = crate::error::read_text;
    if path.is_dir() {
        let entries = std::fs::read_dir(path).map_err(crate::error::read_error(path))?;
        let mut paths: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        for p in paths {
            files.push((p.display().to_string(), read(&p)?));
        }
        if files.is_empty() {
            return Err(Error::Usage(format!(
                "{} holds no rule files (*.toml)",
                path.display()
            )));
        }
    } else {
        files.push((path.display().to_string(), read(path)?));
    }
    from_sources(files)
}

/// Validates rule files given as (name, text); every problem in every file is reported.
pub fn from_sources(files: Vec<(String, String)>) -> Result<RulePack> {
    let mut rules: Vec<Rule> = Vec::new();
    let mut diags = Vec::new();
    for (name, text) in &files {
        match parse_rule(name, text) {
            Ok(r) => {
                if let Some(prev) = rules.iter().find(|p| p.id.eq_ignore_ascii_case(&r.id)) {
                    diags.push(Diagnostic::error(
                        name.clone(),
                        format!("rule id `{}` is also used by {}", r.id, prev.file),
                    ));
                } else {
                    rules.push(r);
                }
            }
            Err(mut d) => diags.append(&mut d),
        }
    }
    if !diags.is_empty() {
        return Err(Error::Invalid(diags));
    }
    rules.sort_by(|a, b| a.id.cmp(&b.id));
    let mut sources = files;
    sources.sort();
    Ok(RulePack { rules, sources })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    id: Spanned<String>,
    name: Spanned<String>,
    title: String,
    severity: Spanned<String>,
    status: Option<Spanned<String>>,
    since: Option<String>,
    description: String,
    rationale: String,
    remediation: String,
    example: Option<String>,
    #[serde(default)]
    references: Vec<String>,
    pattern: Spanned<String>,
    #[serde(default)]
    attack: Vec<AttackFile>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttackFile {
    technique: Option<Spanned<String>>,
    name: Option<String>,
    evidence: Spanned<String>,
}

fn parse_rule(file: &str, text: &str) -> std::result::Result<Rule, Vec<Diagnostic>> {
    let raw: RuleFile = toml::from_str(text).map_err(|e| {
        vec![crate::diag::toml_error(file, text, &e).expected(
                "a rule file: id, name, title, severity, description, rationale, remediation, pattern, [[attack]]",
            )]
    })?;
    let mut diags = Vec::new();
    let at = |s: &std::ops::Range<usize>, msg: String, exp: &str| {
        Diagnostic::error(file, msg)
            .at_span(text, s.start, s.end)
            .expected(exp)
    };

    let id = raw.id.get_ref().clone();
    let idb = id.as_bytes();
    let letters = idb.iter().take_while(|c| c.is_ascii_uppercase()).count();
    if letters < 2 || letters == idb.len() || !idb[letters..].iter().all(u8::is_ascii_digit) {
        diags.push(at(
            &raw.id.span(),
            format!("rule id `{id}` is not of the form TC001"),
            "capital letters then digits, e.g. TC011",
        ));
    }
    let stem = Path::new(file)
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("");
    if !file.is_empty() && !stem.eq_ignore_ascii_case(&id) && !stem.is_empty() {
        diags.push(at(
            &raw.id.span(),
            format!("rule id `{id}` does not match its file name `{stem}.toml`"),
            &format!("the file to be named {id}.toml"),
        ));
    }
    let name = raw.name.get_ref().clone();
    let kebab = name.split('-').all(|w| {
        !w.is_empty()
            && w.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    });
    if !kebab {
        diags.push(at(
            &raw.name.span(),
            format!("rule name `{name}` is not kebab-case"),
            "lowercase words joined by `-` that describe the bad pattern",
        ));
    }
    let severity = Level::parse(raw.severity.get_ref());
    if severity.is_none() {
        diags.push(at(
            &raw.severity.span(),
            format!("unknown severity `{}`", raw.severity.get_ref()),
            &format!("one of {}", Level::NAMES),
        ));
    }
    let status_text = raw
        .status
        .as_ref()
        .map(|s| (s.get_ref().trim().to_ascii_lowercase(), s.span()));
    let status = match status_text.as_ref().map(|(t, s)| (t.as_str(), s.clone())) {
        None | Some(("stable", _)) => Status::Stable,
        Some(("preview", _)) => Status::Preview,
        Some(("deprecated", _)) => Status::Deprecated,
        Some((other, span)) => {
            diags.push(at(
                &span,
                format!("unknown status `{other}`"),
                "one of stable, preview, deprecated",
            ));
            Status::Stable
        }
    };

    let ptext = raw.pattern.get_ref().clone();
    let pattern = match pattern::parse(&ptext) {
        Ok(p) => Some(p),
        Err(e) => {
            let base = string_content_offset(text, &raw.pattern.span(), &ptext);
            let d =
                match base {
                    Some(b) => Diagnostic::error(file, format!("in pattern: {}", e.message))
                        .at_span(text, b + e.start, b + e.end),
                    None => Diagnostic::error(
                        file,
                        format!(
                            "in pattern: {} (at byte {} of the pattern)",
                            e.message, e.start
                        ),
                    )
                    .at_span(
                        text,
                        raw.pattern.span().start,
                        raw.pattern.span().start + 1,
                    ),
                };
            diags.push(match e.expected {
                Some(x) => d.expected(x),
                None => d,
            });
            None
        }
    };

    let mut attack = Vec::new();
    for a in &raw.attack {
        let Some(ev) = Evidence::parse(&a.evidence.get_ref().trim().to_ascii_lowercase()) else {
            diags.push(at(
                &a.evidence.span(),
                format!("unknown evidence label `{}`", a.evidence.get_ref()),
                &format!("one of {}", Evidence::NAMES),
            ));
            continue;
        };
        let technique = a.technique.as_ref().map(|t| t.get_ref().clone());
        match (&a.technique, ev) {
            (None, Evidence::NoMapping) => {}
            (Some(t), Evidence::NoMapping) => diags.push(at(
                &t.span(),
                "`no-mapping` with a technique".into(),
                "no `technique` key, or another evidence label",
            )),
            (None, _) => diags.push(at(
                &a.evidence.span(),
                "a technique mapping without `technique`".into(),
                "`technique = \"T1190\"`, or evidence = \"no-mapping\"",
            )),
            (Some(t), _) => {
                if !is_technique(t.get_ref()) {
                    diags.push(at(
                        &t.span(),
                        format!("`{}` is not an ATT&CK technique id", t.get_ref()),
                        "an id like T1190 or T1078.004",
                    ));
                }
            }
        }
        let technique_ref = a.technique.as_ref().map(|t| t.get_ref().as_str());
        if ev == Evidence::DirectDetection
            && pattern
                .as_ref()
                .is_some_and(|p| !p.requires_alert(technique_ref))
        {
            diags.push(at(
                &a.evidence.span(),
                "`direct-detection` on a rule whose pattern requires no alert: posture is not detection".into(),
                "posture-context or correlation-context, or a pattern with finding: {class: alert, state: active, technique: ...} naming this technique",
            ));
        }
        attack.push(Attack {
            technique,
            name: a.name.clone(),
            evidence: ev,
        });
    }

    if !diags.is_empty() {
        return Err(diags);
    }
    let (Some(severity), Some(pattern)) = (severity, pattern) else {
        return Err(diags);
    };
    Ok(Rule {
        id,
        name,
        title: raw.title,
        severity,
        status,
        since: raw.since,
        description: raw.description,
        rationale: raw.rationale,
        remediation: raw.remediation,
        example: raw.example,
        references: raw.references,
        attack,
        pattern_text: ptext,
        pattern,
        file: file.to_string(),
    })
}

/// `T1234` or `T1234.567`.
fn is_technique(s: &str) -> bool {
    let b = s.as_bytes();
    let base = b.len() >= 5 && b[0] == b'T' && b[1..5].iter().all(u8::is_ascii_digit);
    base && (b.len() == 5
        || (b.len() == 9 && b[5] == b'.' && b[6..].iter().all(u8::is_ascii_digit)))
}

/// Where a TOML string value's content starts in the file, when content offsets map
/// one-to-one onto file offsets (literal strings, or basic strings without escapes).
fn string_content_offset(
    text: &str,
    span: &std::ops::Range<usize>,
    content: &str,
) -> Option<usize> {
    let raw = text.get(span.clone())?;
    let (q, multi) = if raw.starts_with("'''") {
        ("'''", true)
    } else if raw.starts_with("\"\"\"") {
        ("\"\"\"", true)
    } else if raw.starts_with('\'') {
        ("'", false)
    } else {
        ("\"", false)
    };
    let mut start = span.start + q.len();
    if multi {
        if text[start..].starts_with("\r\n") {
            start += 2;
        } else if text[start..].starts_with('\n') {
            start += 1;
        }
    }
    (text.get(start..start + content.len()) == Some(content)).then_some(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_props_tests_read_props() {
        let pack = |text: &str| RulePack {
            rules: vec![Rule::adhoc(text).unwrap()],
            sources: vec![],
        };
        assert!(pack(r#"(a {props.osType: "linux"})"#).reads_props());
        assert!(pack(r#"(a)-[:reaches]->(b {not props.x})"#).reads_props());
        assert!(!pack(r#"(a {tags.props: "x", sensitivity: "high"})"#).reads_props());
        assert!(!shipped().unwrap().reads_props());
    }

    const GOOD: &str = r#"id = "TC900"
name = "test-rule"
title = "Test"
severity = "high"
description = "d"
rationale = "r"
remediation = "m"
pattern = '''
(internet)-[:exposes]->(target:resource)
'''

[[attack]]
technique = "T1190"
name = "Exploit Public-Facing Application"
evidence = "posture-context"
"#;

    fn check(text: &str) -> std::result::Result<RulePack, Vec<Diagnostic>> {
        from_sources(vec![("rules/TC900.toml".into(), text.into())]).map_err(|e| match e {
            Error::Invalid(d) => d,
            other => panic!("{other}"),
        })
    }

    #[test]
    fn good_rule_loads() {
        let pack = check(GOOD).unwrap();
        assert_eq!(pack.rules[0].id, "TC900");
        assert_eq!(pack.rules[0].severity, Level::High);
    }

    #[test]
    fn pattern_error_points_into_the_file() {
        let bad = GOOD.replace("[:exposes]", "[:expose]");
        let d = check(&bad).unwrap_err();
        assert_eq!(d[0].line, 9, "{}", d[0]);
        assert_eq!(d[0].col, 14, "{}", d[0]);
        assert!(
            d[0].to_string().contains("^^^^^^ expected one of exposes"),
            "{}",
            d[0]
        );
    }

    #[test]
    fn every_problem_is_reported() {
        let bad = GOOD
            .replace("\"high\"", "\"hihg\"")
            .replace("posture-context", "posture");
        let d = check(&bad).unwrap_err();
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d[0].message.contains("unknown severity `hihg`"));
        assert!(d[1].message.contains("unknown evidence label `posture`"));
    }

    #[test]
    fn direct_detection_needs_an_alert() {
        let bad = GOOD.replace("posture-context", "direct-detection");
        let d = check(&bad).unwrap_err();
        assert!(
            d[0].message.contains("posture is not detection"),
            "{}",
            d[0]
        );
        let ok = bad.replace(
            "(target:resource)",
            "(target:resource {finding: {class: alert, state: active, technique: \"T1190\"}})",
        );
        assert!(check(&ok).is_ok());
        // An alert about another technique does not make this one a detection.
        let other = ok.replace("technique: \"T1190\"}", "technique: \"T1110\"}");
        assert!(check(&other).is_err());
    }

    #[test]
    fn unknown_key_and_mismatched_file_name() {
        let d = check(&GOOD.replace("rationale", "rational")).unwrap_err();
        assert!(d[0].message.contains("rational"), "{}", d[0]);
        assert_eq!(d[0].line, 6);
        let d = check(&GOOD.replace("TC900", "TC901")).unwrap_err();
        assert!(d[0].message.contains("does not match its file name"));
    }
}
