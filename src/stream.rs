//! Large outputs (a snapshot written by `import`, a scan's listing of combinations) are
//! formatted in parallel pieces and written in order: a batch of pieces is written while
//! the next is formatted, and only two batches are ever held, so an output of any size is
//! written in bounded memory and its text does not depend on the thread count.

use rayon::prelude::*;
use std::io::Write;

/// Writes `format` of each run of `piece` items, in order.
pub fn write_batched<T: Sync, B: AsRef<[u8]> + Send + Sync>(
    items: &[T],
    piece: usize,
    out: &mut (dyn Write + Send),
    format: &(dyn Fn(&[T]) -> B + Sync),
) -> std::io::Result<()> {
    /// Pieces per batch for each thread: enough to keep every thread busy while a batch
    /// is written.
    const PIECES_PER_THREAD: usize = 4;
    let piece = piece.max(1);
    let each = |batch: &[T]| -> Vec<B> { batch.par_chunks(piece).map(format).collect() };
    let mut batches = items.chunks(piece * PIECES_PER_THREAD * rayon::current_num_threads());
    let mut ready = batches.next().map(each).unwrap_or_default();
    loop {
        let next = batches.next();
        let (written, formatted) = rayon::join(
            || ready.iter().try_for_each(|t| out.write_all(t.as_ref())),
            || next.map(each),
        );
        written?;
        match formatted {
            Some(f) => ready = f,
            None => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn pieces_come_out_in_order_at_any_thread_count() {
        let items: Vec<u32> = (0..100_003).collect();
        let expected: String = items.iter().map(|i| format!("{i},")).collect();
        for threads in [1, 2, 5] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut out = Vec::new();
            pool.install(|| {
                super::write_batched(&items, 7, &mut out, &|xs| {
                    xs.iter().map(|i| format!("{i},")).collect::<String>()
                })
            })
            .unwrap();
            assert!(out == expected.as_bytes(), "{threads} threads");
        }
        let mut out = Vec::new();
        super::write_batched::<u32, String>(&[], 7, &mut out, &|_| "x".into()).unwrap();
        assert!(out.is_empty());
    }
}
