//! Evaluation: breadth-first search on the product of the graph and a pattern's automaton
//! (walk semantics), never enumerating paths.
//!
//! Per pattern: (1) a backward pass marks the product states from which an accepting state
//! can be reached, so hopeless work is never started; (2) a forward pass from the start
//! states finds the entries, with one shortest, lexicographically smallest walk to each;
//! (3) from each entry, in parallel, a forward pass finds the targets, with their walks.
//! Ties between equally short walks are broken by the node ids in byte order, layer by
//! layer, so the witness does not depend on thread count or input order.

pub mod automaton;
pub mod bitset;

use crate::graph::{Graph, NONE};
use crate::rules::pattern::Pattern;
use automaton::Automaton;
pub use automaton::NodeSets;
use bitset::BitSet;
use rayon::prelude::*;
use std::collections::{HashMap, VecDeque};

/// Product states met by a search, keyed by `node * states + state`: a fixed-seed fast
/// hash, since the searches from every entry insert a few million keys in all (the
/// default SipHash spent more on hashing them than the search on the graph).
type Seen = HashMap<u64, u32, foldhash::fast::FixedState>;

/// One step of a witness walk: the node reached and the edge taken to reach it
/// (`None` for the first node).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub node: u32,
    pub edge: Option<u32>,
}

/// One (entry, target) pair of one pattern, with its witness walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    pub entry: u32,
    pub target: u32,
    pub walk: Vec<Step>,
}

/// Narrows evaluation to walks into (or out of) named nodes: targeted queries.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub entry: Option<u32>,
    pub target: Option<u32>,
}

/// What the engine measured while evaluating one pattern.
#[derive(Debug, Clone, Default)]
pub struct EvalStats {
    pub states: usize,
    /// Product states from which an accepting state is reachable.
    pub coreachable: usize,
    pub entries: usize,
}

/// Evaluates one pattern; matches are sorted by (entry, target) folded id.
pub fn evaluate(g: &Graph, p: &Pattern, filter: &Filter) -> (Vec<Match>, EvalStats) {
    let (found, stats) = evaluate_capped(g, p, filter, None, None);
    (found.matches, stats)
}

/// What [`evaluate_capped`] found: the first matches with their walks, and how many
/// matches each entry has in all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Found {
    /// Sorted by (entry, target) folded id; all of them, or the first `cap`.
    pub matches: Vec<Match>,
    /// Every entry with at least one match, in folded id order, with its number of matches.
    pub per_entry: Vec<(u32, usize)>,
}

/// Entries walked side by side while a cap still wants walks: enough to keep the threads
/// busy, few enough that the walks made beyond the cap stay a small multiple of it.
const CAPPED_BATCH: usize = 64;

