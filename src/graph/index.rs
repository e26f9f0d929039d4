//! The id index: id → node, comparing ids as the format does (trimmed, ASCII letters
//! folded). Every reference in a snapshot is looked up here, millions of times at scale,
//! on the one thread that takes records in line order; so the hash of an id can be worked
//! out beforehand, on the threads that parse (see [`Keys`](super::Keys)), and a probe
//! compares half of it, stored in the table, before it touches an id.
//!
//! Each id is held once, as first spelled, in large shared blocks of text: at a million
//! resources ids are a fifth of the snapshot, and a folded copy beside a display copy, each
//! its own allocation, was the largest thing in memory.

use super::slots::Slots;
use crate::prefetch::prefetch;
use rayon::prelude::*;
use std::cmp::Ordering;

/// The hash the index files a folded id under: a fast, fixed-seed hash, since ids are the
/// user's own data, not input from an adversary the hash must resist.
pub fn hash_folded(folded: &[u8]) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = foldhash::fast::FixedState::default().build_hasher();
    h.write(folded);
    h.finish()
}

/// The hash of an id as [`IdIndex`] files it, without making the folded copy (trimmed, ASCII
/// letters lowercased, as the format compares ids).
///
/// Ids are folded on the stack, eight bytes at a time: most are below [`FOLD_ON_STACK`]
/// bytes, and every reference of a snapshot is hashed, so a byte-by-byte check and copy
/// were most of the parsing threads' own work after JSON.
pub fn hash_id(id: &str) -> u64 {
    let id = crate::text::trim(id);
    if id.len() <= FOLD_ON_STACK {
        let mut buf = [0u8; FOLD_ON_STACK];
        let folded = &mut buf[..id.len()];
        fold_into(folded, id.as_bytes());
        return hash_folded(folded);
    }
    hash_folded(id.to_ascii_lowercase().as_bytes())
}

/// Whether two trimmed ids are the same id, ASCII case aside. Most references spell an id
/// as the index holds it, and comparing bytes as they are takes a few vector compares,
/// where comparing them folded takes a fold of each byte.
fn same_id(held: &str, id: &str) -> bool {
    held == id || held.eq_ignore_ascii_case(id)
}

/// How many ids ahead the node order asks for an id's window (or the rest of it that is
/// gathered) to be loaded.
const SORT_AHEAD: usize = 8;

/// Ids of tied runs that the node order gathers and sorts together, about (a run is
/// never cut); small in the tests, so that they meet batches of several runs.
const SORT_BATCH: usize = if cfg!(test) { 40 } else { 1 << 14 };

/// Ids up to this many bytes are folded on the stack to be hashed.
const FOLD_ON_STACK: usize = 256;

/// `to` = `from`, ASCII-lowercased; both the same length.
fn fold_into(to: &mut [u8], from: &[u8]) {
    let mut words = to.chunks_exact_mut(8).zip(from.chunks_exact(8));
    for (t, f) in &mut words {
        let mut w = [0; 8];
        w.copy_from_slice(f);
        // `lower8` treats each byte on its own, whatever the byte order.
        t.copy_from_slice(&lower8(u64::from_le_bytes(w)).to_le_bytes());
    }
    let whole = from.len() / 8 * 8;
    for (t, f) in to[whole..].iter_mut().zip(&from[whole..]) {
        *t = f.to_ascii_lowercase();
    }
}

/// Bytes of id text per block: big enough that blocks are few, small enough that the last
/// one's unused tail is nothing beside the rest. A longer id gets a block of its own.
const BLOCK: usize = 1 << 20;

/// Where a node's id lies in [`IdIndex::blocks`].
#[derive(Debug, Clone, Copy)]
struct Span {
    block: u32,
    start: u32,
    len: u32,
}

/// Ids by node index, and a hash table of node indices over them.
#[derive(Debug, Default)]
pub struct IdIndex {
    /// Nodes by the hash of their ids, at most half full: a probe rarely reads an id that
    /// is not the one it wants.
    slots: Slots,
    /// Id text, trimmed, as first spelled, end to end; a block is never grown once made,
    /// so adding an id never copies the others.
    blocks: Vec<String>,
    spans: Vec<Span>,
}

