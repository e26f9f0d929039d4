//! Importer for Azure exports: a folder of the files a security engineer already has
//! (Resource Graph and ARM REST output, `az` CLI JSON, Defender for Cloud assessments and
//! alerts, NSGs, NICs, effective NSG lists), detected by content, never by file name, and
//! turned into the same records a native snapshot holds.
//!
//! Reading is in three steps: [`shape`] unwraps each file's envelope into items,
//! [`collect`] sorts items into a typed model, [`emit`] derives the records (exposure from
//! NSG evaluation, reach inside virtual networks, privilege of custom roles).

mod collect;
mod emit;
mod hound;
pub mod nsg;
pub mod roles;
mod shape;

use super::{Meta, Origin, Record, Snapshot};
use crate::diag::Diagnostic;
use crate::error::{Error, Result};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

/// Choices for an import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Skip unreadable files and truncated result sets (counted warnings) instead of stopping.
    pub keep_going: bool,
    /// `taken_at` of the snapshot; default: the latest timestamp found in the exports.
    pub taken_at: Option<String>,
    pub label: Option<String>,
    /// Tag key that marks sensitive data (`sensitivity: high`).
    pub sensitivity_tag: String,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            keep_going: false,
            taken_at: None,
            label: None,
            sensitivity_tag: "sensitivity".into(),
        }
    }
}

