//! Reading estates: native snapshots now, real exports through importers that produce the
//! same [`Snapshot`].

pub mod azure;
mod line;
pub mod native;
pub mod record;
pub mod write;

pub use native::ReadOptions;
pub use record::*;

use crate::diag::Diagnostic;
use crate::error::Result;
use std::path::Path;

/// Everything read from one estate at one moment, before any meaning is given to it.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub meta: Meta,
    pub records: Vec<Record<'static>>,
    /// `origins[i]` says where `records[i]` came from.
    pub origins: Vec<Origin>,
    /// Source files, indexed by [`Origin::file`].
    pub files: Vec<String>,
    /// Problems that did not stop the read (unknown types, skipped lines).
    pub warnings: Vec<Diagnostic>,
    pub unknown_types: usize,
}

impl Snapshot {
    /// Records read, by type, for lineage.
    pub fn record_counts(&self) -> std::collections::BTreeMap<String, usize> {
        let mut counts = TypeCounts::default();
        self.records.iter().for_each(|r| counts.add(r));
        counts.named()
    }
}

/// Loads an estate from a path: a native snapshot file (`.jsonl`, `.jsonl.gz`) or a folder
/// of Azure export files.
pub fn load(path: &Path, opts: ReadOptions) -> Result<Snapshot> {
    if path.is_dir() {
        // Export files are read while they are parsed: one phase.
        let _span = tracing::info_span!("parse").entered();
        let import = azure::ImportOptions {
            keep_going: opts.keep_going,
            ..Default::default()
        };
        return azure::import_dir(path, &import).map(|(snap, _)| snap);
    }
    native::read_file(path, opts)
}

/// A snapshot's `taken_at` without reading it all (native files: the header line), for
/// ordering periods by time.
pub fn taken_at(path: &Path, opts: ReadOptions) -> Result<String> {
    if path.is_dir() {
        return load(path, opts).map(|s| s.meta.taken_at);
    }
    use std::io::BufRead;
    let read_err = crate::error::read_error(path);
    let f = std::fs::File::open(path).map_err(read_err)?;
    let text: Box<dyn std::io::Read> = if path.display().to_string().ends_with(".gz") {
        Box::new(flate2::read::MultiGzDecoder::new(f))
    } else {
        Box::new(f)
    };
    for line in std::io::BufReader::new(text).lines() {
        let line = line.map_err(read_err)?;
        if line.trim().is_empty() {
            continue;
        }
        let snap = native::parse(
            format!("{line}\n").as_bytes(),
            &path.display().to_string(),
            opts,
        )?;
        return Ok(snap.meta.taken_at);
    }
    // No line at all: the whole read says so, as it would for any command.
    load(path, opts).map(|s| s.meta.taken_at)
}