/// Two indices are equal when they give the same nodes the same ids, spelt alike: the
/// table follows.
impl PartialEq for IdIndex {
    fn eq(&self, o: &Self) -> bool {
        self.len() == o.len() && (0..self.len() as u32).all(|v| self.text(v) == o.text(v))
    }
}

/// Slots for at least `n` ids, at most half full.
fn slots_for(n: usize) -> Slots {
    Slots::new(n * 2)
}

impl IdIndex {
    /// An index that holds `n` ids before its table grows.
    pub fn with_capacity(n: usize) -> IdIndex {
        IdIndex {
            slots: slots_for(n),
            blocks: Vec::new(),
            spans: Vec::with_capacity(n),
        }
    }

    /// The node of an id (as written: compared case-insensitively, trimmed) whose
    /// [`hash_id`] is `hash`.
    pub fn get_hashed(&self, hash: u64, id: &str) -> Option<u32> {
        let id = crate::text::trim(id);
        self.slots.find(hash, |v| same_id(self.text(v), id)).ok()
    }

    /// Starts loading the slot a probe for `hash` reads first.
    pub fn prefetch(&self, hash: u64) {
        self.slots.prefetch(hash);
    }

    /// The node in the first slot a probe for `hash` reads, if its half of the hash
    /// matches: most likely the node a probe will find, though its id is not compared.
    pub fn likely(&self, hash: u64) -> Option<u32> {
        self.slots.likely(hash)
    }

    /// Starts loading where node `v`'s id lies.
    pub fn prefetch_span(&self, v: u32) {
        if let Some(s) = self.spans.get(v as usize) {
            prefetch(s);
        }
    }

    /// Starts loading node `v`'s id from byte `from` on: its first line and its last.
    fn prefetch_text(&self, v: u32, from: usize) {
        if let Some(s) = self.spans.get(v as usize) {
            let (start, len) = (s.start as usize, s.len as usize);
            let text = &self.blocks[s.block as usize].as_bytes()[start..start + len];
            crate::prefetch::prefetch_text(text.get(from..).unwrap_or_default());
        }
    }

    /// The node of an id, added (as the next node) if it is new; `true` when it was added.
    pub fn insert_hashed(&mut self, hash: u64, id: &str) -> (u32, bool) {
        if let Some(v) = self.get_hashed(hash, id) {
            return (v, false);
        }
        let id = crate::text::trim(id);
        let v = self.spans.len() as u32;
        let fits = self
            .blocks
            .last()
            .is_some_and(|b| b.capacity() - b.len() >= id.len());
        if !fits {
            self.blocks.push(String::with_capacity(BLOCK.max(id.len())));
        }
        let block = self.blocks.len() - 1;
        let text = &mut self.blocks[block];
        self.spans.push(Span {
            block: block as u32,
            start: text.len() as u32,
            len: id.len() as u32,
        });
        text.push_str(id);
        if self.spans.len() * 2 > self.slots.len() {
            // Twice the slots, each id filed again by its hash, made from its text.
            self.slots =
                slots_for(self.spans.len() * 2).refiled((0..v).map(|w| hash_id(self.text(w))));
        }
        self.slots.file(hash, v);
        (v, true)
    }

    /// The node of an id, compared case-insensitively.
    pub fn get(&self, id: &str) -> Option<u32> {
        self.get_hashed(hash_id(id), id)
    }

    /// A node's id as first spelled (trimmed); empty for a node the index does not hold.
    pub fn text(&self, v: u32) -> &str {
        match self.spans.get(v as usize) {
            Some(s) => {
                let start = s.start as usize;
                &self.blocks[s.block as usize][start..start + s.len as usize]
            }
            None => "",
        }
    }

