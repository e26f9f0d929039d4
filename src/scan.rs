//! Evaluating a rule pack over a graph: every rule in parallel, results gathered in one
//! place and sorted, with the spec's fingerprint and owner attached to each combination.

use crate::engine::{self, Filter, Step};
use crate::graph::Graph;
use crate::rules::{Rule, RulePack};
use rayon::prelude::*;
use sha2::{Digest, Sha256};

/// One toxic combination: (rule, entry, target) with its witness walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Combination {
    /// Index into the pack's rules.
    pub rule: usize,
    pub entry: u32,
    pub target: u32,
    pub walk: Vec<Step>,
    pub fingerprint: String,
}

/// How many combinations one entry has under one rule. Counts are made from these, so
/// that they cover every combination when the listing holds only the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    /// Index into the pack's rules.
    pub rule: usize,
    pub entry: u32,
    pub combinations: usize,
}

/// The result of evaluating a pack.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Sorted by rule (in pack order), then entry and target folded id: every combination,
    /// or, from [`run_capped`], at least the first `cap` in that order (each rule's first
    /// `cap`).
    pub combinations: Vec<Combination>,
    /// Every (rule, entry) with a combination, in the order of `combinations`.
    pub tallies: Vec<Tally>,
}

impl Outcome {
    /// An outcome holding every one of `combinations` (sorted as [`Outcome::combinations`]
    /// says), tallied.
    pub fn listing_all(combinations: Vec<Combination>) -> Outcome {
        let mut tallies: Vec<Tally> = Vec::new();
        for c in &combinations {
            match tallies.last_mut() {
                Some(t) if (t.rule, t.entry) == (c.rule, c.entry) => t.combinations += 1,
                _ => tallies.push(Tally {
                    rule: c.rule,
                    entry: c.entry,
                    combinations: 1,
                }),
            }
        }
        Outcome {
            combinations,
            tallies,
        }
    }

    /// Combinations found, listed or not.
    pub fn total(&self) -> usize {
        self.tallies.iter().map(|t| t.combinations).sum()
    }
}

/// The spec's fingerprint: SHA-256 of `rule\nentry\ntarget`, ids ASCII-lowercased.
pub fn fingerprint(rule_id: &str, entry: &str, target: &str) -> String {
    finish_print(print_prefix(rule_id, entry), target)
}

/// The hash of a fingerprint's `rule\nentry\n`: an entry's combinations under one rule
/// share it, so it is worked out once for them all.
fn print_prefix(rule_id: &str, entry: &str) -> Sha256 {
    let mut h = Sha256::new();
    h.update(rule_id.as_bytes());
    h.update(b"\n");
    update_lowercased(&mut h, entry);
    h.update(b"\n");
    h
}

fn finish_print(mut prefix: Sha256, target: &str) -> String {
    update_lowercased(&mut prefix, target);
    hex(&prefix.finalize())
}

/// Hashes `s` ASCII-lowercased, a stretch at a time, without a lowercased copy of it.
fn update_lowercased(h: &mut Sha256, s: &str) {
    let mut buf = [0u8; 64];
    for chunk in s.as_bytes().chunks(buf.len()) {
        let lower = &mut buf[..chunk.len()];
        lower.copy_from_slice(chunk);
        lower.make_ascii_lowercase();
        h.update(&*lower);
    }
}

/// Lowercase hex of `bytes`, in one allocation: every combination's fingerprint is made
/// with it.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    s
}

/// Evaluates every rule of `pack` (in parallel) over `g`.
pub fn run(g: &Graph, pack: &RulePack, filter: &Filter) -> Outcome {
    run_capped(g, pack, filter, None)
}

