//! The commands of the README, run as a user would, with their outputs pinned.

use crate::util::*;

fn normalise(s: &str) -> String {
    s.replace(env!("CARGO_PKG_VERSION"), "<version>")
}

#[test]
fn scan_table_on_demo() {
    let (code, out, err) = run(&["scan", "fixtures/demo/estate.jsonl"], None);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("20 toxic combinations on 11 toxic resources."),
        "{out}"
    );
    assert!(out.contains("5 warnings (--verbose lists them)."));
    assert_snapshot("scan-demo.txt", &normalise(&out));
}

#[test]
fn scan_verbose_lists_every_warning() {
    let (code, out, _) = run(&["scan", "fixtures/demo/estate.jsonl", "--verbose"], None);
    assert_eq!(code, 0);
    let listed = out
        .lines()
        .filter(|l| l.starts_with("  fixtures/demo/estate.jsonl:"))
        .count();
    assert_eq!(listed, 5, "{out}");
    assert!(
        out.contains("defined again with identical content"),
        "{out}"
    );
    assert!(out.contains("is defined again with different"), "{out}");
    assert!(out.contains("is not defined by any record"), "{out}");
}

#[test]
fn scan_markdown_and_jsonl() {
    let (code, md, _) = run(
        &["scan", "fixtures/demo/estate.jsonl", "--format", "md"],
        None,
    );
    assert_eq!(code, 0);
    assert_snapshot("scan-demo.md", &normalise(&md));
    let (code, jl, _) = run(
        &["scan", "fixtures/demo/estate.jsonl", "--format", "jsonl"],
        None,
    );
    assert_eq!(code, 0);
    assert_eq!(jl.lines().count(), 20);
    for line in jl.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["fingerprint"].as_str().unwrap().len(), 64);
        // TC007 walks start at the service principal; every other rule's at the internet.
        let first = if v["rule"] == "TC007" {
            v["entry"].clone()
        } else {
            "internet".into()
        };
        assert_eq!(v["walk"][0]["node"], first);
    }
}

