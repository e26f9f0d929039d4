//! The same estate gives byte-identical output whatever the thread count, the order of its
//! lines and the casing of its references.

use crate::util::*;
use serde_json::Value;
use std::collections::HashSet;

/// Deterministic Fisher-Yates with a small LCG, so the test needs no RNG crate.
fn shuffle<T>(v: &mut [T], mut seed: u64) {
    for i in (1..v.len()).rev() {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let j = (seed >> 33) as usize % (i + 1);
        v.swap(i, j);
    }
}

/// Upper-cases every reference to a defined node (definitions keep their spelling, so the
/// displayed ids must not change).
fn recase(lines: &[String]) -> Vec<String> {
    let defined: HashSet<String> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| matches!(v["type"].as_str(), Some("scope" | "resource" | "identity")))
        .filter_map(|v| v["id"].as_str().map(|s| s.to_ascii_lowercase()))
        .collect();
    let up = |v: &mut Value| {
        if let Some(s) = v.as_str() {
            if defined.contains(&s.to_ascii_lowercase()) {
                *v = Value::String(s.to_ascii_uppercase());
            }
        }
    };
    lines
        .iter()
        .map(|l| {
            let Ok(mut v) = serde_json::from_str::<Value>(l) else {
                return l.clone();
            };
            for key in [
                "resource",
                "from",
                "to",
                "principal",
                "scope",
                "group",
                "member",
                "parent",
            ] {
                if v["type"] != "scope" && v["type"] != "resource" || key == "parent" {
                    if let Some(x) = v.get_mut(key) {
                        up(x);
                    }
                }
            }
            if let Some(Value::Array(a)) = v.get_mut("attached_to") {
                a.iter_mut().for_each(up);
            }
            serde_json::to_string(&v).unwrap()
        })
        .collect()
}

fn scan_json(dir: &std::path::Path, threads: &str) -> String {
    let (code, out, err) = run(
        &[
            "scan",
            "estate.jsonl",
            "--format",
            "json",
            "--threads",
            threads,
        ],
        Some(dir),
    );
    assert_eq!(code, 0, "{err}");
    out
}

fn without_warnings(json: &str) -> String {
    let mut v: Value = serde_json::from_str(json).unwrap();
    v.as_object_mut().unwrap().remove("warnings");
    serde_json::to_string_pretty(&v).unwrap()
}

#[test]
fn shuffled_recased_and_threaded_runs_agree() {
    let text = std::fs::read_to_string(fixture("demo/estate.jsonl")).unwrap();
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    std::fs::write(a.path().join("estate.jsonl"), &text).unwrap();
    // Keep the header first and the two conflicting duplicates (the only place where line
    // order has meaning) last, in order; shuffle everything between.
    let n = lines.len();
    let mut middle = lines[1..n - 2].to_vec();
    shuffle(&mut middle, 7);
    let mut shuffled = vec![lines[0].clone()];
    shuffled.extend(recase(&middle));
    shuffled.extend_from_slice(&lines[n - 2..]);
    std::fs::write(b.path().join("estate.jsonl"), shuffled.join("\n") + "\n").unwrap();

    let one = scan_json(a.path(), "1");
    let many = scan_json(a.path(), "4");
    assert_eq!(one, many, "thread count changed the output");
    let other = scan_json(b.path(), "3");
    // Warnings name line numbers, which shuffling moves; everything else is identical.
    assert_eq!(without_warnings(&one), without_warnings(&other));
    let count = |j: &str| serde_json::from_str::<Value>(j).unwrap()["counts"]["warnings"].clone();
    assert_eq!(count(&one), count(&other));
}

#[test]
fn warning_free_estate_is_byte_identical_when_shuffled() {
    for id in ["TC001", "TC002", "TC007", "TC010"] {
        let text = std::fs::read_to_string(fixture(&format!("rules/{id}/match.jsonl"))).unwrap();
        let lines: Vec<String> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(str::to_string)
            .collect();
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        std::fs::write(a.path().join("estate.jsonl"), &text).unwrap();
        let mut rest = lines[1..].to_vec();
        shuffle(&mut rest, 42);
        let mut shuffled = vec![lines[0].clone()];
        shuffled.extend(recase(&rest));
        std::fs::write(b.path().join("estate.jsonl"), shuffled.join("\n") + "\n").unwrap();
        let x = scan_json(a.path(), "1");
        let y = scan_json(b.path(), "2");
        assert_eq!(x, y, "{id}");
    }
}

