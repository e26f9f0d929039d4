//! The estate both benches run on: generated once per run, its size from
//! `TOXGRAPH_BENCH_RESOURCES` (default 10,000).

/// The folder holding the generated `q1.jsonl`; removed when dropped.
pub fn generated_estate() -> tempfile::TempDir {
    let n: usize = std::env::var("TOXGRAPH_BENCH_RESOURCES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let dir = tempfile::tempdir().expect("temp dir");
    toxgraph::generate::generate(
        &toxgraph::generate::GenerateOptions {
            resources: n,
            seed: 1,
        },
        dir.path(),
    )
    .expect("generate");
    dir
}
