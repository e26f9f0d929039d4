//! Helpers shared by the integration tests.

use assert_cmd::Command;
use std::path::{Path, PathBuf};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(rel: &str) -> PathBuf {
    root().join("fixtures").join(rel)
}

pub fn toxgraph() -> Command {
    let mut c = Command::cargo_bin("toxgraph").expect("binary builds");
    c.current_dir(root());
    c
}

/// Runs the binary; returns (exit code, stdout, stderr).
pub fn run(args: &[&str], cwd: Option<&Path>) -> (i32, String, String) {
    let mut c = toxgraph();
    if let Some(d) = cwd {
        c.current_dir(d);
    }
    let out = c.args(args).output().expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The `rule<TAB>entry<TAB>target` lines of a scan's JSON, lowercased and sorted.
pub fn combination_lines(json: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(json).expect("scan JSON parses");
    let mut out: Vec<String> = v["combinations"]
        .as_array()
        .expect("combinations array")
        .iter()
        .map(|c| {
            format!(
                "{}\t{}\t{}",
                c["rule"].as_str().unwrap_or(""),
                c["entry"].as_str().unwrap_or("").to_ascii_lowercase(),
                c["target"].as_str().unwrap_or("").to_ascii_lowercase()
            )
        })
        .collect();
    out.sort();
    out
}

pub fn expected_lines(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("expected.tsv readable");
    let mut v: Vec<String> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

/// Compares `actual` with the golden file `tests/snapshots/NAME`; with
/// `UPDATE_SNAPSHOTS=1` the file is rewritten instead.
pub fn assert_snapshot(name: &str, actual: &str) {
    let path = root().join("tests").join("snapshots").join(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("missing snapshot {name}; run with UPDATE_SNAPSHOTS=1"));
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "snapshot {name} differs at line {}:\nexpected: {:?}\nactual:   {:?}\n(UPDATE_SNAPSHOTS=1 to accept)",
            first + 1,
            expected.lines().nth(first),
            actual.lines().nth(first)
        );
    }
}

/// Writes a snapshot file from lines into a temp dir and returns its path.
pub fn write_snapshot(dir: &Path, name: &str, lines: &[&str]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    p
}

pub const HEADER: &str =
    r#"{"type":"snapshot","taken_at":"2026-09-30T00:00:00Z","label":"2026-Q3"}"#;
