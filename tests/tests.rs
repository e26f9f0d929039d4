//! One integration test binary, modules grouped by concern.

mod util;

mod azure;
mod cli;
mod determinism;
mod engine_props;
mod gate;
mod malformed;
mod report;
mod rule_fixtures;
