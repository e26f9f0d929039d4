//! toxgraph: builds one graph of a cloud estate and finds toxic combinations in it.
//!
//! The pipeline is load → build → evaluate → report: [`ingest`] reads snapshots into
//! records, [`graph`] gives them meaning, [`rules`] compiles path patterns, [`engine`]
//! evaluates one pattern, [`scan`] evaluates a pack, [`report`] renders results.

pub mod atomic;
pub mod diag;
pub mod engine;
pub mod error;
pub mod gate;
pub mod generate;
pub mod graph;
pub mod ids;
pub mod ingest;
pub mod lineage;
pub mod phases;
mod prefetch;
pub mod report;
pub mod rules;
pub mod scan;
pub mod stream;
mod text;

pub use error::{Error, Result};

use std::path::Path;

/// A loaded and built estate, with every warning met on the way.
pub struct Estate {
    pub graph: graph::Graph,
    pub warnings: Vec<diag::Diagnostic>,
}

/// Load and build in one call: what every command starts with.
pub fn load_estate(
    path: &Path,
    read: ingest::ReadOptions,
    build: &graph::BuildOptions,
) -> Result<Estate> {
    let (built, _) = load_and_build(path, read, build, false)?;
    Ok(Estate {
        graph: built.graph,
        warnings: built.warnings,
    })
}

/// What was read besides the graph: the records' counts by type, and the file's SHA-256
/// and size, for lineage (`(folder)` and 0 for an export folder).
struct Loaded {
    records: std::collections::BTreeMap<String, usize>,
    sha256: String,
    size: u64,
}

/// An estate's graph, from a snapshot file or an export folder; the file is hashed on the
/// way when `hash` is set.
fn load_and_build(
    path: &Path,
    read: ingest::ReadOptions,
    build: &graph::BuildOptions,
    hash: bool,
) -> Result<(graph::Built, Loaded)> {
    if !path.is_dir() {
        return build_native(path, read, build, hash);
    }
    let snap = ingest::load(path, read)?;
    let loaded = Loaded {
        records: snap.record_counts(),
        sha256: String::from("(folder)"),
        size: 0,
    };
    let built = tracing::info_span!("build").in_scope(|| graph::build(snap, build));
    Ok((built, loaded))
}

/// A native snapshot file, read, parsed and built in one pass: each record goes into the
/// graph as soon as it is parsed, while later lines are read and parsed on the other
/// threads, so neither the file nor its records are ever all in memory.
fn build_native(
    path: &Path,
    read: ingest::ReadOptions,
    build: &graph::BuildOptions,
    hash: bool,
) -> Result<(graph::Built, Loaded)> {
    let name = path.display().to_string();
    // About one record in 350 bytes in typical snapshots: the id index is sized once.
    let size = std::fs::metadata(path).map_or(0, |m| m.len()) as usize;
    let estimate = size / 350 * if name.ends_with(".gz") { 8 } else { 1 };
    let mut b = graph::Builder::with_capacity(build, vec![name], estimate);
    // Ids are hashed on the parsing threads; the builder, taking records in line order on
    // one thread, only probes with the hashes.
    let (header, (sha256, size)) =
        ingest::native::parse_file(path, read, hash, graph::Keys::of, &mut b)?;
    let records = b.record_counts();
    let built = tracing::info_span!("build").in_scope(|| b.finish(header.meta, header.warnings));
    Ok((
        built,
        Loaded {
            records,
            sha256,
            size,
        },
    ))
}

/// One period of a quarterly report: load, build and scan a snapshot, and record its
/// lineage (hash, size, record counts) on the way.
pub fn load_period(
    path: &Path,
    pack: &rules::RulePack,
    read: ingest::ReadOptions,
    build: &graph::BuildOptions,
) -> Result<(report::quarterly::Period, lineage::InputLineage)> {
    // A snapshot file is read once: hashed for lineage and parsed from the same bytes.
    let (built, loaded) = load_and_build(path, read, build, true)?;
    let outcome = scan::run(&built.graph, pack, &engine::Filter::default());
    let meta = built.graph.meta.clone();
    let period = report::quarterly::Period {
        file: path.display().to_string(),
        graph: built.graph,
        combinations: outcome.combinations,
    };
    let input = lineage::InputLineage {
        file: path.display().to_string(),
        size: loaded.size,
        sha256: loaded.sha256,
        records: loaded.records,
        taken_at: meta.taken_at,
        label: meta.label,
    };
    Ok((period, input))
}

/// Now, in RFC 3339 (UTC, whole seconds): only for `--generated-at now`, since reports are
/// otherwise stamped from their snapshots so they reproduce byte for byte.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// When a report says it was generated.
pub enum GeneratedAt {
    /// The latest snapshot's `taken_at`: reports reproduce byte for byte.
    FromSnapshots,
    Now,
    At(String),
}

/// The quarterly report over `paths` (oldest first unless `by_taken_at`). Periods are
/// loaded one at a time and summarised; only the last two graphs are kept for movement.
pub fn quarterly_report(
    paths: &[std::path::PathBuf],
    pack: &rules::RulePack,
    read: ingest::ReadOptions,
    build: &graph::BuildOptions,
    opts: &report::quarterly::ReportOptions,
    by_taken_at: bool,
    generated_at: GeneratedAt,
) -> Result<(report::quarterly::Report, lineage::Lineage)> {
    let mut order: Vec<&std::path::PathBuf> = paths.iter().collect();
    if by_taken_at {
        let mut keyed = Vec::new();
        for p in order {
            keyed.push((ingest::taken_at(p, read)?, p));
        }
        keyed.sort();
        order = keyed.into_iter().map(|(_, p)| p).collect();
    }
    let mut summaries = Vec::new();
    let mut inputs = Vec::new();
    let mut recent: std::collections::VecDeque<report::quarterly::Period> = Default::default();
    for p in order {
        let (period, input) = load_period(p, pack, read, build)?;
        summaries.push(report::quarterly::summarise(&period, pack, opts));
        inputs.push(input);
        recent.push_back(period);
        if recent.len() > 2 {
            recent.pop_front();
        }
    }
    let generated_at = match generated_at {
        GeneratedAt::FromSnapshots => inputs
            .iter()
            .map(|l| l.taken_at.clone())
            .max()
            .unwrap_or_default(),
        GeneratedAt::Now => now_rfc3339(),
        GeneratedAt::At(t) => t,
    };
    let lineage = lineage::Lineage {
        tool: format!("toxgraph {}", env!("CARGO_PKG_VERSION")),
        generated_at,
        rule_pack_sha256: lineage::rule_pack_sha256(&pack.sources),
        rule_files: pack.sources.len(),
        inputs,
    };
    let last_two = (recent.len() == 2).then(|| (&recent[0], &recent[1]));
    let rep = report::quarterly::compute(&summaries, last_two, pack, opts, lineage.clone());
    Ok((rep, lineage))
}
