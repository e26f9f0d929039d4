//! The hash table under the id index and the duplicate table: open addressing with linear
//! probing over eight-byte slots, each the upper half of a hash beside a 32-bit value. A
//! probe reads one slot, mostly one cache line, and looks at what a value names only when
//! that half of the hash matches; a general table's probe reads two (a control group, then
//! the bucket it points to), and both tables are probed once per record at a million
//! resources. The owner keeps what the values name, says what a match is, and grows the
//! table (filing every value again) before it is as full as it allows.

use crate::prefetch::prefetch;

#[derive(Debug)]
pub struct Slots(Vec<u64>);

/// A slot no value is in.
const EMPTY: u64 = u64::MAX;

impl Default for Slots {
    fn default() -> Slots {
        Slots::new(0)
    }
}

impl Slots {
    /// At least `n` slots (a power of two, and 16 or more), all empty. A large table is
    /// filled on every thread of the pool: the first tables are made before the first
    /// record is read (56 MB at a million resources), while nothing else runs. Left for
    /// the probes to fault in page by page instead, they slowed the taking of records by
    /// a fifth.
    pub fn new(n: usize) -> Slots {
        use rayon::prelude::*;
        let n = n.next_power_of_two().max(16);
        let mut slots = Vec::with_capacity(n);
        slots.par_extend(rayon::iter::repeat_n(EMPTY, n).with_min_len(1 << 16));
        Slots(slots)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    fn mask(&self) -> usize {
        self.0.len() - 1
    }

    /// The value filed under `hash` for which `is` holds; or, if none is, the empty slot
    /// the probe ended on, where such a value would be filed ([`fill`](Self::fill)).
    pub fn find(&self, hash: u64, mut is: impl FnMut(u32) -> bool) -> Result<u32, usize> {
        let tag = hash >> 32;
        let mask = self.mask();
        let mut i = hash as usize & mask;
        loop {
            let slot = self.0[i];
            if slot == EMPTY {
                return Err(i);
            }
            if slot >> 32 == tag && is(slot as u32) {
                return Ok(slot as u32);
            }
            i = (i + 1) & mask;
        }
    }

    /// Files `v` under `hash` in slot `at`, the empty slot [`find`](Self::find) gave.
    pub fn fill(&mut self, at: usize, hash: u64, v: u32) {
        self.0[at] = (hash >> 32) << 32 | u64::from(v);
    }

    /// Files `v` under `hash` (not already filed).
    pub fn file(&mut self, hash: u64, v: u32) {
        if let Err(at) = self.find(hash, |_| false) {
            self.fill(at, hash, v);
        }
    }

    /// These slots (empty) with value `i` filed under the `i`-th of `hashes`: how an
    /// owner grows its table, from the hash it keeps or can make again of each value.
    pub fn refiled(mut self, hashes: impl IntoIterator<Item = u64>) -> Slots {
        for (i, h) in hashes.into_iter().enumerate() {
            self.file(h, i as u32);
        }
        self
    }

    /// Starts loading the slot a probe for `hash` reads first.
    pub fn prefetch(&self, hash: u64) {
        prefetch(&self.0[hash as usize & self.mask()]);
    }

    /// The value in the first slot a probe for `hash` reads, if its half of the hash
    /// matches: most likely the value a probe will find, though nothing is compared.
    pub fn likely(&self, hash: u64) -> Option<u32> {
        let slot = self.0[hash as usize & self.mask()];
        (slot != EMPTY && slot >> 32 == hash >> 32).then_some(slot as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_what_was_filed_past_shared_halves_and_wraps_round() {
        let mut s = Slots::new(16);
        // Same starting slot (the last), same upper half, different values: probing wraps.
        let h = (7u64 << 32) | 15;
        s.file(h, 1);
        s.file(h, 2);
        assert_eq!(s.find(h, |v| v == 2), Ok(2));
        assert_eq!(s.find(h, |v| v == 1), Ok(1));
        assert_eq!(s.find(h, |v| v == 3), Err(1), "the slot after the wrap");
        // Another upper half never matches, whatever `is` says.
        assert_eq!(s.find((8u64 << 32) | 15, |_| true), Err(1));
        assert_eq!(s.likely(h), Some(1));
        assert_eq!(s.likely((8u64 << 32) | 15), None);
        assert_eq!(Slots::default().len(), 16);
        assert_eq!(Slots::new(17).len(), 32);
    }
}
