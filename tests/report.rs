//! The quarterly report: figures recomputed independently from two scans, the CSV contract,
//! escaping of attacker-controlled names in every format, and `verify`.

use crate::util::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Toxic resources per owner from a scan's JSON: distinct resource entries.
fn toxic_by_owner(scan_json: &str) -> BTreeMap<String, usize> {
    let v: Value = serde_json::from_str(scan_json).unwrap();
    let mut sets: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for c in v["combinations"].as_array().unwrap() {
        let entry = c["entry"].as_str().unwrap().to_ascii_lowercase();
        let is_resource = c["walk"].as_array().unwrap().iter().any(|s| {
            s["node"].as_str().unwrap().eq_ignore_ascii_case(&entry) && s["category"] == "resource"
        });
        if is_resource {
            sets.entry(c["owner"].as_str().unwrap().to_string())
                .or_default()
                .insert(entry);
        }
    }
    sets.into_iter().map(|(k, v)| (k, v.len())).collect()
}

/// The format's reduction, written again here: tenths of a percent, half away from zero.
fn reduction(before: usize, now: usize) -> String {
    if before == 0 {
        return if now == 0 { "n/a".into() } else { "new".into() };
    }
    let num = (now as i64 - before as i64) * 1000;
    let den = before as i64;
    let q = (2 * num.abs() + den) / (2 * den) * num.signum();
    format!(
        "{}{}.{}",
        if q < 0 { "-" } else { "" },
        q.abs() / 10,
        q.abs() % 10
    )
}

#[test]
fn per_owner_reduction_matches_an_independent_computation() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let (code, _, err) = run(
        &["generate", "--resources", "3000", "--seed", "4", "-o", d],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let q1 = format!("{d}/q1.jsonl");
    let q2 = format!("{d}/q2.jsonl");
    let (_, s1, _) = run(&["scan", &q1, "--format", "json"], None);
    let (_, s2, _) = run(&["scan", &q2, "--format", "json"], None);
    let (t1, t2) = (toxic_by_owner(&s1), toxic_by_owner(&s2));
    let (code, csv, err) = run(&["report", &q1, &q2, "--format", "csv"], None);
    assert_eq!(code, 0, "{err}");
    let mut checked = 0;
    for line in csv.lines().skip(1) {
        let cells: Vec<&str> = line.split(',').collect();
        let (period, owner, toxic, red) = (cells[0], cells[1], cells[3], cells[5]);
        if period != "2026-Q2" || owner == "(total)" {
            continue;
        }
        let before = t1.get(owner).copied().unwrap_or(0);
        let now = t2.get(owner).copied().unwrap_or(0);
        assert_eq!(toxic.parse::<usize>().unwrap(), now, "{owner}");
        assert_eq!(red, reduction(before, now), "{owner}: {before} -> {now}");
        checked += 1;
    }
    assert!(checked > 10, "owners checked: {checked}");
    let total_line = csv
        .lines()
        .find(|l| l.starts_with("2026-Q2,(total),"))
        .unwrap();
    let total = |t: &BTreeMap<String, usize>| t.values().sum::<usize>();
    assert!(
        total_line.contains(&format!(",{},", reduction(total(&t1), total(&t2)))),
        "{total_line}"
    );
}

#[test]
fn csv_header_and_first_period() {
    let (code, csv, _) = run(
        &["report", "fixtures/demo/estate.jsonl", "--format", "csv"],
        None,
    );
    assert_eq!(code, 0);
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().starts_with(
        "period,owner,resources,toxic_resources,toxic_combinations,reduction_pct,status"
    ));
    let unowned = csv
        .lines()
        .find(|l| l.starts_with("2026-Q3,(unowned),"))
        .unwrap();
    assert_eq!(
        unowned.split(',').nth(5),
        Some(""),
        "no reduction in the first period"
    );
    assert!(csv.lines().any(|l| l.starts_with("2026-Q3,(total),")));
}

