//! Hints to the processor to start loading memory that will be read soon.
//!
//! Taking records into the graph and sorting its ids are bound by memory, not by work:
//! each record names ids that lie anywhere in tables of a million entries, and its own
//! strings were written by another thread. Asking for those lines some records ahead lets
//! the loads overlap instead of waiting one after another. A hint changes nothing else.

/// Starts loading the cache line that holds `x`.
pub(crate) fn prefetch<T>(x: &T) {
    line((x as *const T).cast());
}

/// Starts loading every cache line `x` spans.
pub(crate) fn prefetch_all<T>(x: &T) {
    let at: *const u8 = (x as *const T).cast();
    for offset in (0..std::mem::size_of::<T>()).step_by(64) {
        line(at.wrapping_add(offset));
    }
}

/// Starts loading the first and the last line of `s`'s text: where a lookup of the text
/// first reads it, from either end.
pub(crate) fn prefetch_text(s: impl AsRef<[u8]>) {
    let s = s.as_ref();
    if let (Some(first), Some(last)) = (s.first(), s.last()) {
        prefetch(first);
        prefetch(last);
    }
}

/// Before item `i` (of a slice, a queue: whatever `item` looks in) is used, asks for what
/// later items will need: step `k` (`ask(item, k)`) for the item `far[k]` places on. Each
/// step is meant to read what the step before it had loaded, so `far` goes down.
pub(crate) fn ahead<'a, T: 'a>(
    item: impl Fn(usize) -> Option<&'a T>,
    i: usize,
    far: &[usize],
    ask: impl Fn(&T, usize),
) {
    for (step, &by) in far.iter().enumerate() {
        if let Some(later) = item(i + by) {
            ask(later, step);
        }
    }
}

fn line(at: *const u8) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: a prefetch is a hint; it reads nothing and cannot fault, whatever the
        // address.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(at.cast()) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}