/// [`evaluate`], keeping walks for at most `cap` matches: the first in (entry, target)
/// order. Every match is still counted, by entry, so that totals cover all; but a rule
/// that matches ten million pairs holds the walks of a few thousand, not of ten million.
/// Node sets in `shared` (see [`NodeSets`]) are not worked out again.
pub fn evaluate_capped(
    g: &Graph,
    p: &Pattern,
    filter: &Filter,
    cap: Option<usize>,
    shared: Option<&NodeSets>,
) -> (Found, EvalStats) {
    let within = filter.target.map(|t| reaching(g, p, t));
    let a = Automaton::compile_within(p, g, within.as_deref(), shared);
    let co = coreachable(g, &a, filter.target);
    let mut stats = EvalStats {
        states: a.state_count(),
        coreachable: co.count(),
        entries: 0,
    };
    let s = a.state_count();
    let entry_state = a.at(a.entry);

    // Start states, then the prefix up to the entry.
    let starts: Vec<u32> = a.node_sets[0]
        .iter()
        .map(|v| v as u32)
        .filter(|&v| co.contains(v as usize * s))
        .collect();
    let entries: Vec<(u32, Vec<Step>)> = if a.entry == 0 {
        starts
            .iter()
            .map(|&v| {
                (
                    v,
                    vec![Step {
                        node: v,
                        edge: None,
                    }],
                )
            })
            .collect()
    } else {
        let entry_pos = a.position(entry_state);
        let run = lex_bfs(
            g,
            &a,
            &co,
            &starts,
            0,
            |st| a.position(st) <= entry_pos,
            |st| st != entry_state,
        );
        run.visits
            .iter()
            .enumerate()
            .filter(|(_, x)| x.state == entry_state)
            .map(|(i, x)| (x.node, run.walk(i as u32)))
            .collect()
    };
    let mut entries: Vec<(u32, Vec<Step>)> = entries
        .into_iter()
        .filter(|(v, _)| filter.entry.is_none_or(|e| e == *v))
        .collect();
    stats.entries = entries.len();
    // By folded entry id: the rank is its place in that order.
    entries.sort_unstable_by_key(|(v, _)| g.rank[*v as usize]);

    let accept = a.at(a.last);
    let entry_pos = a.position(entry_state);
    // An entry's matches (all of them counted, the first `want` by target with walks).
    let from_entry = |(e, prefix): &(u32, Vec<Step>), want: usize| -> (usize, Vec<Match>) {
        let run = lex_bfs(
            g,
            &a,
            &co,
            &[*e],
            entry_state,
            |st| a.position(st) >= entry_pos,
            |_| true,
        );
        let mut hits: Vec<(u32, u32)> = run
            .visits
            .iter()
            .enumerate()
            .filter(|(_, x)| {
                x.state == accept
                    && !(a.distinct && x.node == *e)
                    && filter.target.is_none_or(|t| t == x.node)
            })
            .map(|(i, x)| (g.rank[x.node as usize], i as u32))
            .collect();
        let count = hits.len();
        if want < count {
            if want > 0 {
                hits.select_nth_unstable(want - 1);
            }
            hits.truncate(want);
        }
        hits.sort_unstable();
        let found = hits
            .into_iter()
            .map(|(_, i)| {
                let suffix = run.walk(i);
                let mut walk = prefix.clone();
                walk.extend_from_slice(&suffix[1..]);
                Match {
                    entry: *e,
                    target: run.visits[i as usize].node,
                    walk,
                }
            })
            .collect();
        (count, found)
    };
    let mut out = Found::default();
    let mut budget = cap.unwrap_or(usize::MAX);
    let mut rest = &entries[..];
    while !rest.is_empty() {
        // While a cap still wants walks, a batch at a time: each entry of a batch keeps no
        // more walks than the batch could still list, so the walks held stay bounded.
        // Otherwise all the rest at once.
        let batch_len = if cap.is_some() && budget > 0 {
            CAPPED_BATCH.min(rest.len())
        } else {
            rest.len()
        };
        let (batch, after) = rest.split_at(batch_len);
        let want = budget;
        let done: Vec<(usize, Vec<Match>)> =
            batch.par_iter().map(|x| from_entry(x, want)).collect();
        for ((count, mut found), (e, _)) in done.into_iter().zip(batch) {
            if count > 0 {
                out.per_entry.push((*e, count));
            }
            found.truncate(budget);
            budget -= found.len();
            out.matches.append(&mut found);
        }
        rest = after;
    }
    (out, stats)
}

/// The nodes from which `target` can be reached along edges of the kinds the pattern
/// uses (and the target itself): every node of a walk into the target is one of them, so
/// a targeted query tests node patterns on these alone and costs what can reach the
/// target, not the estate.
fn reaching(g: &Graph, p: &Pattern, target: u32) -> Vec<u32> {
    let mut kinds: Vec<crate::graph::EdgeKind> =
        p.edges.iter().flat_map(automaton::segment_kinds).collect();
    kinds.sort();
    kinds.dedup();
    let mut seen = BitSet::new(g.node_count());
    seen.insert(target as usize);
    let mut out = vec![target];
    let mut i = 0;
    while i < out.len() {
        let v = out[i];
        i += 1;
        for kind in &kinds {
            let adj = &g.bwd[kind.index()];
            for j in adj.range(v) {
                let u = adj.nbrs[j];
                if seen.insert(u as usize) {
                    out.push(u);
                }
            }
        }
    }
    out
}

/// How many states ahead in its queue the backward pass asks for a state's adjacency to
/// be loaded (and twice as far ahead, for where it lies).
const BACK_AHEAD: usize = 8;

/// How many neighbours ahead a forward search asks for a neighbour's co-reachable bit.
const LEX_AHEAD: usize = 4;