fn hostile_estate(dir: &std::path::Path, label: &str, exposed: bool) -> String {
    let owner = "<script>alert(1)</script>|`=HYPERLINK(\\\"x\\\")";
    let mut lines = vec![
        format!(
            r#"{{"type":"snapshot","taken_at":"2026-0{}-30T00:00:00Z","label":"{label}"}}"#,
            if exposed { 3 } else { 6 }
        ),
        format!(
            r#"{{"type":"resource","id":"/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/st","kind":"Microsoft.Storage/storageAccounts","tags":{{"owner":"{owner}"}},"props":{{"sensitivity":"high"}}}}"#
        ),
    ];
    if exposed {
        lines.push(r#"{"type":"exposure","resource":"/subscriptions/s/resourceGroups/g/providers/Microsoft.Storage/storageAccounts/st","from":"internet"}"#.into());
    }
    let p = dir.join(format!("{label}.jsonl"));
    std::fs::write(&p, lines.join("\n")).unwrap();
    p.display().to_string()
}

#[test]
fn attacker_controlled_names_are_inert_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let a = hostile_estate(dir.path(), "q1", true);
    let b = hostile_estate(dir.path(), "q2", false);
    let (_, html, _) = run(&["report", &a, &b, "--format", "html"], None);
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "escaped in HTML"
    );
    assert!(!html.contains("<script>"), "no live script tag");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no external request"
    );
    let (_, csv, _) = run(&["report", &a, &b, "--format", "csv"], None);
    let row = csv
        .lines()
        .find(|l| l.starts_with("q2,") && l.contains("script"))
        .unwrap();
    // The owner holds a quote, so the cell is quoted with the quote doubled.
    assert!(
        row.starts_with("q2,\"<script>alert(1)</script>|`=HYPERLINK(\"\"x\"\")\","),
        "{row}"
    );
    // A cell starting with = is neutralised.
    let (_, csv2, _) = run(
        &[
            "report",
            &write_owner(dir.path(), "=cmd"),
            "--format",
            "csv",
        ],
        None,
    );
    assert!(csv2.lines().any(|l| l.starts_with("q3,'=cmd,")), "{csv2}");
    let (_, md, _) = run(&["report", &a, &b, "--format", "md"], None);
    assert!(
        md.contains("\\|\\`=HYPERLINK"),
        "pipes and backticks escaped in Markdown"
    );
}

fn write_owner(dir: &std::path::Path, owner: &str) -> String {
    let p = dir.join("q3.jsonl");
    std::fs::write(
        &p,
        format!(
            "{}\n{}\n",
            r#"{"type":"snapshot","taken_at":"2026-09-30T00:00:00Z","label":"q3"}"#,
            format_args!(
                r#"{{"type":"resource","id":"r","kind":"vm","tags":{{"owner":"{owner}"}}}}"#
            )
        ),
    )
    .unwrap();
    p.display().to_string()
}

