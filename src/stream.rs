//! Large outputs (a snapshot written by `import`, a scan's listing of combinations) are
//! formatted in parallel pieces and written in order: a batch of pieces is written while
//! the next is formatted, and only two batches are ever held, so an output of any size is
//! written in bounded memory and its text does not depend on the thread count.

use rayon::prelude::*;
use std::io::Write;

/// Writes what `format` puts in a buffer for each run of `piece` items, in order.
///
/// The buffers of a batch, once written, are emptied and filled by the batch after next:
/// fresh buffers for every batch would have each byte of a large output faulted in anew
/// (at a million resources, an eighth of a scan's page faults).
pub fn write_batched<T: Sync>(
    items: &[T],
    piece: usize,
    out: &mut (dyn Write + Send),
    format: &(dyn Fn(&[T], &mut Vec<u8>) + Sync),
) -> std::io::Result<()> {
    /// Pieces per batch for each thread: enough to keep every thread busy while a batch
    /// is written.
    const PIECES_PER_THREAD: usize = 4;
    let piece = piece.max(1);
    let each = |batch: &[T], mut bufs: Vec<Vec<u8>>| -> Vec<Vec<u8>> {
        bufs.resize_with(batch.len().div_ceil(piece), Vec::new);
        bufs.par_iter_mut()
            .zip(batch.par_chunks(piece))
            .for_each(|(buf, run)| {
                buf.clear();
                format(run, buf);
            });
        bufs
    };
    let mut batches = items.chunks(piece * PIECES_PER_THREAD * rayon::current_num_threads());
    let mut ready = batches
        .next()
        .map(|b| each(b, Vec::new()))
        .unwrap_or_default();
    let mut spare = Vec::new();
    loop {
        let next = batches.next();
        let (written, formatted) = rayon::join(
            || ready.iter().try_for_each(|t| out.write_all(t)),
            || next.map(|b| each(b, std::mem::take(&mut spare))),
        );
        written?;
        match formatted {
            Some(f) => spare = std::mem::replace(&mut ready, f),
            None => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

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
                super::write_batched(&items, 7, &mut out, &|xs, buf| {
                    for i in xs {
                        write!(buf, "{i},").unwrap();
                    }
                })
            })
            .unwrap();
            assert!(out == expected.as_bytes(), "{threads} threads");
        }
        let mut out = Vec::new();
        super::write_batched::<u32>(&[], 7, &mut out, &|_, buf| buf.push(b'x')).unwrap();
        assert!(out.is_empty());
    }
}
