//! The CI gate: new, resolved and persisting combinations, --fail-on, exceptions that
//! expire, malformed inputs, order and casing independence, and SARIF.

use crate::util::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

const VM: &str = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/vm";
const ST: &str = "/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/st";

/// A small estate: `exposed_storage` makes TC004 (high) fire, `exposed_vm_with_key_vault`
/// makes TC008 (medium) fire.
fn estate(dir: &Path, name: &str, exposed_storage: bool, kv_reach: bool) -> String {
    let mut lines = vec![
        HEADER.to_string(),
        r#"{"type":"scope","id":"/subscriptions/s/resourceGroups/g","kind":"resource_group","tags":{"owner":"web"}}"#.into(),
        format!(r#"{{"type":"resource","id":"{VM}","kind":"Microsoft.Compute/virtualMachines"}}"#),
        format!(r#"{{"type":"resource","id":"{ST}","kind":"Microsoft.Storage/storageAccounts","props":{{"sensitivity":"high"}}}}"#),
        r#"{"type":"resource","id":"/subscriptions/s/resourceGroups/g/providers/Microsoft.KeyVault/vaults/kv","kind":"Microsoft.KeyVault/vaults"}"#.into(),
        format!(r#"{{"type":"exposure","resource":"{VM}","from":"internet","ports":[443]}}"#),
    ];
    if exposed_storage {
        lines.push(format!(
            r#"{{"type":"exposure","resource":"{ST}","from":"internet"}}"#
        ));
    }
    if kv_reach {
        lines.push(format!(r#"{{"type":"reach","from":"{VM}","to":"/subscriptions/s/resourceGroups/g/providers/Microsoft.KeyVault/vaults/kv"}}"#));
    }
    let p = dir.join(name);
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    p.display().to_string()
}

fn gate(args: &[&str]) -> (i32, String, String) {
    let mut a = vec!["gate"];
    a.extend_from_slice(args);
    run(&a, None)
}

#[test]
fn new_resolved_persisting_and_fail_on() {
    let dir = tempfile::tempdir().unwrap();
    let before = estate(dir.path(), "before.jsonl", true, false);
    let after = estate(dir.path(), "after.jsonl", false, true);
    // TC004 resolved (good news), TC008 new but medium: passes at the default --fail-on high.
    let (code, out, err) = gate(&["--before", &before, "--after", &after]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("Resolved (good news): 1 combinations"),
        "{out}"
    );
    assert!(out.contains("new, below --fail-on high"), "{out}");
    assert!(
        out.contains(
            "gate passed: 0 new at or above high (1 new in all, 0 persisting, 1 resolved)"
        ),
        "{out}"
    );
    // The same at --fail-on medium fails, listing the walk and the remediation.
    let (code, out, _) = gate(&[
        "--before",
        &before,
        "--after",
        &after,
        "--fail-on",
        "medium",
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("TC008 medium")
            && out.contains("[NEW]")
            && out.contains("internet -exposes[443]-> vm -reaches-> kv"),
        "{out}"
    );
    assert!(
        out.contains("fix: Put the key vault behind a private endpoint"),
        "{out}"
    );
    // Persisting only: pass.
    let (code, out, _) = gate(&["--before", &after, "--after", &after, "--fail-on", "low"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("(0 new in all, 1 persisting, 0 resolved)"),
        "{out}"
    );
}

#[test]
fn baseline_round_trip_keeps_first_seen() {
    let dir = tempfile::tempdir().unwrap();
    let snap = estate(dir.path(), "s.jsonl", true, true);
    let base = dir.path().join("baseline.json");
    let (code, _, err) = run(&["baseline", &snap, "-o", base.to_str().unwrap()], None);
    assert_eq!(code, 0, "{err}");
    let b: Value = serde_json::from_str(&std::fs::read_to_string(&base).unwrap()).unwrap();
    let fps: Vec<&str> = b["combinations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["fingerprint"].as_str().unwrap())
        .collect();
    let mut sorted = fps.clone();
    sorted.sort();
    assert_eq!(fps, sorted, "sorted by fingerprint");
    assert_eq!(b["combinations"][0]["first_seen"], "2026-09-30T00:00:00Z");
    // A later snapshot with --update keeps the first-seen date.
    let later = std::fs::read_to_string(&snap)
        .unwrap()
        .replace("2026-09-30", "2026-12-31");
    std::fs::write(&snap, later).unwrap();
    let (code, _, _) = run(
        &["baseline", &snap, "-o", base.to_str().unwrap(), "--update"],
        None,
    );
    assert_eq!(code, 0);
    let b2: Value = serde_json::from_str(&std::fs::read_to_string(&base).unwrap()).unwrap();
    assert_eq!(b2["combinations"][0]["first_seen"], "2026-09-30T00:00:00Z");
    assert_eq!(b2["taken_at"], "2026-12-31T00:00:00Z");
    let (code, _, _) = gate(&[
        &snap,
        "--baseline",
        base.to_str().unwrap(),
        "--fail-on",
        "low",
    ]);
    assert_eq!(code, 0);
}

#[test]
fn exceptions_active_and_expired() {
    let dir = tempfile::tempdir().unwrap();
    let before = estate(dir.path(), "before.jsonl", false, false);
    let after = estate(dir.path(), "after.jsonl", true, false);
    let ex = dir.path().join("exceptions.toml");
    let write = |expires: &str| {
        std::fs::write(
            &ex,
            format!("[[exception]]\nrule = \"TC004\"\nentry = \"/subscriptions/*/storageAccounts/st\"\nowner = \"web\"\nreason = \"migration\"\nticket = \"SEC-42\"\ncreated = \"2026-09-01\"\nexpires = \"{expires}\"\n"),
        )
        .unwrap();
    };
    write("2026-12-31");
    let (code, out, _) = gate(&[
        "--before",
        &before,
        "--after",
        &after,
        "--exceptions",
        ex.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("accepted by SEC-42"), "{out}");
    assert!(
        out.contains("active, expires 2026-12-31, open 29 days, matched 1"),
        "{out}"
    );
    assert!(out.contains("average days open: 29.0"), "{out}");
    write("2026-09-29");
    let (code, out, _) = gate(&[
        "--before",
        &before,
        "--after",
        &after,
        "--exceptions",
        ex.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("EXPIRED, no longer suppresses"), "{out}");
    // No expiry: rejected, exit 2, pointing into the file.
    std::fs::write(
        &ex,
        "[[exception]]\nrule = \"TC004\"\nowner = \"web\"\nreason = \"r\"\nticket = \"T\"\n",
    )
    .unwrap();
    let (code, _, err) = gate(&[
        "--before",
        &before,
        "--after",
        &after,
        "--exceptions",
        ex.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("missing field `expires`") && err.contains("exceptions.toml:"),
        "{err}"
    );
    assert!(
        err.contains("an exception without one is rejected"),
        "{err}"
    );
}

#[test]
fn malformed_baseline_is_an_error_never_a_pass() {
    let dir = tempfile::tempdir().unwrap();
    let snap = estate(dir.path(), "s.jsonl", true, false);
    let base = dir.path().join("baseline.json");
    std::fs::write(&base, "{\"schema\": \"toxgraph.baseline/v1\",\n \"taken_at\": \"x\",\n \"combinations\": [{\"fingerprint\": 1}]}\n").unwrap();
    let (code, _, err) = gate(&[&snap, "--baseline", base.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("malformed baseline") && err.contains("baseline.json:3:"),
        "{err}"
    );
    std::fs::write(&base, "not json").unwrap();
    let (code, _, _) = gate(&[&snap, "--baseline", base.to_str().unwrap()]);
    assert_eq!(code, 2);
}

#[test]
fn shuffled_and_recased_snapshot_gives_no_new_combinations() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixture("demo/estate.jsonl")).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let header = lines.remove(0);
    // The last two lines are the demo's duplicate definitions, where line order has meaning.
    let n = lines.len();
    lines[..n - 2].reverse();
    let body: Vec<String> = lines
        .iter()
        .map(|l| {
            l.replace("resourceGroups", "RESOURCEGROUPS")
                .replace("/subscriptions/", "/SUBSCRIPTIONS/")
        })
        .collect();
    let shuffled = dir.path().join("shuffled.jsonl");
    std::fs::write(&shuffled, format!("{header}\n{}\n", body.join("\n"))).unwrap();
    let (code, out, err) = gate(&[
        "--before",
        "fixtures/demo/estate.jsonl",
        "--after",
        shuffled.to_str().unwrap(),
        "--fail-on",
        "low",
    ]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("(0 new in all, 20 persisting, 0 resolved)"),
        "{out}"
    );
}

fn fingerprints(scan_json: &str) -> BTreeSet<String> {
    let v: Value = serde_json::from_str(scan_json).unwrap();
    v["combinations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["fingerprint"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn generated_quarters_new_is_exactly_q2_minus_q1() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    run(
        &["generate", "--resources", "4000", "--seed", "8", "-o", d],
        None,
    );
    let (q1, q2) = (format!("{d}/q1.jsonl"), format!("{d}/q2.jsonl"));
    let (_, s1, _) = run(&["scan", &q1, "--format", "json"], None);
    let (_, s2, _) = run(&["scan", &q2, "--format", "json"], None);
    let want: BTreeSet<String> = fingerprints(&s2)
        .difference(&fingerprints(&s1))
        .cloned()
        .collect();
    assert!(
        !want.is_empty(),
        "the generated quarter adds toxic combinations"
    );
    let (code, out, _) = gate(&[
        "--before",
        &q1,
        "--after",
        &q2,
        "--format",
        "json",
        "--fail-on",
        "low",
    ]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&out).unwrap();
    let got: BTreeSet<String> = v["new"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["fingerprint"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(got, want);
}

#[test]
fn sarif_and_junit_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let before = estate(dir.path(), "before.jsonl", false, false);
    let after = estate(dir.path(), "after.jsonl", true, true);
    let (code, sarif, _) = gate(&["--before", &before, "--after", &after, "--format", "sarif"]);
    assert_eq!(code, 1);
    let v: Value = serde_json::from_str(&sarif).unwrap();
    // Valid against the official SARIF 2.1.0 JSON Schema (OASIS), which the serde-sarif
    // package ships; and its object model, generated from that schema, reads it.
    // The published schema's `language` patterns have a stray `]` (an erratum that the
    // schema's own meta-schema rejects); they are replaced by the intended pattern, the
    // rest of the schema is used as published.
    let text = std::fs::read_to_string(sarif_schema()).unwrap();
    let bad = r#""^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$""#;
    assert!(text.contains(bad));
    let schema: Value =
        serde_json::from_str(&text.replace(bad, r#""^[a-zA-Z]{2}(-[a-zA-Z]{2})?$""#)).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the SARIF schema compiles");
    let errors: Vec<String> = validator
        .iter_errors(&v)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let parsed: serde_sarif::sarif::Sarif =
        serde_json::from_str(&sarif).expect("valid SARIF 2.1.0");
    assert_eq!(parsed.runs.len(), 1);
    assert_eq!(v["version"], "2.1.0");
    let rules = v["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
    assert!(
        rules.len() >= 10
            && rules.iter().all(|r| r["help"]["text"].is_string()
                && r["properties"]["security-severity"].is_string())
    );
    let results = v["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    for r in results {
        assert_eq!(
            r["partialFingerprints"]["toxgraphFingerprint/v1"]
                .as_str()
                .unwrap()
                .len(),
            64
        );
        let loc = &r["locations"][0]["physicalLocation"];
        assert!(loc["artifactLocation"]["uri"]
            .as_str()
            .unwrap()
            .ends_with("after.jsonl"));
        assert!(
            loc["region"]["startLine"].as_u64().unwrap() >= 2,
            "the line defining the entry"
        );
        let rule = r["ruleId"].as_str().unwrap();
        assert_eq!(
            r["level"],
            if rule == "TC004" { "error" } else { "warning" }
        );
    }
    let (_, junit, _) = gate(&["--before", &before, "--after", &after, "--format", "junit"]);
    assert!(junit.starts_with("<?xml") && junit.contains("failures=\"1\"") && junit.contains("<failure message=\"Storage account holding sensitive data is open to the internet\""), "{junit}");
}

/// The official SARIF 2.1.0 schema, as shipped inside the serde-sarif package in the cargo
/// registry (a dev-dependency, so it is always fetched before the tests run).
fn sarif_schema() -> std::path::PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cargo")
        });
    let src = home.join("registry").join("src");
    for index in std::fs::read_dir(&src).unwrap() {
        for pkg in std::fs::read_dir(index.unwrap().path()).unwrap() {
            let p = pkg.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with("serde-sarif-0.8") && p.join("src/schema.json").is_file() {
                return p.join("src/schema.json");
            }
        }
    }
    panic!(
        "the SARIF schema from serde-sarif is not in {}",
        src.display()
    );
}