#[test]
fn verify_detects_a_one_byte_change_in_any_input_and_in_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let q1 = dir.path().join("q1.jsonl");
    let q2 = dir.path().join("q2.jsonl");
    std::fs::copy(fixture("rules/TC001/match.jsonl"), &q1).unwrap();
    std::fs::copy(fixture("rules/TC001/nomatch.jsonl"), &q2).unwrap();
    let out = dir.path().join("report.md");
    let (code, _, err) = run(
        &[
            "report",
            q1.to_str().unwrap(),
            q2.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let (code, ok, _) = run(&["verify", out.to_str().unwrap()], None);
    assert_eq!(code, 0, "{ok}");
    for target in [&q1, &q2, &out] {
        let original = std::fs::read(target).unwrap();
        let mut changed = original.clone();
        let last = changed.len() - 2;
        changed[last] ^= 1;
        std::fs::write(target, &changed).unwrap();
        let (code, msg, _) = run(&["verify", out.to_str().unwrap()], None);
        assert_eq!(code, 1, "{msg}");
        assert!(
            msg.contains(&format!(
                "changed: {}",
                if *target == out { "report" } else { "input" }
            )),
            "{msg}"
        );
        assert!(
            msg.contains(target.file_name().unwrap().to_str().unwrap()),
            "{msg}"
        );
        std::fs::write(target, &original).unwrap();
    }
    let (code, _, _) = run(&["verify", out.to_str().unwrap()], None);
    assert_eq!(code, 0);
}

#[test]
fn reports_reproduce_byte_for_byte() {
    let (_, a, _) = run(
        &["report", "fixtures/demo/estate.jsonl", "--format", "json"],
        None,
    );
    let (_, b, _) = run(
        &[
            "report",
            "fixtures/demo/estate.jsonl",
            "--format",
            "json",
            "--threads",
            "1",
        ],
        None,
    );
    assert_eq!(a, b);
    let v: Value = serde_json::from_str(&a).unwrap();
    assert_eq!(v["schema"], "toxgraph.report/v1");
    assert_eq!(
        v["lineage"]["generated_at"], "2026-09-30T00:00:00Z",
        "stamped from the snapshot, not the clock"
    );
    assert_eq!(v["lineage"]["inputs"][0]["records"]["resource"], 122);
}

#[test]
fn periods_in_given_order_or_by_taken_at() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, taken: &str| {
        let p = dir.path().join(name);
        std::fs::write(
            &p,
            format!("{{\"type\":\"snapshot\",\"taken_at\":\"{taken}\",\"label\":\"{name}\"}}\n"),
        )
        .unwrap();
        p.display().to_string()
    };
    let later = write("later", "2026-06-30T00:00:00Z");
    let earlier = write("earlier", "2026-03-31T00:00:00Z");
    let labels = |json: &str| -> Vec<String> {
        let v: Value = serde_json::from_str(json).unwrap();
        v["periods"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["label"].as_str().unwrap().to_string())
            .collect()
    };
    let (_, given, _) = run(&["report", &later, &earlier, "--format", "json"], None);
    assert_eq!(labels(&given), ["later", "earlier"]);
    let (_, by_time, _) = run(
        &[
            "report", &later, &earlier, "--format", "json", "--order", "taken-at",
        ],
        None,
    );
    assert_eq!(labels(&by_time), ["earlier", "later"]);
}

#[test]
fn thresholds_from_a_config_file_and_flags_win() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("toxgraph.toml");
    std::fs::write(
        &cfg,
        "[report]\nthresholds = \"-50,-25\"\ntier = \"regulated\"\n",
    )
    .unwrap();
    let demo = "fixtures/demo/estate.jsonl";
    let (code, out, err) = run(
        &[
            "report",
            demo,
            "--config",
            cfg.to_str().unwrap(),
            "--format",
            "json",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["thresholds"]["green"].as_i64(), v["tier"].as_str()),
        (Some(-500), Some("regulated"))
    );
    let (_, out, _) = run(
        &[
            "report",
            demo,
            "--config",
            cfg.to_str().unwrap(),
            "--thresholds",
            "-30,-10",
            "--format",
            "json",
        ],
        None,
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["thresholds"]["green"].as_i64(), Some(-300));
    std::fs::write(&cfg, "[report]\nthreshold = \"-50,-25\"\n").unwrap();
    let (code, _, err) = run(&["report", demo, "--config", cfg.to_str().unwrap()], None);
    assert_eq!(code, 2);
    assert!(
        err.contains("unknown field `threshold`") && err.contains("toxgraph.toml:2:1"),
        "{err}"
    );
}