/// Product states (node * states + state) from which an accepting state is reachable.
///
/// States reached over an edge wait in a first-in, first-out queue, so that the pass knows
/// which nodes come next and asks for their adjacency ahead: they lie anywhere in the
/// graph, and at a million resources the passes of the rules that reach furthest back
/// waited on memory for most of their time. States reached within a node (the automaton's
/// empty moves) are taken at once, while the node is in cache: a rule whose pattern ends
/// at any node starts from every node, and putting each one's other states at the back of
/// that queue made its pass slower.
fn coreachable(g: &Graph, a: &Automaton, target: Option<u32>) -> BitSet {
    let s = a.state_count();
    let n = g.node_count();
    let mut seen = BitSet::new(n * s);
    let mut queue: VecDeque<(u32, u16)> = VecDeque::new();
    let accept = a.at(a.last);
    let finals: Vec<u32> = match target {
        Some(t) => a.node_sets[a.last]
            .contains(t as usize)
            .then_some(t)
            .into_iter()
            .collect(),
        None => a.node_sets[a.last].iter().map(|v| v as u32).collect(),
    };
    for v in finals {
        if seen.insert(v as usize * s + accept as usize) {
            queue.push_back((v, accept));
        }
    }
    let ok = |v: u32, st: u16| {
        a.requires(st)
            .is_none_or(|k| a.node_sets[k].contains(v as usize))
    };
    // Step 0 loads where a node's entries lie, step 1 the entries.
    let ask = |&(v, t): &(u32, u16), step: usize| {
        for &(seg, _) in &a.rin[t as usize] {
            for kind in &a.seg_kinds[seg] {
                let adj = &g.bwd[kind.index()];
                match step {
                    0 => adj.prefetch_offsets(v),
                    _ => adj.prefetch_entries(v),
                }
            }
        }
    };
    let mut here: Vec<(u32, u16)> = Vec::new();
    loop {
        let (v, t) = match here.pop() {
            Some(x) => x,
            None => {
                let Some(x) = queue.pop_front() else { break };
                crate::prefetch::ahead(|k| queue.get(k), 0, &[2 * BACK_AHEAD, BACK_AHEAD], ask);
                x
            }
        };
        for &(seg, from) in &a.rin[t as usize] {
            for kind in &a.seg_kinds[seg] {
                let adj = &g.bwd[kind.index()];
                for i in adj.range(v) {
                    let (u, e) = (adj.nbrs[i], adj.edges[i]);
                    if a.edge_ok(seg, e)
                        && ok(u, from)
                        && seen.insert(u as usize * s + from as usize)
                    {
                        queue.push_back((u, from));
                    }
                }
            }
        }
        for &(_, from) in &a.reps[t as usize] {
            if ok(v, from) && seen.insert(v as usize * s + from as usize) {
                here.push((v, from));
            }
        }
    }
    seen
}

/// (parent's rank, node rank, edge rank): what orders walks of equal length.
type LayerKey = (u32, u32, u32);

#[derive(Debug, Clone, Copy)]
struct Visit {
    node: u32,
    state: u16,
    parent: u32,
    edge: u32,
    /// Rank of the walk leading here among walks of the same length.
    rank: u32,
}

struct Run {
    visits: Vec<Visit>,
}

impl Run {
    /// The walk to a visit, from its source.
    fn walk(&self, mut i: u32) -> Vec<Step> {
        let mut steps = Vec::new();
        loop {
            let x = self.visits[i as usize];
            steps.push(Step {
                node: x.node,
                edge: (x.edge != NONE).then_some(x.edge),
            });
            if x.parent == NONE {
                break;
            }
            i = x.parent;
        }
        steps.reverse();
        steps
    }
}

