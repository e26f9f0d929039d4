//! Large outputs (a snapshot written by `import`, a scan's listing of combinations) are
//! formatted in parallel pieces and written in order: a batch of pieces is written while
//! the next is formatted, and only two batches are ever held, so an output of any size is
//! written in bounded memory and its text does not depend on the thread count.

use rayon::prelude::*;
use std::io::Write;
use std::sync::mpsc;

/// Writes what `format` puts in a buffer for each run of `piece` items, in order.
///
/// Batches are written by a thread of their own, which mostly waits on the system while
/// the pool formats the next batch: on the pool, a batch's writing would hold one of its
/// threads (and, with one thread, be done in turn with the formatting instead of beside it).
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
    let batches = items.chunks(piece * PIECES_PER_THREAD * rayon::current_num_threads());
    std::thread::scope(|scope| {
        // Handed over only when the writer is ready for it: the writer holds one batch
        // and this thread formats the next, never more.
        let (to_write, written) = mpsc::sync_channel::<Vec<Vec<u8>>>(0);
        let (give_back, spare) = mpsc::channel::<Vec<Vec<u8>>>();
        let writer = scope.spawn(move || -> std::io::Result<()> {
            for batch in written {
                batch.iter().try_for_each(|t| out.write_all(t))?;
                // Nobody left to take it back is no error: the formatting is over.
                let _ = give_back.send(batch);
            }
            Ok(())
        });
        for batch in batches {
            let bufs = each(batch, spare.try_recv().unwrap_or_default());
            if to_write.send(bufs).is_err() {
                // The writer stopped on an error, which it gives below.
                break;
            }
        }
        drop(to_write);
        writer
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the output's writer failed")))
    })
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

    /// Fails every write once `left` bytes are written.
    struct Full {
        left: usize,
    }

    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.left == 0 {
                return Err(std::io::Error::other("disk full"));
            }
            let n = buf.len().min(self.left);
            self.left -= n;
            Ok(n)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A write that fails stops the formatting and is the error given, whenever it comes.
    #[test]
    fn a_failed_write_is_the_error_given() {
        let items: Vec<u32> = (0..200_000).collect();
        for left in [0, 10, 500_000] {
            let mut out = Full { left };
            let err = super::write_batched(&items, 7, &mut out, &|xs, buf| {
                for i in xs {
                    write!(buf, "{i},").unwrap();
                }
            })
            .unwrap_err();
            assert_eq!(err.to_string(), "disk full", "after {left} bytes");
        }
    }
}