#[test]
fn scan_json_schema_and_fingerprints() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("findings.json");
    let (code, stdout, err) = run(
        &[
            "scan",
            "fixtures/demo/estate.jsonl",
            "--format",
            "json",
            "-o",
            out.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(stdout.is_empty());
    let text = std::fs::read_to_string(&out).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["schema"], "toxgraph.scan/v1");
    assert_eq!(v["snapshot"]["label"], "2026-Q3");
    assert_eq!(v["counts"]["combinations"], 20);
    assert_eq!(v["counts"]["warnings"], 5);
    assert_eq!(v["warnings"].as_array().unwrap().len(), 5);
    for c in v["combinations"].as_array().unwrap() {
        // The spec's fingerprint, recomputed here independently.
        use sha2::Digest;
        let s = format!(
            "{}\n{}\n{}",
            c["rule"].as_str().unwrap(),
            c["entry"].as_str().unwrap().to_ascii_lowercase(),
            c["target"].as_str().unwrap().to_ascii_lowercase()
        );
        let fp: String = sha2::Sha256::digest(s.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(c["fingerprint"], fp.as_str());
        let walk = c["walk"].as_array().unwrap();
        assert_eq!(walk.last().unwrap()["node"], c["target"]);
        assert!(walk.iter().skip(1).all(|s| s["via"].is_string()));
    }
    // Evidence labels travel with every technique mapping.
    let tc006 = v["combinations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["rule"] == "TC006")
        .unwrap();
    assert_eq!(tc006["attack"][0]["evidence"], "direct-detection");
    let tc001 = v["combinations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["rule"] == "TC001")
        .unwrap();
    assert!(tc001["attack"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["evidence"] == "posture-context"));
}

#[test]
fn query_the_readme_pattern() {
    let (code, out, err) = run(
        &[
            "query",
            r#"(internet)-[:exposes]->(e:resource)-[:reaches*1..3]->(t:resource {sensitivity: "high"})"#,
            "fixtures/demo/estate.jsonl",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert_snapshot("query-demo.txt", &out);
}

#[test]
fn query_into_one_target() {
    let kv = "/subscriptions/e2d4465b-3572-4b00-a2a7-7cd72a68ea71/resourceGroups/rg-payments-giftcards-prod/providers/Microsoft.KeyVault/vaults/kv-contoso-giftcards";
    let (code, all, _) = run(
        &[
            "query",
            "(internet)-[:exposes]->(e)-[:reaches*1..3]->(t)",
            "fixtures/demo/estate.jsonl",
        ],
        None,
    );
    assert_eq!(code, 0);
    let (code, one, err) = run(
        &[
            "query",
            "(internet)-[:exposes]->(e)-[:reaches*1..3]->(t)",
            "fixtures/demo/estate.jsonl",
            "--target",
            &kv.to_uppercase(),
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    let into_kv = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| {
                l.to_ascii_lowercase()
                    .contains(&format!(" -> {}  (owner", kv.to_ascii_lowercase()))
            })
            .map(str::to_string)
            .collect()
    };
    let targeted: Vec<String> = one
        .lines()
        .filter(|l| l.contains(" -> ") && l.contains("(owner"))
        .map(str::to_string)
        .collect();
    assert!(!targeted.is_empty(), "{one}");
    // The targeted query finds exactly the untargeted matches into that vault.
    assert_eq!(targeted, into_kv(&one));
    assert_eq!(targeted, into_kv(&all));
    assert!(into_kv(&all).len() < all.lines().filter(|l| l.contains("(owner")).count());
    let (code, _, err) = run(
        &[
            "query",
            "(a)",
            "fixtures/demo/estate.jsonl",
            "--target",
            "nope",
        ],
        None,
    );
    assert_eq!(code, 2);
    assert!(err.contains("no node has the target id `nope`"), "{err}");
}

/// The shipped rules read no props, so a scan builds without them; a query that tests one
/// must still see them.
#[test]
fn query_on_props_sees_them() {
    let (code, out, err) = run(
        &[
            "query",
            r#"(r:resource {props.osType: "linux"})"#,
            "fixtures/rules/TC005/match.jsonl",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("vm-jump01") && out.contains("1 match"),
        "{out}"
    );
}

#[test]
fn rules_list_check_explain() {
    let (code, out, _) = run(&["rules", "list"], None);
    assert_eq!(code, 0);
    assert_snapshot("rules-list.txt", &out);
    let (code, out, err) = run(&["rules", "check", "rules/"], None);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("10 rules ok") || out.contains(" rules ok"),
        "{out}"
    );
}

#[test]
fn rule_docs_beside_rules_are_current() {
    let (_, list, _) = run(&["rules", "list"], None);
    let ids: Vec<&str> = list
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.starts_with("TC"))
        .collect();
    assert!(ids.len() >= 10);
    for id in ids {
        let (code, doc, _) = run(&["rules", "explain", id], None);
        assert_eq!(code, 0);
        let path = root().join("rules").join(format!("{id}.md"));
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(&path, &doc).unwrap();
            continue;
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            on_disk, doc,
            "rules/{id}.md is stale: run UPDATE_SNAPSHOTS=1 cargo test"
        );
    }
}

#[test]
fn no_orphan_snapshots() {
    let used = [
        "scan-demo.txt",
        "scan-demo.md",
        "query-demo.txt",
        "rules-list.txt",
    ];
    for e in std::fs::read_dir(root().join("tests/snapshots")).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        assert!(used.contains(&name.as_str()), "orphan snapshot {name}");
    }
}

#[test]
fn max_combinations_cuts_the_listing_and_says_so() {
    let (code, json, err) = run(
        &[
            "scan",
            "fixtures/demo/estate.jsonl",
            "--format",
            "json",
            "--max-combinations",
            "3",
        ],
        None,
    );
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["combinations"].as_array().unwrap().len(), 3);
    assert_eq!(
        v["counts"]["combinations"], 20,
        "counts cover every combination"
    );
    assert!(v["notice"].as_str().unwrap().contains("first 3 of 20"));
    assert!(
        err.contains("note: listing cut to the first 3 of 20"),
        "{err}"
    );
    let (_, jl, _) = run(
        &[
            "scan",
            "fixtures/demo/estate.jsonl",
            "--format",
            "jsonl",
            "--max-combinations",
            "3",
        ],
        None,
    );
    assert_eq!(jl.lines().count(), 3);
    let (_, all, _) = run(
        &[
            "scan",
            "fixtures/demo/estate.jsonl",
            "--format",
            "json",
            "--max-combinations",
            "50",
        ],
        None,
    );
    assert!(!all.contains("\"notice\""));
}

#[test]
fn generate_an_adversarial_shape_and_scan_it_capped() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let (code, out, err) = run(
        &["generate", "--shape", "pairs", "--size", "40", "-o", d],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("adversarial-pairs.jsonl: 204 records"),
        "{out}"
    );
    let file = dir.path().join("adversarial-pairs.jsonl");
    let json = dir.path().join("scan.json");
    let (code, _, err) = run(
        &[
            "scan",
            file.to_str().unwrap(),
            "--format",
            "json",
            "-o",
            json.to_str().unwrap(),
            "--max-combinations",
            "100",
            "--stats",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    for phase in ["read:", "parse:", "build:", "evaluate:", "write:"] {
        assert!(
            err.lines().any(|l| l.starts_with(phase)),
            "{phase} in {err}"
        );
    }
    assert!(
        err.contains("note: listing cut to the first 100 of 1600 combinations"),
        "{err}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["counts"]["combinations"], 1600);
    assert_eq!(v["combinations"].as_array().unwrap().len(), 100);
    assert!(v["notice"].is_string());

    // --size belongs to --shape, --resources to the realistic estate, and sizes are checked.
    let (code, _, err) = run(&["generate", "--size", "5", "-o", d], None);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(
        &["generate", "--shape", "clique", "--resources", "5", "-o", d],
        None,
    );
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(
        &["generate", "--shape", "clique", "--size", "2", "-o", d],
        None,
    );
    assert_eq!(code, 2);
    assert!(err.contains("must be at least 3"), "{err}");
}

/// `NAME: 0.123s` → NAME, when the seconds are well formed.
fn phase_line(line: &str) -> Option<&str> {
    let (name, secs) = line.split_once(": ")?;
    let secs = secs.strip_suffix('s')?;
    (secs.parse::<f64>().is_ok() && secs.contains('.')).then_some(name)
}

#[test]
fn stats_lists_every_phase_and_one_line_per_rule() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("findings.json");
    let (code, stdout, err) = run(
        &[
            "scan",
            "fixtures/demo/estate.jsonl",
            "--format",
            "json",
            "-o",
            out.to_str().unwrap(),
            "--stats",
        ],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert!(stdout.is_empty(), "timings never go to standard output");
    let pack = toxgraph::rules::shipped().unwrap();
    let mut phases = Vec::new();
    let mut rules = Vec::new();
    for line in err.lines() {
        if let Some(rule) = line.strip_prefix("  ") {
            // `  TC001: 0.001s, 3 entries, 4 combinations`
            let (head, counts) = rule.split_once(", ").expect(line);
            let (entries, combinations) = counts.split_once(", ").expect(line);
            assert!(entries.ends_with(" entries"), "{line}");
            assert!(combinations.ends_with(" combinations"), "{line}");
            rules.push(phase_line(head).expect(line).to_string());
        } else {
            phases.push(phase_line(line).expect(line).to_string());
        }
    }
    assert_eq!(
        phases,
        ["read", "parse", "build", "evaluate", "write"],
        "{err}"
    );
    let ids: Vec<String> = pack.rules.iter().map(|r| r.id.clone()).collect();
    assert_eq!(rules, ids, "one line per rule, in pack order:\n{err}");
    // The rules are listed right under `evaluate`.
    let lines: Vec<&str> = err.lines().collect();
    assert!(lines[3].starts_with("evaluate: ") && lines[4].starts_with("  "));
}

#[test]
fn no_progress_bar_without_a_terminal() {
    // Standard error is a pipe here: no bar, no spinner, no cursor control.
    let (code, _, err) = run(&["scan", "fixtures/demo/estate.jsonl"], None);
    assert_eq!(code, 0);
    assert_eq!(err, "", "nothing on standard error without --stats");
    let (code, _, err) = run(&["scan", "fixtures/demo/estate.jsonl", "--stats"], None);
    assert_eq!(code, 0);
    for bad in ['\r', '\x1b', '[', '>', '=', '█', '░'] {
        assert!(!err.contains(bad), "{bad:?} on standard error:\n{err}");
    }
    assert!(
        err.lines()
            .all(|l| phase_line(l.trim_start().split(", ").next().unwrap_or("")).is_some()),
        "only timing lines:\n{err}"
    );
}

#[test]
fn stats_do_not_change_outputs() {
    let dir = tempfile::tempdir().unwrap();
    for format in ["table", "json", "jsonl", "md"] {
        let scan = |stats: bool, to: &str| {
            let file = dir.path().join(to);
            let mut args = vec![
                "scan",
                "fixtures/demo/estate.jsonl",
                "--format",
                format,
                "--verbose",
            ];
            if stats {
                args.push("--stats");
            }
            let (code, stdout, err) = run(&args, None);
            assert_eq!(code, 0, "{err}");
            args.extend(["-o", file.to_str().unwrap()]);
            let (code, _, err) = run(&args, None);
            assert_eq!(code, 0, "{err}");
            (stdout, std::fs::read(&file).unwrap())
        };
        let (plain_out, plain_file) = scan(false, "plain");
        let (stats_out, stats_file) = scan(true, "stats");
        assert_eq!(plain_out, stats_out, "{format} on standard output");
        assert_eq!(plain_file, stats_file, "{format} written with -o");
        assert_eq!(
            plain_out.as_bytes(),
            plain_file,
            "{format}: -o writes the same"
        );
    }
    let query = |stats: bool| {
        let mut args = vec![
            "query",
            "(internet)-[:exposes]->(e)-[:reaches*1..3]->(t)",
            "fixtures/demo/estate.jsonl",
        ];
        if stats {
            args.push("--stats");
        }
        run(&args, None)
    };
    let (plain, with_stats) = (query(false), query(true));
    assert_eq!((plain.0, &plain.1), (0, &with_stats.1));
    assert!(with_stats.2.contains("\n  query: "), "{}", with_stats.2);
}
