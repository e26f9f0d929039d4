//! The JSON-parse floor: read a snapshot and check every line is valid JSON, on one thread.
//! No analyser can do less, so scan times are reported as a ratio to this.
//!
//!     cargo run --release --example floor -- q1.jsonl

use std::time::Instant;

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: floor SNAPSHOT.jsonl");
        std::process::exit(2);
    };
    let t0 = Instant::now();
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("cannot read {path}: {e}");
            std::process::exit(2);
        }
    };
    let mut lines = 0usize;
    for line in memchr::Memchr::new(b'\n', &bytes)
        .chain([bytes.len()])
        .scan(0, |start, end| {
            let line = &bytes[*start..end];
            *start = end + 1;
            Some(line)
        })
        .filter(|l| !l.is_empty())
    {
        if serde_json::from_slice::<serde::de::IgnoredAny>(line).is_err() {
            eprintln!("invalid JSON at line {}", lines + 1);
            std::process::exit(2);
        }
        lines += 1;
    }
    println!("{:.3}", t0.elapsed().as_secs_f64());
    eprintln!("{lines} lines, {} bytes", bytes.len());
}
