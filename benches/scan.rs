//! Benchmarks on a generated estate (`TOXGRAPH_BENCH_RESOURCES`, default 10,000):
//! the JSON-parse floor, ingest, graph build, each shipped rule, and end-to-end scan.
//!
//! The floor is what no analyser can beat: reading the snapshot and checking every line is
//! valid JSON, single-threaded. Measuring it in the same run makes ratios meaningful.

mod common;

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use toxgraph::engine::Filter;
use toxgraph::graph::{build, BuildOptions};
use toxgraph::ingest::{native, ReadOptions};

fn estate() -> (tempfile::TempDir, Vec<u8>) {
    let dir = common::generated_estate();
    let bytes = std::fs::read(dir.path().join("q1.jsonl")).expect("read");
    (dir, bytes)
}

fn benches(c: &mut Criterion) {
    let (dir, bytes) = estate();
    let path = dir.path().join("q1.jsonl");
    let pack = toxgraph::rules::shipped().expect("shipped rules load");
    let mut g = c.benchmark_group("scan");
    g.sample_size(10);

    g.bench_function("floor: parse every line as JSON", |b| {
        b.iter(|| {
            for line in bytes.split(|c| *c == b'\n').filter(|l| !l.is_empty()) {
                let _: serde::de::IgnoredAny = serde_json::from_slice(line).expect("valid JSON");
            }
        })
    });
    g.bench_function("ingest", |b| {
        b.iter(|| {
            native::parse(black_box(&bytes), "bench.jsonl", ReadOptions::default()).expect("parses")
        })
    });
    g.bench_function("build", |b| {
        b.iter_batched(
            || native::parse(&bytes, "bench.jsonl", ReadOptions::default()).expect("parses"),
            |snap| build(snap, &BuildOptions::default()),
            criterion::BatchSize::LargeInput,
        )
    });
    let graph = build(
        native::parse(&bytes, "bench.jsonl", ReadOptions::default()).expect("parses"),
        &BuildOptions::default(),
    )
    .graph;
    for rule in &pack.rules {
        g.bench_function(format!("rule {}", rule.id), |b| {
            b.iter(|| toxgraph::engine::evaluate(&graph, &rule.pattern, &Filter::default()))
        });
    }
    // The way `scan` goes: the file read, parsed and built in one pass.
    g.bench_function("end-to-end", |b| {
        b.iter(|| {
            let est =
                toxgraph::load_estate(&path, ReadOptions::default(), &BuildOptions::default())
                    .expect("loads");
            let out = toxgraph::scan::run(&est.graph, &pack, &Filter::default());
            let doc = toxgraph::report::scan_doc(
                "bench.jsonl",
                &est.graph,
                &pack,
                &out,
                &est.warnings,
                None,
            );
            black_box(toxgraph::report::json(&doc))
        })
    });
    g.finish();
}

criterion_group!(scan, benches);
criterion_main!(scan);
