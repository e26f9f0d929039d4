//! Lineage: what a report was computed from (every input's SHA-256, size and record
//! counts, the rule pack's hash, the tool version, when it was generated) and the manifest
//! sidecar that lets `toxgraph verify` prove, later, that nothing changed.

use crate::error::Result;
use crate::scan::hex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// One input of a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputLineage {
    /// The path as given on the command line.
    pub file: String,
    pub size: u64,
    pub sha256: String,
    /// Records read, by type.
    pub records: std::collections::BTreeMap<String, usize>,
    pub taken_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lineage {
    pub tool: String,
    pub generated_at: String,
    /// SHA-256 over the sorted rule files (name, NUL, contents, NUL for each).
    pub rule_pack_sha256: String,
    pub rule_files: usize,
    pub inputs: Vec<InputLineage>,
}

/// The sidecar written next to a report (`report.html.manifest.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema: String,
    pub output: String,
    pub output_size: u64,
    pub output_sha256: String,
    pub lineage: Lineage,
}

pub const MANIFEST_SCHEMA: &str = "toxgraph.manifest/v1";

pub fn sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// Passes a reader's bytes through, counting them and (when asked) hashing them on the
/// way: a snapshot is read once, for both its lineage and its graph.
pub struct Hashing<R> {
    inner: R,
    sha: Option<Sha256>,
    size: u64,
}

impl<R> Hashing<R> {
    pub fn new(inner: R, hash: bool) -> Self {
        Hashing {
            inner,
            sha: hash.then(Sha256::new),
            size: 0,
        }
    }

    /// The SHA-256 (empty when not asked for) and the size of what was read.
    pub fn finish(self) -> (String, u64) {
        let sha = self.sha.map(|h| hex(&h.finalize())).unwrap_or_default();
        (sha, self.size)
    }
}

impl<R: std::io::Read> std::io::Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(sha) = &mut self.sha {
            sha.update(&buf[..n]);
        }
        self.size += n as u64;
        Ok(n)
    }
}

/// SHA-256 and size of a file, streamed so large snapshots are not held twice.
pub fn hash_file(path: &Path) -> Result<(String, u64)> {
    let read_err = crate::error::read_error(path);
    let f = std::fs::File::open(path).map_err(read_err)?;
    let mut h = Hashing::new(f, true);
    std::io::copy(&mut h, &mut std::io::sink()).map_err(read_err)?;
    Ok(h.finish())
}

/// The rule pack's hash: over its files sorted by name, so it names the pack exactly.
pub fn rule_pack_sha256(sources: &[(String, String)]) -> String {
    let mut files: Vec<&(String, String)> = sources.iter().collect();
    files.sort();
    let mut h = Sha256::new();
    for (name, text) in files {
        let base = Path::new(name)
            .file_name()
            .map_or(name.as_str(), |n| n.to_str().unwrap_or(name));
        h.update(base.as_bytes());
        h.update([0]);
        h.update(text.as_bytes());
        h.update([0]);
    }
    hex(&h.finalize())
}

/// The manifest's path for a report.
pub fn manifest_path(report: &Path) -> PathBuf {
    let mut name = report
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".manifest.json");
    report.with_file_name(name)
}

/// Writes a report and its manifest, both atomically.
pub fn write_with_manifest(report: &Path, bytes: &[u8], lineage: &Lineage) -> Result<()> {
    crate::atomic::write(report, bytes)?;
    let manifest = Manifest {
        schema: MANIFEST_SCHEMA.into(),
        output: report
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        output_size: bytes.len() as u64,
        output_sha256: sha256(bytes),
        lineage: lineage.clone(),
    };
    let text = crate::report::pretty_json(&manifest);
    crate::atomic::write(&manifest_path(report), text.as_bytes())
}

/// One difference `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub what: String,
    pub expected: String,
    pub found: String,
}

/// Re-hashes a report and every input its manifest names. Input paths are taken as
/// recorded (relative paths from the current directory, as when the report was made).
pub fn verify(report: &Path) -> Result<Vec<Mismatch>> {
    let mpath = manifest_path(report);
    let text = crate::error::read_text(&mpath)?;
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| {
        crate::diag::Diagnostic::error(
            mpath.display().to_string(),
            format!("not a toxgraph manifest: {e}"),
        )
        .expected("the .manifest.json written beside the report")
    })?;
    let mut out = Vec::new();
    let mut check = |what: String, path: &Path, sha: &str, size: u64| match hash_file(path) {
        Ok((h, s)) => {
            if h != sha || s != size {
                out.push(Mismatch {
                    what,
                    expected: format!("sha256 {sha}, {size} bytes"),
                    found: format!("sha256 {h}, {s} bytes"),
                });
            }
        }
        Err(e) => out.push(Mismatch {
            what,
            expected: format!("sha256 {sha}"),
            found: e.to_string(),
        }),
    };
    check(
        format!("report {}", report.display()),
        report,
        &manifest.output_sha256,
        manifest.output_size,
    );
    for input in &manifest.lineage.inputs {
        check(
            format!("input {}", input.file),
            Path::new(&input.file),
            &input.sha256,
            input.size,
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trip_and_one_byte_change() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("q1.jsonl");
        std::fs::write(&input, "hello").unwrap();
        let (sha, size) = hash_file(&input).unwrap();
        let lineage = Lineage {
            tool: "toxgraph test".into(),
            generated_at: "2026-01-01T00:00:00Z".into(),
            rule_pack_sha256: rule_pack_sha256(&[("a.toml".into(), "x".into())]),
            rule_files: 1,
            inputs: vec![InputLineage {
                file: input.display().to_string(),
                size,
                sha256: sha,
                records: Default::default(),
                taken_at: "2026-01-01T00:00:00Z".into(),
                label: None,
            }],
        };
        let report = dir.path().join("r.md");
        write_with_manifest(&report, b"report", &lineage).unwrap();
        assert!(verify(&report).unwrap().is_empty());
        std::fs::write(&input, "hellO").unwrap();
        let m = verify(&report).unwrap();
        assert_eq!(m.len(), 1);
        assert!(m[0].what.starts_with("input "));
        std::fs::write(&input, "hello").unwrap();
        std::fs::write(&report, "reporT").unwrap();
        assert!(verify(&report).unwrap()[0].what.starts_with("report "));
    }

    #[test]
    fn pack_hash_ignores_order_not_content() {
        let a = rule_pack_sha256(&[
            ("rules/a.toml".into(), "1".into()),
            ("rules/b.toml".into(), "2".into()),
        ]);
        let b = rule_pack_sha256(&[("b.toml".into(), "2".into()), ("a.toml".into(), "1".into())]);
        assert_eq!(a, b);
        assert_ne!(
            a,
            rule_pack_sha256(&[("a.toml".into(), "1".into()), ("b.toml".into(), "3".into())])
        );
    }
}
