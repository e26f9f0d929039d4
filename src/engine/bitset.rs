//! A fixed-size bit set: node sets and product-state sets are dense, so one bit each is
//! the cheapest representation that stays O(1) to test.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BitSet {
    words: Vec<u64>,
    len: usize,
}

impl BitSet {
    pub fn new(len: usize) -> Self {
        BitSet {
            words: vec![0; len.div_ceil(64)],
            len,
        }
    }

    pub fn full(len: usize) -> Self {
        let mut words = vec![u64::MAX; len.div_ceil(64)];
        if let (Some(last), tail @ 1..) = (words.last_mut(), len % 64) {
            *last = (1 << tail) - 1;
        }
        BitSet { words, len }
    }

    /// The set whose words are `words`, bit `i % 64` of word `i / 64` for element `i`.
    pub fn from_words(words: Vec<u64>, len: usize) -> Self {
        debug_assert_eq!(words.len(), len.div_ceil(64));
        BitSet { words, len }
    }

    pub fn from_fn(len: usize, f: impl Fn(usize) -> bool + Sync) -> Self {
        use rayon::prelude::*;
        let words: Vec<u64> = (0..len.div_ceil(64))
            .into_par_iter()
            .map(|w| {
                let mut word = 0u64;
                for b in 0..64 {
                    let i = w * 64 + b;
                    if i < len && f(i) {
                        word |= 1 << b;
                    }
                }
                word
            })
            .collect();
        BitSet { words, len }
    }

    #[inline]
    pub fn contains(&self, i: usize) -> bool {
        i < self.len && self.words[i / 64] & (1 << (i % 64)) != 0
    }

    /// Returns true when the bit was not set before.
    #[inline]
    pub fn insert(&mut self, i: usize) -> bool {
        let w = &mut self.words[i / 64];
        let m = 1 << (i % 64);
        let fresh = *w & m == 0;
        *w |= m;
        fresh
    }

    /// Starts loading the word that holds `i`, a test of it soon to come.
    pub fn prefetch(&self, i: usize) {
        if let Some(w) = self.words.get(i / 64) {
            crate::prefetch::prefetch(w);
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(wi, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let b = w.trailing_zeros() as usize;
                w &= w - 1;
                Some(wi * 64 + b)
            })
        })
    }

    pub fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_ops() {
        let mut s = BitSet::new(130);
        assert!(s.insert(0));
        assert!(s.insert(129));
        assert!(!s.insert(129));
        assert!(s.contains(129) && !s.contains(64) && !s.contains(500));
        // A hint, in the set or past it: nothing changes.
        s.prefetch(129);
        s.prefetch(500);
        assert!(s.contains(129) && !s.contains(500));
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![0, 129]);
        assert_eq!(BitSet::from_fn(100, |i| i % 3 == 0).count(), 34);
        for len in [0, 1, 63, 64, 65, 70, 128] {
            let full = BitSet::full(len);
            assert_eq!(full, BitSet::from_fn(len, |_| true), "{len}");
            assert_eq!(full.count(), len);
        }
    }
}