/// What was read from each file, and what was skipped and why (`--explain-skipped`).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ImportReport {
    pub files: Vec<FileReport>,
    pub skipped: Vec<Skipped>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct FileReport {
    pub file: String,
    /// The envelope recognised: `arm-list`, `resource-graph`, `api-example`, `array`, ...
    pub shape: String,
    pub items: usize,
    /// Items that contributed to the estate.
    pub used: usize,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Skipped {
    pub file: String,
    /// 1-based item number in the file (0: the whole file).
    pub item: usize,
    pub reason: String,
}

/// A file read from disk and parsed, or why not.
type FileOutcome =
    std::io::Result<std::result::Result<shape::Read<collect::Sorted>, Box<Diagnostic>>>;

/// One item of one file, kept with its origin.
pub(crate) struct Item {
    pub file: u32,
    pub index: u32,
    pub value: collect::Sorted,
}

/// Reads every export file under `dir` (recursively, in name order) into a snapshot.
pub fn import_dir(dir: &Path, opts: &ImportOptions) -> Result<(Snapshot, ImportReport)> {
    let mut paths = Vec::new();
    walk(dir, &mut paths)?;
    paths.sort();
    let mut report = ImportReport::default();
    let mut files: Vec<String> = Vec::new();
    let mut items: Vec<Item> = Vec::new();
    let mut errors: Vec<Diagnostic> = Vec::new();
    let mut warnings: Vec<Diagnostic> = Vec::new();
    let mut pages = shape::Paging::default();
    // Files are parsed in parallel; their results are taken in name order.
    let parsed: Vec<(String, Option<FileOutcome>)> = paths
        .par_iter()
        .map(|path| {
            let name = path.display().to_string();
            if !shape::looks_like_data(path) {
                return (name, None);
            }
            let read = std::fs::read(path).map(|bytes| shape::read(&name, &bytes, &collect::sort));
            (name, Some(read))
        })
        .collect();
    let count = parsed.iter().map(|(_, o)| match o {
        Some(Ok(Ok(read))) => read.items.len(),
        _ => 0,
    });
    items.reserve_exact(count.sum());
    for (path, (name, outcome)) in paths.iter().zip(parsed) {
        let read = match outcome {
            None => {
                report.skipped.push(Skipped {
                    file: name,
                    item: 0,
                    reason: "not an export file (documentation or unknown extension)".into(),
                });
                continue;
            }
            Some(Err(source)) => {
                return Err(Error::Read {
                    path: path.clone(),
                    source,
                })
            }
            Some(Ok(r)) => r,
        };
        let file_ix = files.len() as u32;
        match read {
            Ok(read) => {
                pages.note(&name, read.more);
                report.files.push(FileReport {
                    file: name.clone(),
                    shape: read.shape.to_string(),
                    items: read.items.len(),
                    used: 0,
                });
                for (i, value) in read.items.into_iter().enumerate() {
                    items.push(Item {
                        file: file_ix,
                        index: i as u32 + 1,
                        value,
                    });
                }
                files.push(name);
            }
            Err(d) => {
                if opts.keep_going {
                    report.skipped.push(Skipped {
                        file: name.clone(),
                        item: 0,
                        reason: d.message.clone(),
                    });
                    warnings.push(d.warning());
                } else {
                    errors.push(*d);
                }
            }
        }
    }
    for d in pages.problems() {
        if opts.keep_going {
            warnings.push(d.warning());
        } else {
            errors.push(d);
        }
    }
    if !errors.is_empty() {
        return Err(Error::Invalid(errors));
    }
    let mut model = collect::collect(items, &files, &mut report);
    let emitted = emit::emit(&mut model, opts, &files);
    // Freeing hundreds of thousands of parsed items takes a while; it need not hold up
    // the import.
    std::thread::spawn(move || drop(model));
    if !emitted.errors.is_empty() {
        return Err(Error::Invalid(emitted.errors));
    }
    for (file, used) in emitted.used_by_file.iter().enumerate() {
        if let Some(fr) = report.files.get_mut(file) {
            fr.used = *used;
        }
    }
    warnings.extend(emitted.warnings);
    let taken_at = opts
        .taken_at
        .clone()
        .or(emitted.latest_timestamp)
        .unwrap_or_else(|| {
            warnings.push(
                Diagnostic::error(dir.display().to_string(), "no timestamp found in the exports; taken_at is 1970-01-01T00:00:00Z (give --taken-at)").warning(),
            );
            "1970-01-01T00:00:00Z".into()
        });
    // The same assignment or membership often appears in several exports (a resource
    // group listing repeats inherited assignments); one record is kept.
    let (records, origins) = dedup_relations(emitted.records);
    let snap = Snapshot {
        meta: Meta {
            taken_at,
            label: opts.label.clone(),
            tenant: emitted.tenant,
            source: Some(format!("toxgraph import azure --from {}", dir.display())),
        },
        records,
        origins,
        files,
        warnings,
        unknown_types: 0,
    };
    Ok((snap, report))
}

/// Drops repeated relation records (definitions and findings are merged downstream, with
/// their own warnings), keeping the first of each.
fn dedup_relations(mut emitted: Vec<(Record, Origin)>) -> (Vec<Record>, Vec<Origin>) {
    // Indices of the records kept so far, by their relation hash.
    let mut seen: hashbrown::HashTable<(u64, usize)> = hashbrown::HashTable::new();
    // Kept in place: the records are the bulk of an import's memory.
    let mut kept = 0;
    for i in 0..emitted.len() {
        let r = &emitted[i].0;
        let repeated = !matches!(r, Record::Finding(_))
            && r.relation_hash().is_some_and(|h| {
                let dup = seen
                    .find(h, |&(g, j)| g == h && emitted[j].0 == *r)
                    .is_some();
                if !dup {
                    seen.insert_unique(h, (h, kept), |&(g, _)| g);
                }
                dup
            });
        if !repeated {
            emitted.swap(kept, i);
            kept += 1;
        }
    }
    emitted.truncate(kept);
    let origins = emitted.iter().map(|(_, o)| *o).collect();
    // Reuses the allocation of `emitted`.
    let records = emitted.into_iter().map(|(r, _)| r).collect();
    (records, origins)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let read_err = crate::error::read_error(dir);
    let entries = std::fs::read_dir(dir).map_err(read_err)?;
    for e in entries {
        let e = e.map_err(read_err)?;
        let p = e.path();
        let hidden = p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if p.is_dir() {
            walk(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}

/// The TCP ports an NSG (ARM JSON, custom and default rules) lets in from `src`; `Err`
/// names a rule that cannot be read.
pub fn nsg_allowed(
    nsg_json: &serde_json::Value,
    src: nsg::Source,
) -> std::result::Result<Vec<super::PortRange>, String> {
    emit::nsg_allowed(nsg_json, src)
}

/// The TCP ports an effective-NSG list entry (`az network nic list-effective-nsg`) lets in.
pub fn effective_allowed(
    entry: &serde_json::Value,
    src: nsg::Source,
) -> std::result::Result<Vec<super::PortRange>, String> {
    emit::effective_allowed(entry, src)
}
