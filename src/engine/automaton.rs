//! A pattern compiled against a graph: a small automaton whose states are "matched node
//! pattern k" and "k steps into edge segment j", with the node and edge predicates turned
//! into bit sets over the graph.

use super::bitset::BitSet;
use crate::graph::{Category, EdgeKind, Graph};
use crate::rules::pattern::*;
use rayon::prelude::*;

/// What a state means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// The current node matched node pattern `k`.
    At(usize),
    /// `c` steps taken along edge segment `j` (between node patterns `j` and `j + 1`).
    In(usize, u32),
}

#[derive(Debug)]
pub struct Automaton {
    pub states: Vec<State>,
    /// Edge transitions: (segment, to).
    pub out: Vec<Vec<(usize, u16)>>,
    /// Conditional epsilon transitions: (node pattern the node must match, to).
    pub eps: Vec<Vec<(usize, u16)>>,
    /// Reverse of `out`: (segment, from).
    pub rin: Vec<Vec<(usize, u16)>>,
    /// Reverse of `eps`: (node pattern, from).
    pub reps: Vec<Vec<(usize, u16)>>,
    /// Per node pattern: the nodes that match it.
    pub node_sets: Vec<BitSet>,
    /// Per segment: edge kinds followed.
    pub seg_kinds: Vec<Vec<EdgeKind>>,
    /// Per segment: edges passing the predicates (`None` = all).
    pub seg_edges: Vec<Option<BitSet>>,
    pub entry: usize,
    pub target: usize,
    pub last: usize,
    pub distinct: bool,
}

impl Automaton {
    pub fn state_count(&self) -> usize {
        self.states.len()
    }

    /// The state meaning "matched node pattern k".
    pub fn at(&self, k: usize) -> u16 {
        k as u16
    }

    /// Position along the pattern, doubled so segments sit between node patterns.
    pub fn position(&self, s: u16) -> usize {
        match self.states[s as usize] {
            State::At(k) => 2 * k,
            State::In(j, _) => 2 * j + 1,
        }
    }

    /// Node pattern a state requires the node to match, if any.
    #[inline]
    pub fn requires(&self, s: u16) -> Option<usize> {
        match self.states[s as usize] {
            State::At(k) => Some(k),
            State::In(..) => None,
        }
    }

    #[inline]
    pub fn edge_ok(&self, seg: usize, e: u32) -> bool {
        self.seg_edges[seg]
            .as_ref()
            .is_none_or(|s| s.contains(e as usize))
    }

    pub fn compile(p: &Pattern, g: &Graph) -> Automaton {
        Automaton::compile_within(p, g, None, None)
    }

    /// As [`compile`](Self::compile), with node patterns tested only on the nodes in
    /// `within` (the others match nothing): a query into one target need not test the
    /// whole estate, only what can reach the target. Node sets found in `shared` are taken
    /// from it rather than worked out again.
    pub fn compile_within(
        p: &Pattern,
        g: &Graph,
        within: Option<&[u32]>,
        shared: Option<&NodeSets>,
    ) -> Automaton {
        let n = p.nodes.len();
        let mut states: Vec<State> = (0..n).map(State::At).collect();
        let mut out = vec![Vec::new(); n];
        let mut eps = vec![Vec::new(); n];
        for (j, e) in p.edges.iter().enumerate() {
            let cap = e.max.unwrap_or(e.min.max(1));
            let first = states.len();
            for c in 1..=cap {
                states.push(State::In(j, c));
                out.push(Vec::new());
                eps.push(Vec::new());
            }
            let id = |c: u32| (first + c as usize - 1) as u16;
            if cap >= 1 {
                out[j].push((j, id(1)));
            }
            for c in 1..cap {
                out[id(c) as usize].push((j, id(c + 1)));
            }
            if e.max.is_none() {
                out[id(cap) as usize].push((j, id(cap)));
            }
            if e.min == 0 {
                eps[j].push((j + 1, (j + 1) as u16));
            }
            for c in e.min.max(1)..=cap {
                eps[id(c) as usize].push((j + 1, (j + 1) as u16));
            }
        }
        let s = states.len();
        let mut rin = vec![Vec::new(); s];
        let mut reps = vec![Vec::new(); s];
        for from in 0..s {
            for &(seg, to) in &out[from] {
                rin[to as usize].push((seg, from as u16));
            }
            for &(k, to) in &eps[from] {
                reps[to as usize].push((k, from as u16));
            }
        }
        let node_sets = p
            .nodes
            .iter()
            .map(|np| match within {
                // `()` is every node: nothing to test.
                None if matches_all(np) => BitSet::full(g.node_count()),
                None => match shared.and_then(|s| s.get(np)) {
                    Some(set) => set.clone(),
                    None => node_set(g, np),
                },
                Some(nodes) => {
                    let mut set = BitSet::new(g.node_count());
                    for &v in nodes {
                        if node_matches(g, v, np) {
                            set.insert(v as usize);
                        }
                    }
                    set
                }
            })
            .collect();
        let seg_kinds = p.edges.iter().map(segment_kinds).collect();
        let seg_edges = p
            .edges
            .iter()
            .map(|e| {
                (!e.preds.is_empty()).then(|| {
                    BitSet::from_fn(g.g.edge_count(), |i| edge_matches(g, i as u32, &e.preds))
                })
            })
            .collect();
        Automaton {
            states,
            out,
            eps,
            rin,
            reps,
            node_sets,
            seg_kinds,
            seg_edges,
            entry: p.entry,
            target: p.target,
            last: n - 1,
            distinct: p.distinct_entry_target,
        }
    }
}