/// [`run`], keeping each rule's first `cap` combinations only (all are counted in
/// [`Outcome::tallies`]): a listing cut to `cap` then needs no more, and the walks of the
/// rest are never held.
pub fn run_capped(g: &Graph, pack: &RulePack, filter: &Filter, cap: Option<usize>) -> Outcome {
    let span = tracing::info_span!("evaluate", rules = pack.rules.len());
    let _entered = span.enter();
    // A targeted query tests node patterns on what reaches its target only.
    let shared = (filter.target.is_none() && pack.rules.len() > 1)
        .then(|| engine::NodeSets::of(g, pack.rules.iter().map(|r| &r.pattern)));
    // Rules are taken in turn by whichever thread is free, the longest patterns first: a
    // rule's backward pass runs on one thread, so a long rule taken last would hold up
    // the end while the other threads have nothing left. Inside the pool from the start,
    // so that with one thread the rules run on its worker, as their searches do.
    let mut order: Vec<usize> = (0..pack.rules.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(pack.rules[i].pattern.edges.len()));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut per_rule: Vec<(usize, Outcome)> = rayon::scope(|_| {
        (0..rayon::current_num_threads().min(order.len()))
            .into_par_iter()
            .with_max_len(1)
            .flat_map_iter(|_| {
                std::iter::from_fn(|| {
                    let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let &i = order.get(k)?;
                    let r = &pack.rules[i];
                    Some((i, run_rule(g, i, r, filter, cap, shared.as_ref(), &span)))
                })
            })
            .collect()
    });
    per_rule.sort_unstable_by_key(|&(i, _)| i);
    let mut out = Outcome::default();
    for (_, mut o) in per_rule {
        out.combinations.append(&mut o.combinations);
        out.tallies.append(&mut o.tallies);
    }
    out
}

fn run_rule(
    g: &Graph,
    index: usize,
    rule: &Rule,
    filter: &Filter,
    cap: Option<usize>,
    shared: Option<&engine::NodeSets>,
    evaluate: &tracing::Span,
) -> Outcome {
    // The parent is named: pool threads do not inherit the caller's current span.
    let span = tracing::info_span!(
        parent: evaluate,
        "rule",
        id = rule.id.as_str(),
        index,
        entries = tracing::field::Empty,
        combinations = tracing::field::Empty
    );
    let _entered = span.enter();
    let (found, stats) = engine::evaluate_capped(g, &rule.pattern, filter, cap, shared);
    // Fingerprints in parallel, an entry's together: its prefix is hashed once for them
    // all. Made apart from the walks, which are then moved into place in turn. Targets lie
    // all over the graph: each one's node, then its id, is asked for some targets ahead.
    let prints: Vec<String> = found
        .matches
        .par_chunk_by(|a, b| a.entry == b.entry)
        .flat_map_iter(|ms| {
            let prefix = print_prefix(&rule.id, g.id(ms[0].entry));
            ms.iter().enumerate().map(move |(i, m)| {
                crate::prefetch::ahead(
                    |k| ms.get(k),
                    i,
                    &[8, 4],
                    |a, step| match step {
                        0 => g.prefetch_node(a.target),
                        _ => g.prefetch_id(a.target),
                    },
                );
                finish_print(prefix.clone(), g.id(m.target))
            })
        })
        .collect();
    let combinations = found
        .matches
        .into_iter()
        .zip(prints)
        .map(|(m, fingerprint)| Combination {
            rule: index,
            fingerprint,
            entry: m.entry,
            target: m.target,
            walk: m.walk,
        })
        .collect();
    let tallies: Vec<Tally> = found
        .per_entry
        .into_iter()
        .map(|(entry, combinations)| Tally {
            rule: index,
            entry,
            combinations,
        })
        .collect();
    let out = Outcome {
        combinations,
        tallies,
    };
    span.record("entries", stats.entries);
    span.record("combinations", out.total());
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn fingerprint_is_the_specs() {
        // printf 'TC001\n/subscriptions/s/vm\nkv' | sha256sum
        let f = super::fingerprint("TC001", "/Subscriptions/S/VM", "KV");
        assert_eq!(
            f,
            "1d0309ca63a22bacac68c5f1b0b0e9b77730b16d5394f6c37fa07631cd558bcf"
        );
        assert_eq!(f, super::fingerprint("TC001", "/subscriptions/s/vm", "kv"));
        assert_ne!(f, super::fingerprint("TC002", "/subscriptions/s/vm", "kv"));
    }

    proptest::proptest! {
        /// Hashed a stretch at a time, from a shared prefix, the fingerprint is the hash of
        /// the whole text lowercased, for ids shorter and longer than a stretch.
        #[test]
        fn fingerprint_hashes_the_lowercased_text(
            rule in "TC[0-9]{3}",
            entry in "[a-zA-Z/_. é]{0,150}",
            target in "[a-zA-Z/_. é]{0,150}",
        ) {
            use sha2::Digest;
            let text = format!("{rule}\n{}\n{}", entry.to_ascii_lowercase(), target.to_ascii_lowercase());
            let want = super::hex(&sha2::Sha256::digest(text.as_bytes()));
            proptest::prop_assert_eq!(super::fingerprint(&rule, &entry, &target), want);
        }
    }
}
