//! Bad input never panics and never passes silently: every case names the file, line and
//! column and what was expected, with exit code 2; warnings are counted, not dropped.

use crate::util::*;

fn scan_lines(lines: &[&str], extra: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let p = write_snapshot(dir.path(), "estate.jsonl", lines);
    let mut args = vec!["scan", p.to_str().unwrap()];
    args.extend_from_slice(extra);
    let (code, out, err) = run(&args, None);
    let err = err.replace(p.to_str().unwrap(), "estate.jsonl");
    (code, out, err)
}

#[test]
fn malformed_json_names_file_line_and_column() {
    let (code, _, err) = scan_lines(
        &[
            HEADER,
            r#"{"type":"resource","id":"a","kind":"vm"}"#,
            r#"{"type":"resource","id":"b",,"kind":"vm"}"#,
        ],
        &[],
    );
    assert_eq!(code, 2);
    assert!(err.contains("error: invalid JSON"), "{err}");
    assert!(err.contains("--> estate.jsonl:3:29"), "{err}");
    assert!(err.contains("expected a JSON object"), "{err}");
    assert!(!err.contains("panicked"));
}

#[test]
fn truncated_file_says_so() {
    let (code, _, err) = scan_lines(&[HEADER, r#"{"type":"resource","id":"a","kind":"#], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("is the file truncated?"), "{err}");
    assert!(err.contains("estate.jsonl:2:"), "{err}");
}

#[test]
fn missing_required_field() {
    let (code, _, err) = scan_lines(&[HEADER, r#"{"type":"resource","id":"a"}"#], &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("`resource` record is missing required field `kind`"),
        "{err}"
    );
    assert!(err.contains("estate.jsonl:2:1"), "{err}");
}

#[test]
fn unknown_enumeration_value_gets_a_caret() {
    let line = r#"{"type":"finding","id":"f1","resource":"a","class":"alert","title":"t","severity":"hgih"}"#;
    let (code, _, err) = scan_lines(&[HEADER, line], &[]);
    assert_eq!(code, 2);
    let col = line.find("\"hgih\"").unwrap() + 1;
    assert!(err.contains(&format!("estate.jsonl:2:{col}")), "{err}");
    assert!(
        err.contains("^^^^^^ expected one of low, medium, high, critical"),
        "{err}"
    );
}

#[test]
fn wrong_value_type() {
    let (code, _, err) = scan_lines(
        &[
            HEADER,
            r#"{"type":"resource","id":"a","kind":"vm","tags":{"owner":7}}"#,
        ],
        &[],
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("invalid type: integer `7`, expected a string"),
        "{err}"
    );
}

#[test]
fn header_missing_or_repeated() {
    let (code, _, err) = scan_lines(&[r#"{"type":"resource","id":"a","kind":"vm"}"#], &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains("a `snapshot` record after other records")
            || err.contains("no `snapshot` header"),
        "{err}"
    );
    let (code, _, err) = scan_lines(&[HEADER, HEADER], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("a second `snapshot` record"), "{err}");
    let (code, _, err) = scan_lines(&[r#"{"type":"snapshot","label":"x"}"#], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("missing required field `taken_at`"), "{err}");
    let (code, _, err) = scan_lines(&[r#"{"type":"snapshot","taken_at":"yesterday"}"#], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("not an RFC 3339 timestamp"), "{err}");
}

#[test]
fn not_an_object_and_not_utf8() {
    let (code, _, err) = scan_lines(&[HEADER, "[1,2]"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("estate.jsonl:2"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("bin.jsonl");
    let mut bytes = format!("{HEADER}\n").into_bytes();
    bytes.extend_from_slice(b"{\"type\":\"resource\",\"id\":\"\xff\",\"kind\":\"vm\"}\n");
    std::fs::write(&p, bytes).unwrap();
    let (code, _, err) = run(&["scan", p.to_str().unwrap()], None);
    assert_eq!(code, 2);
    assert!(err.contains("not valid UTF-8"), "{err}");
}

#[test]
fn keep_going_turns_malformed_lines_into_counted_warnings() {
    let lines = [
        HEADER,
        r#"{"type":"resource","id":"a","kind":"vm"}"#,
        r#"{"type":"resource","#,
        r#"{"type":"exposure","resource":"a","from":"internet"}"#,
    ];
    let (code, _, _) = scan_lines(&lines, &[]);
    assert_eq!(code, 2);
    let (code, out, err) = scan_lines(&lines, &["--keep-going", "--verbose"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("1 warning:"), "{out}");
    assert!(out.contains(":3: skipped malformed line"), "{out}");
}

#[test]
fn data_quality_problems_are_warnings_not_errors() {
    let lines = [
        HEADER,
        r#"{"type":"resource","id":"/subscriptions/S/resourceGroups/G/providers/NS/T/vm","kind":"vm","tags":{"owner":"a"}}"#,
        r#"{"type":"resource","id":"/subscriptions/S/resourceGroups/G/providers/NS/T/vm","kind":"vm","tags":{"owner":"a"}}"#,
        r#"{"type":"resource","id":"/SUBSCRIPTIONS/S/resourceGroups/G/providers/NS/T/vm","kind":"vm","tags":{"owner":"b"}}"#,
        r#"{"type":"role_assignment","principal":"ghost","role":"Owner","scope":"/subscriptions/S"}"#,
        r#"{"type":"exposure","resource":"/subscriptions/S/resourceGroups/G/providers/NS/T/nothere","from":"internet"}"#,
        r#"{"type":"role_assignment","principal":"ghost","role":"00000000-0000-0000-0000-000000000000","scope":"/subscriptions/S"}"#,
        r#"{"type":"alien","x":1}"#,
    ];
    let (code, out, err) = scan_lines(&lines, &["--verbose", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let msgs: Vec<String> = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| format!("{}: {}", w["line"], w["message"].as_str().unwrap()))
        .collect();
    let has = |line: u32, s: &str| {
        msgs.iter()
            .any(|m| m.starts_with(&format!("{line}: ")) && m.contains(s))
    };
    assert!(has(3, "defined again with identical content"), "{msgs:#?}");
    assert!(has(4, "defined again with different tags"), "{msgs:#?}");
    assert!(
        has(5, "role assignment principal `ghost` is not defined"),
        "{msgs:#?}"
    );
    assert!(has(6, "exposure resource"), "{msgs:#?}");
    assert!(
        has(7, "matches no role record and no built-in role"),
        "{msgs:#?}"
    );
    assert!(has(8, "unknown record type `alien`"), "{msgs:#?}");
    assert_eq!(
        v["counts"]["warnings"].as_u64().unwrap() as usize,
        msgs.len()
    );
    // The later conflicting line wins: the owner is now b.
    let (_, table, _) = scan_lines(&lines, &[]);
    assert!(table.contains("warnings (--verbose lists them)"), "{table}");
}

#[test]
fn rule_with_a_typo_is_rejected_with_a_caret() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join("rules/TC002.toml"))
        .unwrap()
        .replace("[:reaches*1..3]", "[:reachs*1..3]");
    std::fs::write(dir.path().join("TC002.toml"), &text).unwrap();
    let (code, _, err) = run(&["rules", "check", dir.path().to_str().unwrap()], None);
    assert_eq!(code, 2);
    assert!(
        err.contains("error: in pattern: unknown edge kind `reachs`"),
        "{err}"
    );
    assert!(
        err.contains("^^^^^^ expected one of exposes, reaches"),
        "{err}"
    );
    let line = text.lines().position(|l| l.contains("reachs")).unwrap() + 1;
    assert!(err.contains(&format!("TC002.toml:{line}:")), "{err}");
    // The same pack cannot be used to scan either.
    let (code, _, _) = run(
        &[
            "scan",
            "fixtures/demo/estate.jsonl",
            "--rules",
            dir.path().to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 2);
}

#[test]
fn bad_query_pattern_points_at_it() {
    let (code, _, err) = run(
        &[
            "query",
            "(internet)-[:exposes]->(e {sensitivty: high})",
            "fixtures/demo/estate.jsonl",
        ],
        None,
    );
    assert_eq!(code, 2);
    assert!(err.contains("unknown node property `sensitivty`"), "{err}");
    assert!(err.contains("--> <query>:1:28"), "{err}");
}

#[test]
fn usage_errors_exit_2() {
    let (code, _, err) = run(&["scan", "does/not/exist.jsonl"], None);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read does/not/exist.jsonl"), "{err}");
    let (code, _, _) = run(
        &["scan", "fixtures/demo/estate.jsonl", "--threads", "0"],
        None,
    );
    assert_eq!(code, 2);
    let (code, _, _) = run(&["scan"], None);
    assert_eq!(code, 2);
}

#[test]
fn failed_write_leaves_no_partial_output() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("no-such-dir").join("out.json");
    let (code, _, err) = run(
        &[
            "scan",
            "fixtures/demo/estate.jsonl",
            "--format",
            "json",
            "-o",
            target.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 2);
    assert!(err.contains("cannot write"), "{err}");
    assert!(!target.exists());
    // An error in the input leaves an existing report untouched.
    let out = dir.path().join("report.json");
    std::fs::write(&out, "previous").unwrap();
    let bad = write_snapshot(dir.path(), "bad.jsonl", &[HEADER, "{"]);
    let (code, _, _) = run(
        &[
            "scan",
            bad.to_str().unwrap(),
            "--format",
            "json",
            "-o",
            out.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 2);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "previous");
}