#[test]
fn generated_estate_is_identical_across_threads_order_and_casing() {
    let gen = tempfile::tempdir().unwrap();
    let (code, _, err) = run(
        &[
            "generate",
            "--resources",
            "10000",
            "--seed",
            "5",
            "-o",
            gen.path().to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(gen.path().join("q1.jsonl")).unwrap();
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    std::fs::write(a.path().join("estate.jsonl"), &text).unwrap();
    let mut rest = lines[1..].to_vec();
    shuffle(&mut rest, 99);
    let mut shuffled = vec![lines[0].clone()];
    shuffled.extend(recase(&rest));
    std::fs::write(b.path().join("estate.jsonl"), shuffled.join("\n") + "\n").unwrap();
    let one = scan_json(a.path(), "1");
    let v: Value = serde_json::from_str(&one).unwrap();
    assert!(
        v["counts"]["combinations"].as_u64().unwrap() > 100,
        "the estate is toxic enough to test"
    );
    assert_eq!(v["counts"]["warnings"], 0);
    assert_eq!(
        one,
        scan_json(a.path(), "2"),
        "thread count changed the output"
    );
    assert_eq!(
        one,
        scan_json(b.path(), "2"),
        "line order or casing changed the output"
    );
}

/// Regression: with two edges between the same nodes (two exposures of one VM, two roles
/// on one scope), the witness took whichever line came first.
#[test]
fn parallel_edges_are_chosen_the_same_way_in_any_line_order() {
    let lines = [
        r#"{"type":"resource","id":"/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/vm","kind":"Microsoft.Compute/virtualMachines","tags":{"owner":"a"}}"#,
        r#"{"type":"resource","id":"/subscriptions/s/resourceGroups/g/providers/Microsoft.Sql/servers/db","kind":"Microsoft.Sql/servers","props":{"sensitivity":"high"}}"#,
        r#"{"type":"identity","id":"mi","kind":"managed_identity","attached_to":["/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/vm"]}"#,
        r#"{"type":"exposure","resource":"/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/vm","from":"internet","ports":[443]}"#,
        r#"{"type":"exposure","resource":"/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/vm","from":"internet","ports":[22]}"#,
        r#"{"type":"role_assignment","principal":"mi","role":"Owner","scope":"/subscriptions/s/resourceGroups/g"}"#,
        r#"{"type":"role_assignment","principal":"mi","role":"Contributor","scope":"/subscriptions/s/resourceGroups/g"}"#,
    ];
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let mut forward = vec![HEADER.to_string()];
    forward.extend(lines.iter().map(|l| l.to_string()));
    let mut backward = vec![HEADER.to_string()];
    backward.extend(lines.iter().rev().map(|l| l.to_string()));
    std::fs::write(a.path().join("estate.jsonl"), forward.join("\n")).unwrap();
    std::fs::write(b.path().join("estate.jsonl"), backward.join("\n")).unwrap();
    let x = scan_json(a.path(), "1");
    let y = scan_json(b.path(), "1");
    assert!(
        x.contains("\"role\": \"Contributor\""),
        "the canonical order prefers Contributor < Owner"
    );
    // Warnings cite line numbers, which the reversal moves; all else is identical.
    assert_eq!(without_warnings(&x), without_warnings(&y));
    let messages = |j: &str| -> Vec<String> {
        let v: Value = serde_json::from_str(j).unwrap();
        let mut m: Vec<String> = v["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["message"].as_str().unwrap().to_string())
            .collect();
        m.sort();
        m
    };
    assert_eq!(messages(&x), messages(&y));
}

/// Warnings of every kind the build gives, repeated under many ids so the file is parsed
/// in many pieces, with each line's references coming before or after their definitions.
fn messy_estate(copies: usize) -> String {
    let mut text = String::from(HEADER);
    text.push('\n');
    for i in 0..copies {
        let rg = format!("/subscriptions/S{i}/resourceGroups/G");
        let vm = format!("{rg}/providers/Microsoft.Compute/virtualMachines/vm");
        let site = format!("{rg}/providers/Microsoft.Web/sites/Later");
        for l in [
            format!(r#"{{"type":"reach","from":"{vm}","to":"{site}","ports":[80]}}"#),
            format!(
                r#"{{"type":"role_assignment","principal":"Ghost{i}","role":"Owner","scope":"{rg}"}}"#
            ),
            format!(
                r#"{{"type":"role_assignment","principal":"id{i}","role":"11111111-2222-3333-4444-{i:012}","scope":"/subscriptions/S{i}"}}"#
            ),
            format!(
                r#"{{"type":"role_assignment","principal":"id{i}","role":"custom-{}","scope":"/subscriptions/S{i}"}}"#,
                i % 7
            ),
            format!(
                r#"{{"type":"resource","id":"{}","kind":"Microsoft.Web/sites","props":{{"sensitivity":"High"}}}}"#,
                site.to_ascii_lowercase()
            ),
            format!(
                r#"{{"type":"resource","id":"{vm}","kind":"Microsoft.Compute/virtualMachines","parent":"/nowhere{i}"}}"#
            ),
            format!(r#"{{"type":"exposure","resource":"{vm}","from":"internet","ports":["22"]}}"#),
            format!(r#"{{"type":"exposure","resource":"{vm}","from":"internet","ports":["22"]}}"#),
            format!(
                r#"{{"type":"identity","id":"id{i}","kind":"managed_identity","attached_to":["{vm}","{rg}/providers/x/y/gone"]}}"#
            ),
            format!(r#"{{"type":"identity","id":"ID{i}","kind":"managed_identity","name":"n"}}"#),
            format!(
                r#"{{"type":"role","name":"custom-{}","privileged":{}}}"#,
                i % 7,
                i % 2 == 0
            ),
            format!(
                r#"{{"type":"finding","id":"F{i}","resource":"{vm}","class":"recommendation","title":"t","severity":"high"}}"#
            ),
            format!(
                r#"{{"type":"finding","id":"f{i}","resource":"{site}","class":"alert","title":"t2","severity":"low"}}"#
            ),
            format!(
                r#"{{"type":"finding","id":"f{i}","resource":"{site}","class":"alert","title":"t2","severity":"low"}}"#
            ),
            format!(
                r#"{{"type":"membership","group":"grp{}","member":"id{i}"}}"#,
                i % 5
            ),
            format!(
                r#"{{"type":"scope","id":"/a{i}","kind":"management_group","parent":"/b{i}"}}"#
            ),
            format!(
                r#"{{"type":"scope","id":"/b{i}","kind":"management_group","parent":"/a{i}"}}"#
            ),
        ] {
            text.push_str(&l);
            text.push('\n');
        }
    }
    text
}

/// Records go into the graph as they are parsed, while other threads parse later lines.
/// That must give what building from the whole parsed snapshot gives, warnings and their
/// order included, at any thread count.
#[test]
fn building_while_parsing_matches_building_from_the_whole_snapshot() {
    use toxgraph::{graph, ingest};
    let text = messy_estate(1500);
    assert!(text.len() > 1 << 20, "large enough for many pieces");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("estate.jsonl");
    std::fs::write(&path, &text).unwrap();
    let whole = graph::build(
        ingest::native::parse(
            text.as_bytes(),
            &path.display().to_string(),
            Default::default(),
        )
        .unwrap(),
        &Default::default(),
    );
    assert!(whole.warnings.len() > 10 * 1500, "{}", whole.warnings.len());
    for threads in [1, 2, 3] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let streamed = pool
            .install(|| toxgraph::load_estate(&path, Default::default(), &Default::default()))
            .unwrap();
        assert_eq!(streamed.warnings, whole.warnings, "{threads} threads");
        let (a, b) = (&streamed.graph, &whole.graph);
        assert_eq!(a.index, b.index, "{threads} threads");
        assert_eq!(a.rank, b.rank);
        assert_eq!(a.edge_rank, b.edge_rank);
        assert_eq!(a.findings, b.findings);
    }
    let one = scan_json(dir.path(), "1");
    assert_eq!(one, scan_json(dir.path(), "2"));
    assert_eq!(one, scan_json(dir.path(), "3"));
}
