//! Every shipped rule has a fixture it must match (exactly the expected combinations) and a
//! near-miss it must not match; the demo estate gives exactly its documented combinations.

use crate::util::*;

fn rule_ids() -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(root().join("rules"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".toml").map(str::to_string))
        .collect();
    ids.sort();
    ids
}

#[test]
fn every_rule_has_both_fixtures() {
    let ids = rule_ids();
    assert!(ids.len() >= 10, "the pack has at least ten rules");
    for id in ids {
        for f in ["match.jsonl", "nomatch.jsonl", "expected.tsv"] {
            assert!(
                fixture(&format!("rules/{id}/{f}")).is_file(),
                "{id} lacks {f}"
            );
        }
    }
}

#[test]
fn each_rule_matches_its_fixture_and_not_its_near_miss() {
    for id in rule_ids() {
        let m = fixture(&format!("rules/{id}/match.jsonl"));
        let (code, out, err) = run(&["scan", m.to_str().unwrap(), "--format", "json"], None);
        assert_eq!(code, 0, "{id}: {err}");
        let got: Vec<String> = combination_lines(&out)
            .into_iter()
            .filter(|l| l.starts_with(&format!("{id}\t")))
            .collect();
        let want = expected_lines(&fixture(&format!("rules/{id}/expected.tsv")));
        assert!(!want.is_empty(), "{id}: expected.tsv is empty");
        assert_eq!(got, want, "{id} on its match fixture");

        let n = fixture(&format!("rules/{id}/nomatch.jsonl"));
        let (code, out, err) = run(&["scan", n.to_str().unwrap(), "--format", "json"], None);
        assert_eq!(code, 0, "{id}: {err}");
        let fired: Vec<String> = combination_lines(&out)
            .into_iter()
            .filter(|l| l.starts_with(&format!("{id}\t")))
            .collect();
        assert!(fired.is_empty(), "{id} fired on its near-miss: {fired:?}");
    }
}

#[test]
fn demo_estate_gives_exactly_its_documented_combinations() {
    let (code, out, err) = run(
        &["scan", "fixtures/demo/estate.jsonl", "--format", "json"],
        None,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        combination_lines(&out),
        expected_lines(&fixture("demo/expected.tsv"))
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    for r in v["by_rule"].as_array().unwrap() {
        assert!(
            r["combinations"].as_u64().unwrap() > 0,
            "rule {} never fires on the demo",
            r["rule"]
        );
    }
}