/// The scan JSON is written with its listing spliced in from parallel pieces; it must be
/// the text of the whole document written in one piece, with and without a cap notice,
/// and with no combinations at all.
#[test]
fn scan_json_spliced_equals_json_written_whole() {
    use toxgraph::{engine::Filter, graph::BuildOptions, ingest::ReadOptions, report, rules, scan};
    let pack = rules::shipped().unwrap();
    for file in [
        "fixtures/demo/estate.jsonl",
        "fixtures/rules/TC001/nomatch.jsonl",
    ] {
        let est = toxgraph::load_estate(
            std::path::Path::new(file),
            ReadOptions::default(),
            &BuildOptions::default(),
        )
        .unwrap();
        let out = scan::run(&est.graph, &pack, &Filter::default());
        for cap in [None, Some(3), Some(0)] {
            let doc = report::scan_doc(file, &est.graph, &pack, &out, &est.warnings, cap);
            let whole = serde_json::to_string_pretty(&doc).unwrap() + "\n";
            assert_eq!(report::json(&doc), whole, "{file} cap {cap:?}");
            // The listing made a batch at a time as it is written: the same text.
            let unlisted =
                report::scan_doc_unlisted(file, &est.graph, &pack, &out, &est.warnings, cap);
            assert!(unlisted.combinations.is_empty());
            let mut lazy = Vec::new();
            report::write_json_listing(&unlisted, &est.graph, &pack, &out, &mut lazy).unwrap();
            assert_eq!(
                String::from_utf8(lazy).unwrap(),
                whole,
                "{file} cap {cap:?}"
            );
        }
    }
    // A listing of many pieces and batches, at more than one thread count.
    let est = toxgraph::load_estate(
        std::path::Path::new("fixtures/demo/estate.jsonl"),
        ReadOptions::default(),
        &BuildOptions::default(),
    )
    .unwrap();
    let out = scan::run(&est.graph, &pack, &Filter::default());
    assert!(!out.combinations.is_empty());
    let mut combos = Vec::new();
    while combos.len() < 30_000 {
        combos.extend(out.combinations.iter().cloned());
    }
    let combos = scan::Outcome::listing_all(combos);
    let doc = report::scan_doc("demo", &est.graph, &pack, &combos, &[], None);
    let whole = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    let unlisted = report::scan_doc_unlisted("demo", &est.graph, &pack, &combos, &[], None);
    for threads in [1, 3] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        assert!(
            pool.install(|| report::json(&doc)) == whole,
            "{threads} threads: the listing differs from the document written whole"
        );
        let mut lazy = Vec::new();
        pool.install(|| {
            report::write_json_listing(&unlisted, &est.graph, &pack, &combos, &mut lazy)
        })
        .unwrap();
        assert!(
            lazy == whole.as_bytes(),
            "{threads} threads: the listing made as it is written differs"
        );
    }
}

/// A scan evaluated with a cap keeps only each rule's first walks, and counts the rest by
/// entry: its documents, in every format, must be those of the full evaluation cut to the
/// same cap, on an estate whose rules match many targets from each entry.
#[test]
fn capped_evaluation_gives_the_documents_of_the_full_one() {
    use toxgraph::generate::adversarial::{generate_shape, Shape};
    use toxgraph::{engine::Filter, graph::BuildOptions, ingest::ReadOptions, report, rules, scan};
    let dir = tempfile::tempdir().unwrap();
    generate_shape(Shape::Pairs, 30, 1, dir.path()).unwrap();
    let pack = rules::shipped().unwrap();
    for file in [
        dir.path().join("adversarial-pairs.jsonl"),
        "fixtures/demo/estate.jsonl".into(),
    ] {
        let est =
            toxgraph::load_estate(&file, ReadOptions::default(), &BuildOptions::default()).unwrap();
        let g = &est.graph;
        let full = scan::run(g, &pack, &Filter::default());
        assert_eq!(full.total(), full.combinations.len());
        for cap in [0, 1, 3, 29, 31, 899, 900, 5000] {
            let capped = scan::run_capped(g, &pack, &Filter::default(), Some(cap));
            assert_eq!(capped.tallies, full.tallies, "{file:?} cap {cap}");
            assert!(
                capped.combinations.len() <= pack.rules.len() * cap,
                "{file:?} cap {cap}: {} walks held",
                capped.combinations.len()
            );
            let doc = |o: &scan::Outcome| report::scan_doc("f", g, &pack, o, &[], Some(cap));
            let (want, got) = (doc(&full), doc(&capped));
            assert_eq!(
                report::json(&got),
                report::json(&want),
                "{file:?} cap {cap}"
            );
            assert_eq!(report::table(&got, true), report::table(&want, true));
            assert_eq!(report::markdown(&got), report::markdown(&want));
        }
    }
}

