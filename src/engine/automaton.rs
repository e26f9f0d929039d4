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
        let seg_kinds: Vec<Vec<EdgeKind>> = p.edges.iter().map(segment_kinds).collect();
        // Only edges of the kinds a segment follows are ever asked about: a segment
        // `[:has_role {privileged}]` tests the role assignments, not every edge.
        let seg_edges = p
            .edges
            .iter()
            .zip(&seg_kinds)
            .map(|(e, kinds)| {
                (!e.preds.is_empty()).then(|| {
                    let mut set = BitSet::new(g.g.edge_count());
                    for kind in kinds {
                        let passing: Vec<u32> = g.fwd[kind.index()]
                            .edges
                            .par_iter()
                            .copied()
                            .filter(|&i| edge_matches(g, i, &e.preds))
                            .collect();
                        for i in passing {
                            set.insert(i as usize);
                        }
                    }
                    set
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
    let test = NodeTest::of(g, np);
    BitSet::from_fn(g.node_count(), |v| test.matches(g, v as u32))
}

/// A node pattern made ready to test node after node.
enum NodeTest<'a> {
    ByKind(ByKind<'a>),
    Each(&'a NodePat),
}

impl<'a> NodeTest<'a> {
    fn of(g: &Graph, np: &'a NodePat) -> NodeTest<'a> {
        match ByKind::of(g, np) {
            Some(by_kind) => NodeTest::ByKind(by_kind),
            None => NodeTest::Each(np),
        }
    }

    #[inline]
    fn matches(&self, g: &Graph, v: u32) -> bool {
        match self {
            NodeTest::ByKind(by_kind) => by_kind.matches(g, v),
            NodeTest::Each(np) => node_matches(g, v, np),
        }
    }
}

/// A node pattern with its labels and `kind` tests answered once for each category and
/// each string the graph interns instead of once a node: they read nothing else of a node,
/// and a pack tests a few kinds against every node of the estate.
struct ByKind<'a> {
    /// Bit `category` of entry `kind` (by [`Sym::index`](crate::graph::Sym::index)).
    passes: Vec<u8>,
    /// The pattern's other tests, asked of each node.
    others: Vec<&'a NodePred>,
}

impl<'a> ByKind<'a> {
    /// `None` where the graph interns more strings than a table over them is worth.
    fn of(g: &Graph, np: &'a NodePat) -> Option<ByKind<'a>> {
        if g.strings.len() > g.node_count() / 4 + 64 {
            return None;
        }
        let mut kind_tests = Vec::new();
        let mut others = Vec::new();
        for p in &np.preds {
            match kind_test(p) {
                Some(t) => kind_tests.push(t),
                None => others.push(p),
            }
        }
        let passes = g
            .strings
            .iter()
            .map(|kind| {
                let tests = kind_tests
                    .iter()
                    .all(|&(test, negated)| test_str(test, Some(kind)) != negated);
                Category::ALL
                    .into_iter()
                    .filter(|&c| {
                        tests
                            && (np.labels.is_empty()
                                || np.labels.iter().any(|l| label_holds(c, kind, l)))
                    })
                    .fold(0u8, |bits, c| bits | 1 << c as u8)
            })
            .collect();
        Some(ByKind { passes, others })
    }

    fn matches(&self, g: &Graph, v: u32) -> bool {
        let n = g.node(v);
        self.passes
            .get(n.kind.index())
            .is_some_and(|bits| bits >> n.category as u8 & 1 == 1)
            && self.others.iter().all(|p| node_pred(g, v, p))
    }
}

/// A test of the node's kind alone, and whether it is negated.
fn kind_test(p: &NodePred) -> Option<(&Test, bool)> {
    match p {
        NodePred::Prop {
            key: NodeKey::Kind,
            test,
            negated,
        } => Some((test, *negated)),
        _ => None,
    }
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
        // Every set in one pass over the nodes, 64 nodes at a time: each node's data is
        // read from memory once for all the patterns, not once a pattern (the node data
        // of a million-resource estate is some 130 MB, and a pack has a dozen patterns).
        let tests: Vec<NodeTest> = distinct.iter().map(|np| NodeTest::of(g, np)).collect();
        let n = g.node_count();
        let k = tests.len().max(1);
        let mut words = vec![0u64; n.div_ceil(64) * k];
        words.par_chunks_mut(k).enumerate().for_each(|(w, out)| {
            for v in w * 64..(w * 64 + 64).min(n) {
                for (word, test) in out.iter_mut().zip(&tests) {
                    *word |= u64::from(test.matches(g, v as u32)) << (v % 64);
                }
            }
        });
        let sets = distinct
            .into_iter()
            .enumerate()
            .map(|(j, np)| {
                let set = BitSet::from_words(words.iter().skip(j).step_by(k).copied().collect(), n);
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
    label_holds(g.node(v).category, g.kind(v), l)
}

/// Does a node of category `c` and kind `kind` carry label `l`?
fn label_holds(c: Category, kind: &str, l: &Label) -> bool {
    match l {
        Label::Internet => c == Category::Internet,
        Label::Scope => c == Category::Scope,
        Label::Resource => c == Category::Resource,
        Label::Identity => c == Category::Identity,
        Label::Kind(k) => c != Category::Internet && kind.eq_ignore_ascii_case(k),
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
            let holds = match n.protocol.map(|p| g.strings.get(p)) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::{build, BuildOptions};
    use crate::ingest::{native, ReadOptions};

    /// A small estate with every category and a few kinds.
    fn small_graph() -> Graph {
        let text = [
            r#"{"type":"snapshot","taken_at":"2026-01-01T00:00:00Z"}"#,
            r#"{"type":"scope","id":"/subscriptions/s","kind":"subscription"}"#,
            r#"{"type":"scope","id":"/subscriptions/s/resourceGroups/g","kind":"resource_group"}"#,
            r#"{"type":"resource","id":"/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/vm","kind":"Microsoft.Compute/virtualMachines"}"#,
            r#"{"type":"resource","id":"/subscriptions/s/resourceGroups/g/providers/Microsoft.Web/sites/web","kind":"microsoft.web/SITES","props":{"sensitivity":"high"}}"#,
            r#"{"type":"resource","id":"/subscriptions/s/resourceGroups/g/providers/Microsoft.KeyVault/vaults/kv","kind":"Microsoft.KeyVault/vaults","props":{"sensitivity":"high"}}"#,
            r#"{"type":"identity","id":"11111111-1111-1111-1111-111111111111","kind":"service_principal"}"#,
            r#"{"type":"identity","id":"22222222-2222-2222-2222-222222222222","kind":"group"}"#,
            r#"{"type":"exposure","resource":"/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/vm","from":"internet"}"#,
            r#"{"type":"reach","from":"/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/vm","to":"/subscriptions/s/resourceGroups/g/providers/Other/things/undefined"}"#,
            r#"{"type":"finding","id":"f1","resource":"/subscriptions/s/resourceGroups/g/providers/Microsoft.Compute/virtualMachines/vm","class":"recommendation","title":"t","severity":"high"}"#,
            r#"{"type":"finding","id":"f2","resource":"/subscriptions/s/resourceGroups/g/providers/Microsoft.Web/sites/web","class":"alert","title":"t","severity":"high"}"#,
        ]
        .join("\n");
        let snap = native::parse(text.as_bytes(), "t.jsonl", ReadOptions::default()).unwrap();
        build(snap, &BuildOptions::default()).graph
    }

    /// Node patterns that read labels, kinds and more.
    const NODES: &[&str] = &[
        "(internet)",
        "(x:resource)",
        "(x:scope)",
        "(x:identity)",
        "(x:subscription)",
        "(x:service_principal)",
        "(x:SERVICE_PRINCIPAL|resource_group)",
        "(x:internet|group)",
        "(x {kind: \"microsoft.compute/virtualmachines\"})",
        "(x {not kind: \"Microsoft.Compute/virtualMachines\"})",
        "(x:resource {not kind in [\"Microsoft.Web/sites\", \"Microsoft.KeyVault/vaults\"]})",
        "(x:resource {kind: \"Microsoft.Web/sites\", sensitivity: \"high\"})",
        "(x:resource {not kind: \"Microsoft.Web/sites\", sensitivity: \"high\"})",
        "(x {kind})",
        "(x {not kind})",
        "(x:resource {not defined})",
        "(x {kind: \"unknown\"})",
        "(x {finding: {class: recommendation}})",
    ];

    fn first_node(pattern: &str) -> NodePat {
        let pattern = crate::rules::pattern::parse(&format!("{pattern}-[:reaches*0..1]->(y)"))
            .unwrap_or_else(|e| panic!("{pattern}: {e:?}"));
        pattern.nodes[0].clone()
    }

    /// The sets worked out by kind are the sets of the nodes that match, one by one: for
    /// labels of each category and kind, `kind` tests with and without `not`, in any case,
    /// and mixed with tests that read more than the kind.
    #[test]
    fn node_sets_by_kind_are_the_nodes_that_match() {
        let g = small_graph();
        for node in NODES {
            let np = &first_node(node);
            let by_kind = ByKind::of(&g, np).is_some();
            let want: Vec<usize> = (0..g.node_count())
                .filter(|&v| node_matches(&g, v as u32, np))
                .collect();
            let got: Vec<usize> = node_set(&g, np).iter().collect();
            assert!(by_kind, "{node}: a small graph is worked out by kind");
            assert_eq!(got, want, "{node}");
        }
    }

    /// The sets worked out together, in one pass over the nodes, are each pattern's own:
    /// on the small estate, and on a generated one of many words of nodes with the shipped
    /// pack's patterns.
    #[test]
    fn shared_node_sets_are_each_patterns_set() {
        let mut patterns: Vec<Pattern> = NODES
            .iter()
            .map(|n| crate::rules::pattern::parse(&format!("{n}-[:reaches*0..1]->(y)")).unwrap())
            .collect();
        let small = small_graph();
        let shared = NodeSets::of(&small, &patterns);
        assert_eq!(
            shared.sets.len(),
            NODES.len(),
            "`(y)` tests nothing: left out"
        );

        let dir = tempfile::tempdir().unwrap();
        let opts = crate::generate::GenerateOptions {
            resources: 300,
            seed: 7,
        };
        crate::generate::generate(&opts, dir.path()).unwrap();
        let est = crate::load_estate(
            &dir.path().join("q1.jsonl"),
            ReadOptions::default(),
            &BuildOptions::default(),
        )
        .unwrap();
        let pack = crate::rules::shipped().unwrap();
        patterns.extend(pack.rules.iter().map(|r| r.pattern.clone()));
        for g in [&small, &est.graph] {
            assert!(g.node_count() > 64 || std::ptr::eq(g, &small));
            let shared = NodeSets::of(g, &patterns);
            for np in patterns
                .iter()
                .flat_map(|p| &p.nodes)
                .filter(|np| !matches_all(np))
            {
                let want: Vec<usize> = (0..g.node_count())
                    .filter(|&v| node_matches(g, v as u32, np))
                    .collect();
                let got: Vec<usize> = shared
                    .get(np)
                    .expect("every pattern's set")
                    .iter()
                    .collect();
                assert_eq!(got, want, "{np:?}");
            }
        }
    }
}