    /// Every node, in byte order of folded ids.
    ///
    /// A comparison sort of every id would read two ids from all over memory for each of
    /// its n log n comparisons, and ids share most of their length. So each id's first
    /// [`WINDOW`] bytes are folded into a key held beside it (read in node order, the order
    /// of their text in memory), and the keys are split in place a byte at a time,
    /// skipping the bytes all of a part share, until a part is small enough to sort whole
    /// or ties on the whole window (at a million resources, a subscription's ids). A tied
    /// run of at most [`GATHER_MAX`] ids then has the rest of its ids gathered, folded, into
    /// a buffer of its own, once, and is sorted there by comparison, in cache; a longer one
    /// is keyed on the next window and split in turn.
    ///
    /// Sorting window by window to the end read every id from all over memory once per
    /// window: five rounds at a million resources, twice the time; a full sort of the
    /// first window's keys was half of what remained.
    pub fn folded_order(&self) -> Vec<u32> {
        let mut order: Vec<u32> = (0..self.len() as u32).collect();
        let mut large = Vec::new();
        let mut small = Vec::new();
        sort_later((0, order.len(), 0), &mut large, &mut small);
        while let Some((lo, hi, depth)) = large.pop() {
            self.split_window(&mut order[lo..hi], lo, depth, &mut large, &mut small);
        }
        small.sort_unstable();
        self.sort_small_runs(&mut order, &small);
        order
    }

    /// Splits a run of the order (starting at `lo` in it) whose ids agree on their first
    /// `depth` bytes by the window after those, into runs that agree on more: those
    /// small enough to be gathered go to `small`, those still tied past the window to
    /// `large`.
    fn split_window(
        &self,
        run: &mut [u32],
        lo: usize,
        depth: usize,
        large: &mut Vec<Run>,
        small: &mut Vec<Run>,
    ) {
        let ids = &*run;
        // After the first window the ids are in no order of memory: each id's span and
        // then its window are asked for ahead of their turn (the span first, since where
        // the window lies is read from it).
        let scattered = depth > 0;
        let mut keyed: Vec<Keyed> = ids
            .par_iter()
            .enumerate()
            .map(|(i, &v)| {
                if scattered {
                    if let Some(&w) = ids.get(i + 2 * SORT_AHEAD) {
                        self.prefetch_span(w);
                    }
                    if let Some(&w) = ids.get(i + SORT_AHEAD) {
                        self.prefetch_text(w, depth);
                    }
                }
                window_key(self.text(v).as_bytes(), depth, v)
            })
            .collect();
        // Parts of `keyed` whose keys agree on their first `at` bytes.
        let mut parts = vec![(0, keyed.len(), 0)];
        let tied = |a: usize, b: usize, large: &mut Vec<Run>, small: &mut Vec<Run>| {
            sort_later((lo + a, lo + b, depth + WINDOW), large, small);
        };
        while let Some((a, b, at)) = parts.pop() {
            let keys = &mut keyed[a..b];
            if keys.len() <= SPLIT_MIN {
                keys.sort_unstable();
                let mut i = 0;
                while i < keys.len() {
                    let same = |k: &Keyed| k.0 == keys[i].0 && k.1 >> 32 == keys[i].1 >> 32;
                    let j = i + keys[i..].partition_point(same);
                    // Two that tie and end within the window would be one folded id,
                    // which the index holds once: only ids that go on past it tie.
                    tied(a + i, a + j, large, small);
                    i = j;
                }
                continue;
            }
            let at = shared_bytes(keys).max(at);
            if at == WINDOW {
                tied(a, b, large, small);
                continue;
            }
            let mut start = a;
            for len in split_by_byte(keys, at) {
                if len > 1 {
                    parts.push((start, start + len, at + 1));
                }
                start += len;
            }
        }
        for (slot, (_, k)) in run.iter_mut().zip(&keyed) {
            *slot = *k as u32;
        }
    }

    /// Sorts `runs` of the order (in order, none longer than [`GATHER_MAX`]), in batches of
    /// about [`SORT_BATCH`] ids of neighbouring runs side by side: most runs are small.
    fn sort_small_runs(&self, order: &mut [u32], runs: &[Run]) {
        let mut batches = Vec::new();
        let mut rest = order;
        let mut at = 0;
        let mut runs = runs;
        while let Some(&(lo, _, _)) = runs.first() {
            let mut ids = 0;
            let n = runs
                .iter()
                .take_while(|&&(lo, hi, _)| {
                    let take = ids < SORT_BATCH;
                    ids += hi - lo;
                    take
                })
                .count();
            let (batch, later) = runs.split_at(n);
            let hi = batch[n - 1].1;
            let (_, r) = std::mem::take(&mut rest).split_at_mut(lo - at);
            let (part, r) = r.split_at_mut(hi - lo);
            batches.push((part, lo, batch));
            rest = r;
            at = hi;
            runs = later;
        }
        batches
            .into_par_iter()
            .for_each(|(part, base, runs)| self.sort_rests(part, base, runs));
    }