/// `()`: every node, with nothing to test.
fn matches_all(np: &NodePat) -> bool {
    np.labels.is_empty() && np.preds.is_empty()
}

fn node_set(g: &Graph, np: &NodePat) -> BitSet {
    BitSet::from_fn(g.node_count(), |v| node_matches(g, v as u32, np))
}

/// The node sets of a pack's node patterns, each worked out once: rules share many of
/// theirs (nine of the ten shipped rules start at `(internet)`, three end at a sensitive
/// resource), and each set is a test of every node in the estate.
#[derive(Debug, Default)]
pub struct NodeSets {
    /// Each distinct pattern (without its variable) with its set.
    sets: Vec<(NodePat, BitSet)>,
}

impl NodeSets {
    pub fn of<'a>(g: &Graph, patterns: impl IntoIterator<Item = &'a Pattern>) -> NodeSets {
        let mut distinct: Vec<NodePat> = Vec::new();
        for np in patterns.into_iter().flat_map(|p| &p.nodes) {
            let test = NodePat {
                var: None,
                ..np.clone()
            };
            if !matches_all(&test) && !distinct.contains(&test) {
                distinct.push(test);
            }
        }
        let sets = distinct
            .into_par_iter()
            .map(|np| {
                let set = node_set(g, &np);
                (np, set)
            })
            .collect();
        NodeSets { sets }
    }

    fn get(&self, np: &NodePat) -> Option<&BitSet> {
        self.sets
            .iter()
            .find(|(t, _)| t.labels == np.labels && t.preds == np.preds)
            .map(|(_, set)| set)
    }
}

fn label_matches(g: &Graph, v: u32, l: &Label) -> bool {
    let n = g.node(v);
    match l {
        Label::Internet => n.category == Category::Internet,
        Label::Scope => n.category == Category::Scope,
        Label::Resource => n.category == Category::Resource,
        Label::Identity => n.category == Category::Identity,
        Label::Kind(k) => n.category != Category::Internet && g.kind(v).eq_ignore_ascii_case(k),
    }
}

/// Does node `v` satisfy a node pattern?
pub fn node_matches(g: &Graph, v: u32, np: &NodePat) -> bool {
    (np.labels.is_empty() || np.labels.iter().any(|l| label_matches(g, v, l)))
        && np.preds.iter().all(|p| node_pred(g, v, p))
}

fn test_str(t: &Test, s: Option<&str>) -> bool {
    match (t, s) {
        (_, None) => false,
        (Test::Exists, Some(_)) => true,
        (Test::Eq(x), Some(s)) => x.matches_str(s),
        (Test::In(xs), Some(s)) => xs.iter().any(|x| x.matches_str(s)),
        (Test::Cmp(..), Some(_)) => false,
    }
}