/// Breadth-first search on the product from `sources` (all in `src_state`), visiting only
/// co-reachable states that `allowed` admits and expanding those `expand` admits. Each
/// visit keeps the parent whose walk is smallest in byte order of folded ids.
fn lex_bfs(
    g: &Graph,
    a: &Automaton,
    co: &BitSet,
    sources: &[u32],
    src_state: u16,
    allowed: impl Fn(u16) -> bool,
    expand: impl Fn(u16) -> bool,
) -> Run {
    let s = a.state_count();
    let mut visits: Vec<Visit> = Vec::new();
    // Product state -> its visit.
    let mut seen = Seen::default();
    let key = |v: u32, st: u16| v as u64 * s as u64 + st as u64;
    let valid = |v: u32, st: u16| {
        allowed(st)
            && co.contains(v as usize * s + st as usize)
            && a.requires(st)
                .is_none_or(|k| a.node_sets[k].contains(v as usize))
    };

    // Adds a visit and its epsilon closure to `layer`. A state found again in the layer
    // being built keeps whichever way in is smaller (parent's rank, then the edge's
    // canonical rank), so parallel edges are chosen the same way for any input order.
    #[allow(clippy::too_many_arguments)]
    fn add(
        g: &Graph,
        visits: &mut Vec<Visit>,
        seen: &mut Seen,
        a: &Automaton,
        key: &dyn Fn(u32, u16) -> u64,
        valid: &dyn Fn(u32, u16) -> bool,
        layer: &mut Vec<u32>,
        layer_start: u32,
        v: Visit,
    ) {
        let way_in = |visits: &[Visit], x: &Visit| {
            (visits[x.parent as usize].rank, g.edge_rank[x.edge as usize])
        };
        let mut stack = vec![v];
        while let Some(x) = stack.pop() {
            if !valid(x.node, x.state) {
                continue;
            }
            match seen.entry(key(x.node, x.state)) {
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(visits.len() as u32);
                    layer.push(visits.len() as u32);
                    visits.push(x);
                }
                std::collections::hash_map::Entry::Occupied(e) => {
                    let i = *e.get();
                    let old = visits[i as usize];
                    let replace = i >= layer_start
                        && x.parent != NONE
                        && old.parent != NONE
                        && way_in(visits, &x) < way_in(visits, &old);
                    if !replace {
                        continue;
                    }
                    visits[i as usize].parent = x.parent;
                    visits[i as usize].edge = x.edge;
                }
            }
            for &(_, to) in &a.eps[x.state as usize] {
                stack.push(Visit { state: to, ..x });
            }
        }
    }

    let mut srcs: Vec<u32> = sources.to_vec();
    srcs.sort_by_key(|&v| g.rank[v as usize]);
    let mut layer: Vec<u32> = Vec::new();
    for &v in &srcs {
        let x = Visit {
            node: v,
            state: src_state,
            parent: NONE,
            edge: NONE,
            rank: g.rank[v as usize],
        };
        add(g, &mut visits, &mut seen, a, &key, &valid, &mut layer, 0, x);
    }
    while !layer.is_empty() {
        let mut next: Vec<u32> = Vec::new();
        let layer_start = visits.len() as u32;
        for &xi in &layer {
            let x = visits[xi as usize];
            if !expand(x.state) {
                continue;
            }
            for &(seg, to) in &a.out[x.state as usize] {
                for kind in &a.seg_kinds[seg] {
                    let adj = &g.fwd[kind.index()];
                    let r = adj.range(x.node);
                    for i in r.clone() {
                        // Where a node has many neighbours (a container's), whether each
                        // one's state is co-reachable is asked for ahead: the bits lie
                        // all over a set of nodes times states.
                        if i + LEX_AHEAD < r.end {
                            let w = adj.nbrs[i + LEX_AHEAD];
                            co.prefetch(w as usize * s + to as usize);
                        }
                        let (w, e) = (adj.nbrs[i], adj.edges[i]);
                        if !a.edge_ok(seg, e) {
                            continue;
                        }
                        let y = Visit {
                            node: w,
                            state: to,
                            parent: xi,
                            edge: e,
                            rank: 0,
                        };
                        add(
                            g,
                            &mut visits,
                            &mut seen,
                            a,
                            &key,
                            &valid,
                            &mut next,
                            layer_start,
                            y,
                        );
                    }
                }
            }
        }
        // Rank the new layer: by the parent's rank, then by the node's own id (then the
        // edge taken, so that parallel edges are chosen the same way for any input order).
        let mut keyed: Vec<(LayerKey, (u16, u32))> = next
            .iter()
            .map(|&i| {
                let y = visits[i as usize];
                let edge_rank = g.edge_rank[y.edge as usize];
                (
                    (
                        visits[y.parent as usize].rank,
                        g.rank[y.node as usize],
                        edge_rank,
                    ),
                    (y.state, i),
                )
            })
            .collect();
        keyed.sort_unstable();
        let mut r = 0u32;
        for j in 0..keyed.len() {
            if j > 0 && keyed[j].0 != keyed[j - 1].0 {
                r += 1;
            }
            visits[keyed[j].1 .1 as usize].rank = r;
        }
        next = keyed.into_iter().map(|(_, (_, i))| i).collect();
        layer = next;
    }
    Run { visits }
}