/// The listing written straight from the graph reads as its documents printed by
/// serde_json, on the strings that need escaping and the fields that may be absent: ids
/// with quotes, backslashes, control characters and non-ASCII text, a node without a
/// name, an empty and an absent port list, a role, and a rule with no ATT&CK mapping.
#[test]
fn listing_written_from_the_graph_reads_as_its_documents() {
    use toxgraph::{engine::Filter, graph::BuildOptions, ingest, report, rules, scan};
    let text = [
        r#"{"type":"snapshot","taken_at":"2026-01-01T00:00:00Z"}"#,
        r#"{"type":"scope","id":"/subscriptions/s","kind":"subscription","name":"s \"q\" \\ é"}"#,
        r#"{"type":"resource","id":"/subscriptions/s/a\"b\\c\u0001d/vm","kind":"k/\"v\"","tags":{"owner":"t\u00e9am \"x\""}}"#,
        r#"{"type":"resource","id":"/subscriptions/s/db","kind":"k","name":"d\tb","parent":"/subscriptions/s","props":{"sensitivity":"high"}}"#,
        r#"{"type":"resource","id":"/subscriptions/s/web","kind":"k","name":"w"}"#,
        r#"{"type":"identity","id":"mi-1","kind":"managed_identity","attached_to":["/subscriptions/s/web"]}"#,
        r#"{"type":"role","name":"Ro\"le","privileged":true}"#,
        r#"{"type":"role_assignment","principal":"mi-1","role":"Ro\"le","scope":"/subscriptions/s"}"#,
        r#"{"type":"exposure","resource":"/subscriptions/s/a\"b\\c\u0001d/vm","from":"internet","ports":[]}"#,
        r#"{"type":"exposure","resource":"/subscriptions/s/web","from":"internet"}"#,
        r#"{"type":"reach","from":"/subscriptions/s/a\"b\\c\u0001d/vm","to":"/subscriptions/s/db","ports":[443,"8000-8080"]}"#,
        r#"{"type":"reach","from":"/subscriptions/s/web","to":"/subscriptions/s/db"}"#,
    ]
    .join("\n");
    let snap = ingest::native::parse(text.as_bytes(), "t.jsonl", Default::default()).unwrap();
    let built = toxgraph::graph::build(snap, &BuildOptions::default());
    let g = &built.graph;
    let mut pack = rules::shipped().unwrap();
    for p in [
        "(internet)-[:exposes]->(e)-[:reaches*0..2]->(t)",
        "(internet)-[:exposes]->(e)-[:uses_identity]->(i)-[:has_role]->(s)-[:contains*0..2]->(t)",
    ] {
        pack.rules.push(rules::Rule::adhoc(p).unwrap());
    }
    let out = scan::run(g, &pack, &Filter::default());
    let walks = |kind: &str| {
        out.combinations.iter().any(|c| {
            c.walk
                .iter()
                .any(|s| s.edge.is_some_and(|e| g.edge(e).kind.as_str() == kind))
        })
    };
    assert!(out.combinations.len() >= 5, "{}", out.combinations.len());
    assert!(walks("has_role") && walks("reaches") && walks("contains"));
    let doc = report::scan_doc("t", g, &pack, &out, &built.warnings, None);
    let whole = serde_json::to_string_pretty(&doc).unwrap() + "\n";
    assert!(
        whole.contains(r#""ports": []"#) && whole.contains(r#"\u0001"#),
        "{whole}"
    );
    assert!(
        whole.contains(r#""attack": []"#) && whole.contains(r#"Ro\"le"#),
        "{whole}"
    );
    let unlisted = report::scan_doc_unlisted("t", g, &pack, &out, &built.warnings, None);
    let mut lazy = Vec::new();
    report::write_json_listing(&unlisted, g, &pack, &out, &mut lazy).unwrap();
    assert_eq!(String::from_utf8(lazy).unwrap(), whole);
}