fn node_pred(g: &Graph, v: u32, p: &NodePred) -> bool {
    match p {
        NodePred::Prop { key, test, negated } => {
            let n = g.node(v);
            let holds = match key {
                NodeKey::Id => test_str(test, Some(g.id(v))),
                NodeKey::Name => test_str(test, g.name(v)),
                NodeKey::Kind => test_str(test, Some(g.kind(v))),
                NodeKey::Owner => match test {
                    Test::Exists => g.inherited_tag(v, &g.owner_key).is_some(),
                    t => test_str(t, Some(g.owner(v))),
                },
                NodeKey::Sensitivity => test_str(test, n.sensitivity.map(|s| g.strings.get(s))),
                NodeKey::Defined => match test {
                    Test::Exists => n.defined,
                    t => test_str(t, Some(if n.defined { "true" } else { "false" })),
                },
                NodeKey::Tag(k) => test_str(test, g.inherited_tag(v, k)),
                NodeKey::Prop(k) => test_str(test, prop_string(n.props.as_deref(), k).as_deref()),
            };
            holds != *negated
        }
        NodePred::Finding { tests, negated } => {
            let any = g
                .findings_of(v)
                .iter()
                .any(|f| tests.iter().all(|(k, t)| finding_test(g, v, f, *k, t)));
            any != *negated
        }
    }
}

/// A top-level property as text: strings as they are, numbers and booleans printed,
/// arrays and objects as compact JSON (so they exist, and can be compared as text); null
/// counts as absent.
fn prop_string(props: Option<&serde_json::value::RawValue>, key: &str) -> Option<String> {
    let props = props?;
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(props.get()).ok()?;
    let val = map
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)?;
    match val {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::Bool(b) => Some(b.to_string()),
        serde_json::Value::Null => None,
        compound => Some(compound.to_string()),
    }
}

fn finding_test(g: &Graph, v: u32, f: &crate::graph::FindingData, k: FindingKey, t: &Test) -> bool {
    let text = |s: crate::graph::Sym| Some(g.strings.get(s));
    match k {
        FindingKey::Class => test_str(
            t,
            Some(match f.class {
                crate::ingest::FindingClass::Recommendation => "recommendation",
                crate::ingest::FindingClass::Alert => "alert",
            }),
        ),
        FindingKey::State => test_str(t, text(f.state)),
        FindingKey::Severity => match t {
            Test::Cmp(op, level) => op.holds(f.severity, *level),
            t => test_str(t, Some(f.severity.as_str())),
        },
        FindingKey::Category => test_str(t, f.category.and_then(text)),
        FindingKey::Title => test_str(t, text(f.title)),
        FindingKey::Id => test_str(t, Some(&g.finding_id(v, f))),
        FindingKey::Technique => match t {
            Test::Exists => !f.techniques.is_empty(),
            Test::Eq(x) => f
                .techniques
                .iter()
                .any(|&tech| technique_is(g.strings.get(tech), x)),
            Test::In(xs) => f
                .techniques
                .iter()
                .any(|&tech| xs.iter().any(|x| technique_is(g.strings.get(tech), x))),
            Test::Cmp(..) => false,
        },
    }
}

/// `T1078` matches `T1078` and its sub-techniques `T1078.xxx`.
fn technique_is(tech: &str, wanted: &Value) -> bool {
    let Value::Str(w) = wanted else { return false };
    let tech = tech.trim();
    tech.eq_ignore_ascii_case(w)
        || (tech.len() > w.len()
            && tech.as_bytes()[w.len()] == b'.'
            && tech[..w.len()].eq_ignore_ascii_case(w))
}

/// Does edge `e` satisfy every edge predicate?
pub fn edge_matches(g: &Graph, e: u32, preds: &[EdgePred]) -> bool {
    preds.iter().all(|p| match p {
        EdgePred::Privileged(b) => g.role_of(e).is_some_and(|r| r.privileged == *b),
        EdgePred::Role(t, neg) => g
            .role_of(e)
            .is_some_and(|r| test_str(t, Some(&r.name)) != *neg),
        EdgePred::Port(ranges, neg) => g
            .net_of(e)
            .is_some_and(|n| ranges.iter().any(|r| n.allows(r.lo, r.hi)) != *neg),
        EdgePred::Protocol(t, neg) => g.net_of(e).is_some_and(|n| {
            let holds = match &n.protocol {
                None => true,
                Some(p) => p == "*" || p.eq_ignore_ascii_case("any") || test_str(t, Some(p)),
            };
            holds != *neg
        }),
    })
}

/// The edge kinds a segment follows: those it names, or every kind when it names none.
pub fn segment_kinds(e: &EdgePat) -> Vec<EdgeKind> {
    if e.kinds.is_empty() {
        EdgeKind::ALL.to_vec()
    } else {
        e.kinds.clone()
    }
}
