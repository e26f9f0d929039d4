//! Targeted queries against a full scan, on one graph built once for a generated estate
//! (`TOXGRAPH_BENCH_RESOURCES`, default 10,000). The build is outside every timing, so the
//! ratios are what evaluation alone costs: the full shipped pack, TC001's pattern as an
//! ad-hoc query for every target, and the same query into one named target, the way
//! `toxgraph query --target` runs it. The last should cost in proportion to what can reach
//! the target (the engine's backward pass starts from it alone), not to the estate.

mod common;

use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use toxgraph::engine::Filter;
use toxgraph::graph::BuildOptions;
use toxgraph::ingest::ReadOptions;
use toxgraph::rules::{Rule, RulePack};

fn benches(c: &mut Criterion) {
    let dir = common::generated_estate();
    let est = toxgraph::load_estate(
        &dir.path().join("q1.jsonl"),
        ReadOptions::default(),
        &BuildOptions::default(),
    )
    .expect("the generated estate loads");
    let g = &est.graph;
    let pack = toxgraph::rules::shipped().expect("shipped rules load");

    // The target: a sensitive store that TC001 reaches (the first in the scan's order), named
    // by id and looked up as the CLI does.
    let tc001 = pack
        .rules
        .iter()
        .position(|r| r.id == "TC001")
        .expect("TC001 ships");
    let full = toxgraph::scan::run(g, &pack, &Filter::default());
    let reached = full
        .combinations
        .iter()
        .find(|c| c.rule == tc001)
        .expect("the generated estate has a TC001 combination");
    let target_id = g.id(reached.target).to_string();
    let target = g.find(&target_id).expect("the target's id finds it");
    let query = RulePack {
        rules: vec![Rule::adhoc(&pack.rules[tc001].pattern_text).expect("TC001's pattern parses")],
        sources: vec![],
    };
    let into_target = Filter {
        entry: None,
        target: Some(target),
    };
    let hits = toxgraph::scan::run(g, &query, &into_target)
        .combinations
        .len();
    eprintln!(
        "{} resources: {} combinations in the pack; query into {target_id}: {hits} paths",
        g.stats().resources,
        full.combinations.len()
    );

    let mut group = c.benchmark_group("query");
    group.sample_size(10);
    group.bench_function("full rule pack", |b| {
        b.iter(|| toxgraph::scan::run(g, &pack, black_box(&Filter::default())))
    });
    group.bench_function("TC001 pattern, every target", |b| {
        b.iter(|| toxgraph::scan::run(g, &query, black_box(&Filter::default())))
    });
    group.bench_function("TC001 pattern, into one target", |b| {
        b.iter(|| toxgraph::scan::run(g, &query, black_box(&into_target)))
    });
    group.finish();
}

criterion_group!(query, benches);
criterion_main!(query);
