//! toxgraph: builds one graph of a cloud estate and finds toxic combinations in it.
//!
//! The pipeline is load → build → evaluate → report: [`ingest`] reads snapshots into
//! records, [`graph`] gives them meaning, [`rules`] compiles path patterns, [`engine`]
//! evaluates them, [`report`] writes results.

pub mod diag;
pub mod error;
pub mod graph;
pub mod ids;
pub mod ingest;
pub mod rules;

pub use error::{Error, Result};
