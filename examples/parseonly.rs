#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::time::Instant;
fn main() {
    let path = std::env::args().nth(1).unwrap();
    let threads: usize = std::env::args().nth(2).unwrap().parse().unwrap();
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .unwrap();
    let t0 = Instant::now();
    let mut n = 0usize;
    let r = toxgraph::ingest::native::parse_file(
        std::path::Path::new(&path),
        Default::default(),
        false,
        |_| (),
        |_: &mut toxgraph::ingest::record::Record, _k: (), _o| {
            n += 1;
        },
    );
    println!("{:.3} {} {}", t0.elapsed().as_secs_f64(), n, r.is_ok());
}