    /// Sorts each of `runs` (runs of the order whose ids agree on their first `depth`
    /// bytes, all within `part`, which starts at `base` in the order) by the rest of its
    /// ids, gathered folded into one buffer.
    fn sort_rests(&self, part: &mut [u32], base: usize, runs: &[Run]) {
        // The ids of the batch are in no order of memory: each id's span and then its
        // text are asked for ahead of their turn, across runs.
        let ids: Vec<(u32, u32)> = runs
            .iter()
            .flat_map(|&(lo, hi, depth)| {
                part[lo - base..hi - base]
                    .iter()
                    .map(move |&v| (v, depth as u32))
            })
            .collect();
        // About what a resource's id has left past its first window.
        let mut text: Vec<u8> = Vec::with_capacity(ids.len() * 128);
        let mut rests: Vec<Rest> = Vec::with_capacity(ids.len());
        for (i, &(v, depth)) in ids.iter().enumerate() {
            if let Some(&(w, _)) = ids.get(i + 2 * SORT_AHEAD) {
                self.prefetch_span(w);
            }
            if let Some(&(w, depth)) = ids.get(i + SORT_AHEAD) {
                self.prefetch_text(w, depth as usize);
            }
            let id = &self.text(v).as_bytes()[depth as usize..];
            let start = text.len();
            text.extend_from_slice(id);
            text[start..].make_ascii_lowercase();
            rests.push(Rest {
                start,
                len: id.len() as u32,
                node: v,
            });
        }
        let rest = |r: &Rest| &text[r.start..r.start + r.len as usize];
        let mut rests = &mut rests[..];
        for &(lo, hi, _) in runs {
            let (these, later) = std::mem::take(&mut rests).split_at_mut(hi - lo);
            rests = later;
            these.sort_unstable_by(|a, b| rest(a).cmp(rest(b)));
            for (slot, r) in part[lo - base..hi - base].iter_mut().zip(these.iter()) {
                *slot = r.node;
            }
        }
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

/// `a` and `b` compared as if ASCII-lowercased: the node order sorts a million ids that
/// share long prefixes, so the words they share as written are skipped unfolded, and only
/// the first that differs is folded, eight bytes at a time.
pub(crate) fn cmp_folded(a: &[u8], b: &[u8]) -> Ordering {
    let word = |s: &[u8], i: usize| be_word(&s[i..i + 8]);
    let whole = a.len().min(b.len()) / 8 * 8;
    let mut i = 0;
    // Thirty-two bytes spelt alike at a time first: ids share most of their length.
    while i + 32 <= whole && a[i..i + 32] == b[i..i + 32] {
        i += 32;
    }
    while i < whole {
        let (x, y) = (word(a, i), word(b, i));
        if x != y {
            let (x, y) = (lower8(x), lower8(y));
            if x != y {
                return x.cmp(&y);
            }
        }
        i += 8;
    }
    // One side has fewer than eight bytes left: the rest is short.
    let (ra, rb) = (a[i..].iter(), b[i..].iter());
    ra.map(u8::to_ascii_lowercase)
        .cmp(rb.map(u8::to_ascii_lowercase))
}

/// Bytes of an id compared in one window of [`IdIndex::folded_order`].
const WINDOW: usize = 32;

/// A run of the order, `lo..hi`, whose ids agree (folded) on their first `depth` bytes:
/// `(lo, hi, depth)`.
type Run = (usize, usize, usize);

/// Parts of at most this many keys are sorted whole, not split byte by byte.
const SPLIT_MIN: usize = 64;

/// Files a run to be sorted: gathered if it is small enough, else split on a window.
/// A run of one id is in order already.
fn sort_later(run: Run, large: &mut Vec<Run>, small: &mut Vec<Run>) {
    match run.1 - run.0 {
        0 | 1 => {}
        n if n <= GATHER_MAX => small.push(run),
        _ => large.push(run),
    }
}

/// How many of the window's bytes all `keys` share (not counting bytes past the end of
/// an id: an id that ends is told apart from one that goes on with a NUL).
fn shared_bytes(keys: &[Keyed]) -> usize {
    let Some(first) = keys.first() else {
        return WINDOW;
    };
    let mut differ = [0u64; WINDOW / 8];
    let mut shortest = WINDOW as u64;
    for k in keys {
        for (d, (a, b)) in differ.iter_mut().zip(k.0.iter().zip(&first.0)) {
            *d |= a ^ b;
        }
        shortest = shortest.min(k.1 >> 32);
    }
    let same = differ
        .iter()
        .position(|&d| d != 0)
        .map_or(WINDOW, |w| w * 8 + differ[w].leading_zeros() as usize / 8);
    same.min(shortest as usize)
}

/// Byte `at` of a key's window, one more than its value; 0 where the id has ended, so
/// that an id sorts before those it is a prefix of.
fn digit(k: &Keyed, at: usize) -> usize {
    if (at as u64) < k.1 >> 32 {
        (k.0[at / 8] >> (56 - 8 * (at % 8)) & 0xff) as usize + 1
    } else {
        0
    }
}

/// Puts `keys` in order of their byte `at` ([`digit`]), in place; gives the lengths of
/// the parts with each byte, in order, empty ones left out.
fn split_by_byte(keys: &mut [Keyed], at: usize) -> Vec<usize> {
    let mut counts = [0usize; 257];
    for k in keys.iter() {
        counts[digit(k, at)] += 1;
    }
    // Each digit's next free place, and where its part ends.
    let mut next = [0usize; 257];
    let mut end = [0usize; 257];
    let mut sum = 0;
    for d in 0..257 {
        next[d] = sum;
        sum += counts[d];
        end[d] = sum;
    }
    for d in 0..257 {
        while next[d] < end[d] {
            let e = digit(&keys[next[d]], at);
            if e == d {
                next[d] += 1;
            } else {
                keys.swap(next[d], next[e]);
                next[e] += 1;
            }
        }
    }
    counts.into_iter().filter(|&c| c > 0).collect()
}

/// The longest run of tied ids gathered into a buffer of its own to be sorted: longer ones
/// are sorted by another window first, in parallel, so that no buffer holds more than a
/// few megabytes of ids.
const GATHER_MAX: usize = if cfg!(test) { 100 } else { 1 << 16 };

/// An id's text past where its run's ids agree, folded, in a batch's buffer.
struct Rest {
    start: usize,
    len: u32,
    node: u32,
}

/// The folded bytes of an id's window as words (zero past the id's end), then how many
/// bytes of the id are left from the window's start (capped at one past it) in the upper
/// half of a word whose lower half is the node: ordered as the windows themselves are, a
/// shorter id before any it is a prefix of. One 40-byte item a node while the order is
/// sorted, at the build's busiest moment (a key beside the node took 48).
type Keyed = ([u64; WINDOW / 8], u64);

fn window_key(id: &[u8], depth: usize, v: u32) -> Keyed {
    let rest = id.get(depth..).unwrap_or_default();
    let mut bytes = [0u8; WINDOW];
    let k = rest.len().min(WINDOW);
    bytes[..k].copy_from_slice(&rest[..k]);
    let mut words = [0u64; WINDOW / 8];
    for (w, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
        *w = lower8(be_word(chunk));
    }
    let left = rest.len().min(WINDOW + 1) as u64;
    (words, left << 32 | u64::from(v))
}

/// Eight bytes as one word, the first the most significant: words compare as their bytes do.
fn be_word(bytes: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&bytes[..8]);
    u64::from_be_bytes(w)
}

/// Eight bytes with their ASCII capitals lowercased (as `u8::to_ascii_lowercase` does to
/// each), in one word.
fn lower8(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let seven = x & !HIGH;
    // High bit of each byte set where the byte's low seven bits are ≥ 'A', and where > 'Z'.
    let ge_a = seven + (0x80 - b'A' as u64) * ONES;
    let gt_z = seven + (0x7f - b'Z' as u64) * ONES;
    let upper = ge_a & !gt_z & !x & HIGH;
    x | (upper >> 2)
}

/// A small fixed-seed generator for the graph's randomized tests: `next(n)` is in `0..n`.
#[cfg(test)]
pub(crate) fn xorshift(mut seed: u64) -> impl FnMut(u64) -> usize {
    move |n| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_fold_and_trim_to_one_node() {
        let mut ix = IdIndex::default();
        let a = "/subscriptions/S/resourceGroups/G";
        let (v, new) = ix.insert_hashed(hash_id(a), a);
        assert!(new);
        let b = " /SUBSCRIPTIONS/s/resourcegroups/g ";
        assert_eq!(hash_id(a), hash_id(b));
        assert_eq!(ix.insert_hashed(hash_id(b), b), (v, false));
        assert_eq!(ix.get("/subscriptions/s/resourcegroups/G"), Some(v));
        assert_eq!(ix.text(v), a, "the first spelling is kept, trimmed");
        assert_eq!(ix.get("/subscriptions/s"), None);
        let (w, new) = ix.insert_hashed(hash_id(" x"), " x");
        assert!(new && w == v + 1 && ix.len() == 2);
        assert_eq!(ix.text(w), "x");
        assert_eq!(ix.text(9), "");
    }

    #[test]
    fn a_colliding_hash_still_compares_the_id() {
        let mut ix = IdIndex::default();
        let (v, _) = ix.insert_hashed(7, "a");
        // The same (forged) hash for another id is not taken for it.
        let (w, new) = ix.insert_hashed(7, "b");
        assert!(new && v != w);
        assert_eq!(ix.get_hashed(7, "A"), Some(v));
        assert_eq!(ix.get_hashed(7, "B"), Some(w));
    }

    #[test]
    fn ids_span_blocks_and_a_long_id_gets_its_own() {
        let mut ix = IdIndex::default();
        let long = "L".repeat(BLOCK + 3);
        let mut ids: Vec<String> = (0..BLOCK / 50).map(|i| format!("/id/{i:060}")).collect();
        ids.insert(7, long);
        for id in &ids {
            ix.insert_hashed(hash_id(id), id);
        }
        assert!(ix.blocks.len() >= 3);
        for (v, id) in ids.iter().enumerate() {
            assert_eq!(ix.text(v as u32), id);
            assert_eq!(ix.get(&id.to_uppercase()), Some(v as u32));
        }
    }

    #[test]
    fn folded_order_sorts_as_folding_and_comparing_does() {
        // Ids sharing prefixes longer than several windows, differing in case, with NUL
        // bytes and prefixes of each other, and enough of them to split into rounds.
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        let alphabet = b"aAbBzZ/@[`{-\0";
        let mut ix = IdIndex::default();
        let mut made: Vec<Vec<u8>> = Vec::new();
        while made.len() < 3000 {
            // Mostly long shared prefixes (spelt in either case), cut near their end; or an
            // id made already, cut anywhere, so that ids first differ at every position.
            let mut id: Vec<u8> = match next(4) {
                0 if !made.is_empty() => {
                    let mut id = made[next(made.len() as u64)].clone();
                    id.truncate(next(id.len() as u64 + 1));
                    id
                }
                k => {
                    let mut id: Vec<u8> = format!("/subscriptions/{k}/resourceGroups/rg-{k}/providers/Microsoft.Compute/virtualMachines/")
                        .bytes()
                        .map(|b| if next(2) == 0 { b.to_ascii_uppercase() } else { b })
                        .collect();
                    id.truncate(id.len() - next(id.len().min(8) as u64 + 1));
                    id
                }
            };
            for _ in 0..next(40) {
                id.push(alphabet[next(alphabet.len() as u64)]);
            }
            let Ok(text) = std::str::from_utf8(&id) else {
                continue;
            };
            let text = text.trim().to_string();
            if ix.insert_hashed(hash_id(&text), &text).1 {
                made.push(text.into_bytes());
            }
        }
        let mut want: Vec<u32> = (0..ix.len() as u32).collect();
        want.sort_by_key(|&v| ix.text(v).to_ascii_lowercase());
        assert_eq!(ix.folded_order(), want);
        assert!(IdIndex::default().folded_order().is_empty());
    }

    #[test]
    fn hash_id_is_the_hash_of_the_trimmed_lowercased_id() {
        let long = "/subscriptions/S/".repeat(20);
        for id in [
            "",
            " ",
            "a",
            "/Subscriptions/ABC-def/resourceGroups/RG1",
            " \tPadded/Id\u{e9}\u{c9}Z\n",
            "12345678",
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ@[`{",
            &long,
        ] {
            let want = hash_folded(id.trim().to_ascii_lowercase().as_bytes());
            assert_eq!(hash_id(id), want, "{id:?}");
        }
        assert!(long.len() > FOLD_ON_STACK);
    }

    #[test]
    fn lower8_lowercases_each_byte_as_u8_does() {
        for b in 0..=255u8 {
            for pos in 0..8 {
                let mut word = *b"aZ@[`{\x80\xff";
                word[pos] = b;
                let want = word.map(|c| c.to_ascii_lowercase());
                let got = lower8(u64::from_be_bytes(word)).to_be_bytes();
                assert_eq!(got, want, "byte {b:#x} at {pos}");
            }
        }
    }

    #[test]
    fn folded_order_tells_an_id_that_ends_from_one_that_goes_on_with_nul() {
        // Every id of up to six bytes over NUL, `a` and `A` after a shared prefix, the
        // prefix cut so that the varying bytes fall inside the first window, across its
        // end, and inside the second: ids that end, and ids that go on with NUL bytes,
        // agree on every byte either has.
        for prefix in [17, 29, 60] {
            let base = "/subscriptions/s/".repeat(4)[..prefix].to_string();
            let mut ix = IdIndex::default();
            let mut tails = vec![String::new()];
            for _ in 0..6 {
                let longer: Vec<String> = tails
                    .iter()
                    .flat_map(|t| ["\0", "a", "A"].map(|c| format!("{t}{c}")))
                    .collect();
                tails.extend(longer);
                tails.sort();
                tails.dedup();
            }
            // And runs of NUL bytes of every length, which agree on every byte either has
            // with each other, too many to be sorted whole.
            tails.extend((7..150).map(|n| "\0".repeat(n)));
            for t in &tails {
                let id = format!("{base}{t}");
                ix.insert_hashed(hash_id(&id), &id);
            }
            assert!(ix.len() > GATHER_MAX, "{}", ix.len());
            let mut want: Vec<u32> = (0..ix.len() as u32).collect();
            want.sort_by_key(|&v| ix.text(v).to_ascii_lowercase());
            assert_eq!(ix.folded_order(), want, "prefix {prefix}");
        }
    }

    #[test]
    fn folded_order_is_byte_order_of_lowercased_text() {
        let ids = [
            "",
            "a",
            "A",
            "/Subscriptions/S",
            "/subscriptions/s/x",
            "/subscriptions/s",
            "/subscriptions/sA",
            "/subscriptions/s@",
            "/subscriptions/s[",
            "/SUBSCRIPTIONS/T/aaaaaaaaaaaaaaaaaaaa",
            "/subscriptions/t",
            "/subscriptions/t/",
            "\u{e9}",
            "Z",
            "_",
            "z{",
            "zZzZzZzZzZzZzZzZ1",
            "zzzzzzzzzzzzzzzz",
        ];
        for x in ids {
            for y in ids {
                let want = x.to_ascii_lowercase().cmp(&y.to_ascii_lowercase());
                assert_eq!(
                    cmp_folded(x.as_bytes(), y.as_bytes()),
                    want,
                    "{x:?} vs {y:?}"
                );
            }
        }
        // Random ids over letters either side of the capitals, sharing prefixes.
        let alphabet = b"aAbBzZ/@[`{-";
        let mut next = xorshift(0x2545_f491_4f6c_dd1d);
        let mut ids: Vec<Vec<u8>> = Vec::new();
        for _ in 0..400 {
            let mut id = match ids.len() {
                0 => Vec::new(),
                k => ids[next(k as u64)].clone(),
            };
            id.truncate(next(id.len() as u64 + 1));
            for _ in 0..next(30) {
                id.push(alphabet[next(alphabet.len() as u64)]);
            }
            ids.push(id);
        }
        for x in &ids {
            for y in &ids {
                let want = x.to_ascii_lowercase().cmp(&y.to_ascii_lowercase());
                assert_eq!(cmp_folded(x, y), want, "{x:?} vs {y:?}");
            }
        }
    }
}
