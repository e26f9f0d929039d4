//! The exact-duplicate table: every relation record and finding, by its 128-bit hash (see
//! [`Record::relation_hash128`](crate::ingest::Record::relation_hash128)), with where it was
//! first seen. The one thread that takes records in line order inserts into it once per
//! record, a million times at a million resources and 25 million on a 5,000-node clique, and
//! nearly every insert is of a new hash: so a probe must cost one cache miss, not the two of
//! a general table (a control group, then the bucket it points to).

use super::slots::Slots;
use crate::ingest::Origin;

/// Entries' places in `first` by the first word of their hash, at most three quarters full
/// (eight slots to a cache line, so even a long run of probes reads a line or two): an
/// entry is read only when the slot's half of the hash matches, which for a new hash
/// happens about once in four billion probes.
#[derive(Debug)]
pub struct Seen {
    slots: Slots,
    /// Each hash with where it was first seen, in the order first seen, in blocks of
    /// [`BLOCK`]: a list grown by doubling would copy itself and hold up to twice its size
    /// (600 MB of entries on a 5,000-node clique, more than the snapshot estimate sizes).
    first: Vec<Vec<Entry>>,
    len: usize,
}

type Entry = ([u64; 2], Origin);

/// Entries per block of [`Seen::first`] (1.5 MB).
const BLOCK: usize = 1 << 16;

/// Slots for at least `n` hashes, at most three quarters full.
fn slots_for(n: usize) -> Slots {
    Slots::new(n + n / 3 + 1)
}

impl Seen {
    /// A table that holds `n` hashes before it grows.
    pub fn with_capacity(n: usize) -> Seen {
        Seen {
            slots: slots_for(n),
            first: Vec::new(),
            len: 0,
        }
    }

    fn entry(&self, e: usize) -> &Entry {
        &self.first[e / BLOCK][e % BLOCK]
    }

    /// Starts loading the slot a probe for `h` reads first.
    pub fn prefetch(&self, h: [u64; 2]) {
        self.slots.prefetch(h[0]);
    }

    /// Where a record of hash `h` was first seen; or, when none was, `None`, and `at` is
    /// filed as the first.
    pub fn first_or_insert(&mut self, h: [u64; 2], at: Origin) -> Option<Origin> {
        let slot = match self.slots.find(h[0], |e| self.entry(e as usize).0 == h) {
            Ok(e) => return Some(self.entry(e as usize).1),
            Err(slot) => slot,
        };
        if self.len % BLOCK == 0 {
            self.first.push(Vec::with_capacity(BLOCK));
        }
        if let Some(block) = self.first.last_mut() {
            block.push((h, at));
        }
        self.slots.fill(slot, h[0], self.len as u32);
        self.len += 1;
        if self.len * 4 > self.slots.len() * 3 {
            // Twice the slots, every entry filed again from its stored hash.
            let slots = slots_for(self.len * 2);
            debug_assert!(slots.len() > self.slots.len());
            self.slots = slots.refiled(self.first.iter().flatten().map(|(h, _)| h[0]));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: u32) -> Origin {
        Origin { file: 0, line }
    }

    #[test]
    fn names_the_first_of_each_hash_through_growth_and_shared_halves() {
        let mut seen = Seen::with_capacity(0);
        // Spread-out hashes, each with others that share all of its first word, or that
        // word's upper half (the slot's tag), or its lower bits (where probing starts):
        // only the whole 128 bits tell them apart.
        let mix = |x: u64| {
            (x.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ x >> 29).wrapping_mul(0xbf58_476d_1ce4_e5b9)
        };
        let hashes: Vec<[u64; 2]> = (0..30_000u64)
            .flat_map(|i| {
                let a = mix(i);
                [[a, 0], [a, 1], [a ^ 1 << 50, 0], [a ^ 1, 0]]
            })
            .collect();
        let mut firsts = std::collections::HashMap::new();
        for (n, h) in hashes.iter().enumerate() {
            let o = at(n as u32 + 1);
            let want = firsts.get(h).copied();
            assert_eq!(seen.first_or_insert(*h, o), want, "{h:?}");
            firsts.entry(*h).or_insert(o);
        }
        // Seen again: each named by its first line, none filed twice.
        for h in &hashes {
            assert_eq!(seen.first_or_insert(*h, at(0)), firsts.get(h).copied());
        }
        assert_eq!(seen.len, firsts.len());
        assert_eq!(seen.first.iter().map(Vec::len).sum::<usize>(), firsts.len());
        assert!(seen.first.len() > 1, "more than one block");
    }
}
