//! toxgraph: builds one graph of a cloud estate and finds toxic combinations in it.
//!
//! The pipeline is load → build → evaluate → report: [`ingest`] reads snapshots into
//! records, [`graph`] gives them meaning, [`rules`] compiles path patterns, [`engine`]
//! evaluates one pattern, [`scan`] evaluates a pack, [`report`] renders results.

pub mod atomic;
pub mod diag;
pub mod engine;
pub mod error;
pub mod generate;
pub mod graph;
pub mod ids;
pub mod ingest;
pub mod report;
pub mod rules;
pub mod scan;

pub use error::{Error, Result};

use std::path::Path;

/// A loaded and built estate, with every warning met on the way.
pub struct Estate {
    pub graph: graph::Graph,
    pub warnings: Vec<diag::Diagnostic>,
    /// How long each phase took, for `--stats`.
    pub timings: Vec<(&'static str, std::time::Duration)>,
}

/// Load and build in one call: what every command starts with.
pub fn load_estate(
    path: &Path,
    read: ingest::ReadOptions,
    build: &graph::BuildOptions,
) -> Result<Estate> {
    let t0 = std::time::Instant::now();
    let snap = ingest::load(path, read)?;
    let t1 = std::time::Instant::now();
    let built = graph::build(snap, build);
    Ok(Estate {
        graph: built.graph,
        warnings: built.warnings,
        timings: vec![("read+parse", t1 - t0), ("build", t1.elapsed())],
    })
}
