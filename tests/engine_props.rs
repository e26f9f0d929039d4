//! The engine against an independent brute-force reference on random small graphs and
//! random patterns: the same combination sets, and witnesses that are real walks of the
//! shortest length.
//!
//! The reference works on the generated model directly (not on toxgraph's graph) and
//! evaluates a pattern segment by segment as relations between nodes, with walks of
//! bounded length enumerated layer by layer.

use proptest::prelude::*;
use std::collections::{BTreeSet, HashMap};
use toxgraph::graph::{build, BuildOptions};
use toxgraph::ingest::{native, ReadOptions};
use toxgraph::rules::pattern;

const KINDS: [&str; 6] = [
    "exposes",
    "reaches",
    "contains",
    "uses_identity",
    "member_of",
    "has_role",
];

#[derive(Debug, Clone)]
struct Model {
    /// Category per node (0 is the internet): 0 resource, 1 identity, 2 scope.
    cat: Vec<u8>,
    sensitive: Vec<bool>,
    alert: Vec<bool>,
    /// (from, to, kind index, privileged)
    edges: Vec<(usize, usize, usize, bool)>,
}

fn id(v: usize) -> String {
    if v == 0 {
        "internet".into()
    } else {
        format!("n{v}")
    }
}

impl Model {
    /// The model as a native snapshot; every edge is made by the record the format uses.
    fn jsonl(&self) -> String {
        let mut out = vec![r#"{"type":"snapshot","taken_at":"2026-01-01T00:00:00Z"}"#.to_string()];
        let mut parent: HashMap<usize, usize> = HashMap::new();
        let mut attached: HashMap<usize, Vec<usize>> = HashMap::new();
        for &(f, t, k, p) in &self.edges {
            match KINDS[k] {
                "exposes" => out.push(format!(
                    r#"{{"type":"exposure","resource":"{}","from":"internet"}}"#,
                    id(t)
                )),
                "reaches" => out.push(format!(
                    r#"{{"type":"reach","from":"{}","to":"{}"}}"#,
                    id(f),
                    id(t)
                )),
                "contains" => {
                    parent.insert(t, f);
                }
                "uses_identity" => attached.entry(t).or_default().push(f),
                "member_of" => out.push(format!(
                    r#"{{"type":"membership","member":"{}","group":"{}"}}"#,
                    id(f),
                    id(t)
                )),
                _ => out.push(format!(
                    r#"{{"type":"role_assignment","principal":"{}","role":"{}","scope":"{}"}}"#,
                    id(f),
                    if p { "Owner" } else { "Reader" },
                    id(t)
                )),
            }
        }
        for v in 1..self.cat.len() {
            let line = match self.cat[v] {
                1 => {
                    let att: Vec<String> = attached
                        .get(&v)
                        .map(|a| a.iter().map(|x| format!("\"{}\"", id(*x))).collect())
                        .unwrap_or_default();
                    format!(
                        r#"{{"type":"identity","id":"{}","kind":"group","attached_to":[{}]}}"#,
                        id(v),
                        att.join(",")
                    )
                }
                c => {
                    let kind = if c == 2 {
                        r#""type":"scope","kind":"subscription""#
                    } else {
                        r#""type":"resource","kind":"vm""#
                    };
                    let par = parent
                        .get(&v)
                        .map(|p| format!(r#","parent":"{}""#, id(*p)))
                        .unwrap_or_default();
                    let props = if self.sensitive[v] {
                        r#","props":{"sensitivity":"high"}"#
                    } else {
                        ""
                    };
                    format!(r#"{{{kind},"id":"{}"{par}{props}}}"#, id(v))
                }
            };
            out.push(line);
            if self.alert[v] {
                out.push(format!(r#"{{"type":"finding","id":"f{v}","resource":"{}","class":"alert","title":"t","severity":"high"}}"#, id(v)));
            }
        }
        out.join("\n") + "\n"
    }
}

fn model() -> impl Strategy<Value = Model> {
    (2usize..7).prop_flat_map(|n| {
        let cats = proptest::collection::vec(0u8..3, n);
        let sens = proptest::collection::vec(any::<bool>(), n + 1);
        let alert = proptest::collection::vec(proptest::bool::weighted(0.3), n + 1);
        let edges = proptest::collection::vec((0..=n, 1..=n, 0usize..6, any::<bool>()), 0..14);
        (cats, sens, alert, edges).prop_map(move |(cats, sens, alert, raw)| {
            let mut cat = vec![9u8];
            cat.extend(cats);
            let mut edges = Vec::new();
            let mut has_parent = BTreeSet::new();
            for (f, t, k, p) in raw {
                // Keep each edge in the shape its record type gives it.
                let ok = match KINDS[k] {
                    "exposes" => f == 0,
                    "reaches" => f != 0,
                    "contains" => {
                        f != 0 && f != t && cat[t] != 1 && cat[f] != 1 && has_parent.insert(t)
                    }
                    "uses_identity" => f != 0 && cat[f] != 1 && cat[t] == 1,
                    "member_of" => f != 0 && cat[f] == 1 && cat[t] == 1,
                    _ => f != 0 && cat[f] == 1 && cat[t] != 1,
                };
                if ok
                    && !edges
                        .iter()
                        .any(|e: &(usize, usize, usize, bool)| e.0 == f && e.1 == t && e.2 == k)
                {
                    edges.push((f, t, k, p));
                }
            }
            Model {
                cat,
                sensitive: sens,
                alert,
                edges,
            }
        })
    })
}

#[derive(Debug, Clone)]
struct NodeP {
    /// 0 any, 1 resource, 2 identity, 3 scope, 4 internet
    label: u8,
    sensitive: bool,
    alert: bool,
}

#[derive(Debug, Clone)]
struct EdgeP {
    kinds: Vec<usize>,
    min: u32,
    max: Option<u32>,
    privileged: bool,
}

#[derive(Debug, Clone)]
struct Pat {
    nodes: Vec<NodeP>,
    edges: Vec<EdgeP>,
    entry: usize,
    distinct: bool,
}

impl Pat {
    fn text(&self) -> String {
        let mut s = String::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let var = if i == self.entry {
                "entry"
            } else if i == self.nodes.len() - 1 {
                "target"
            } else {
                ""
            };
            let label = ["", ":resource", ":identity", ":scope", ":internet"][n.label as usize];
            let mut preds = Vec::new();
            if n.sensitive {
                preds.push(r#"sensitivity: "high""#.to_string());
            }
            if n.alert {
                preds.push("finding: {class: alert, severity >= medium}".to_string());
            }
            let props = if preds.is_empty() {
                String::new()
            } else {
                format!(" {{{}}}", preds.join(", "))
            };
            s.push_str(&format!("({var}{label}{props})"));
            if let Some(e) = self.edges.get(i) {
                let kinds = if e.kinds.is_empty() {
                    String::new()
                } else {
                    format!(
                        ":{}",
                        e.kinds
                            .iter()
                            .map(|k| KINDS[*k])
                            .collect::<Vec<_>>()
                            .join("|")
                    )
                };
                let rep = match (e.min, e.max) {
                    (1, Some(1)) => String::new(),
                    (0, None) => "*".into(),
                    (1, None) => "+".into(),
                    (m, None) => format!("*{m}.."),
                    (m, Some(x)) => format!("*{m}..{x}"),
                };
                let pr = if e.privileged { " {privileged}" } else { "" };
                s.push_str(&format!("-[{kinds}{rep}{pr}]->"));
            }
        }
        if self.distinct && self.entry < self.nodes.len() - 1 {
            s.push_str(" where entry <> target");
        }
        s
    }
}

fn pat() -> impl Strategy<Value = Pat> {
    (1usize..4).prop_flat_map(|segs| {
        let nodes = proptest::collection::vec(
            (
                0u8..5,
                proptest::bool::weighted(0.2),
                proptest::bool::weighted(0.2),
            ),
            segs + 1,
        );
        let reps = prop_oneof![
            Just((1u32, Some(1u32))),
            Just((0, None)),
            Just((1, None)),
            Just((1, Some(3))),
            Just((0, Some(2))),
            Just((2, Some(2))),
            Just((2, None)),
        ];
        let edges = proptest::collection::vec(
            (
                proptest::collection::vec(0usize..6, 0..3),
                reps,
                any::<bool>(),
            ),
            segs,
        );
        (nodes, edges, 0..=segs, any::<bool>()).prop_map(|(nodes, edges, entry, distinct)| {
            let nodes = nodes
                .into_iter()
                .map(|(label, sensitive, alert)| NodeP {
                    label,
                    sensitive,
                    alert,
                })
                .collect();
            let edges = edges
                .into_iter()
                .map(|(mut kinds, (min, max), privileged)| {
                    kinds.sort();
                    kinds.dedup();
                    let privileged = privileged && kinds == [5];
                    EdgeP {
                        kinds,
                        min,
                        max,
                        privileged,
                    }
                })
                .collect();
            Pat {
                nodes,
                edges,
                entry,
                distinct,
            }
        })
    })
}

// ------------------------------------------------------------------ reference

fn node_ok(m: &Model, v: usize, p: &NodeP) -> bool {
    let label = match p.label {
        0 => true,
        1 => v != 0 && m.cat[v] == 0,
        2 => v != 0 && m.cat[v] == 1,
        3 => v != 0 && m.cat[v] == 2,
        _ => v == 0,
    };
    label
        && (!p.sensitive || (v != 0 && m.cat[v] == 0 && m.sensitive[v]))
        && (!p.alert || (v != 0 && m.alert[v]))
}

fn edge_ok(e: &(usize, usize, usize, bool), p: &EdgeP) -> bool {
    (p.kinds.is_empty() || p.kinds.contains(&e.2)) && (!p.privileged || e.3)
}

/// Minimum walk length from `u` to each node along one segment, within its bounds.
fn segment(m: &Model, u: usize, p: &EdgeP) -> HashMap<usize, usize> {
    let n = m.cat.len();
    let cap = match p.max {
        Some(x) => x as usize,
        None => p.min as usize + n,
    };
    let mut best = HashMap::new();
    let mut layer: BTreeSet<usize> = [u].into();
    for len in 0..=cap {
        if len >= p.min as usize {
            for &v in &layer {
                best.entry(v).or_insert(len);
            }
        }
        let mut next = BTreeSet::new();
        for &x in &layer {
            for e in m.edges.iter().filter(|e| e.0 == x && edge_ok(e, p)) {
                next.insert(e.1);
            }
        }
        layer = next;
    }
    best
}

/// (entry, target) -> shortest total walk length.
/// A generated pattern's text, and the pattern parsed from it.
fn parse(p: &Pat) -> Result<(String, pattern::Pattern), TestCaseError> {
    let text = p.text();
    let parsed =
        pattern::parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e:?}")))?;
    Ok((text, parsed))
}

/// A generated model's graph, built from its snapshot text.
fn graph(m: &Model) -> toxgraph::graph::Graph {
    let snap = native::parse(m.jsonl().as_bytes(), "prop.jsonl", ReadOptions::default()).unwrap();
    build(snap, &BuildOptions::default()).graph
}

fn reference(m: &Model, p: &Pat) -> HashMap<(usize, usize), usize> {
    let n = m.cat.len();
    // Prefix: shortest distance to each node standing at node pattern j.
    let mut at: HashMap<usize, usize> = (0..n)
        .filter(|&v| node_ok(m, v, &p.nodes[0]))
        .map(|v| (v, 0))
        .collect();
    for j in 0..p.entry {
        let mut next: HashMap<usize, usize> = HashMap::new();
        for (&u, &d) in &at {
            for (v, l) in segment(m, u, &p.edges[j]) {
                if node_ok(m, v, &p.nodes[j + 1]) {
                    let e = next.entry(v).or_insert(usize::MAX);
                    *e = (*e).min(d + l);
                }
            }
        }
        at = next;
    }
    let mut out = HashMap::new();
    for (&e, &d0) in &at {
        let mut cur: HashMap<usize, usize> = [(e, d0)].into();
        for j in p.entry..p.edges.len() {
            let mut next: HashMap<usize, usize> = HashMap::new();
            for (&u, &d) in &cur {
                for (v, l) in segment(m, u, &p.edges[j]) {
                    if node_ok(m, v, &p.nodes[j + 1]) {
                        let x = next.entry(v).or_insert(usize::MAX);
                        *x = (*x).min(d + l);
                    }
                }
            }
            cur = next;
        }
        for (t, d) in cur {
            if !(p.distinct && p.entry < p.edges.len() && t == e) {
                out.insert((e, t), d);
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn engine_agrees_with_brute_force(m in model(), p in pat()) {
        let (text, parsed) = parse(&p)?;
        let g = graph(&m);
        let (matches, _) = toxgraph::engine::evaluate(&g, &parsed, &Default::default());
        let node_of = |v: u32| -> usize {
            let id = g.id(v);
            if id == "internet" { 0 } else { id[1..].parse().unwrap() }
        };
        let got: BTreeSet<(usize, usize)> = matches.iter().map(|x| (node_of(x.entry), node_of(x.target))).collect();
        let want = reference(&m, &p);
        let want_set: BTreeSet<(usize, usize)> = want.keys().copied().collect();
        prop_assert_eq!(&got, &want_set, "pattern {}\nmodel {:?}", text, m);
        for x in &matches {
            let (e, t) = (node_of(x.entry), node_of(x.target));
            // A real walk: every step an edge of the model, of the kind it claims.
            for w in x.walk.windows(2) {
                let (a, b) = (node_of(w[0].node), node_of(w[1].node));
                let kind = g.edge(w[1].edge.unwrap()).kind.as_str();
                prop_assert!(m.edges.iter().any(|ed| ed.0 == a && ed.1 == b && KINDS[ed.2] == kind), "step {a}->{b} {kind} is not an edge");
            }
            prop_assert_eq!(node_of(x.walk.last().unwrap().node), t);
            prop_assert!(x.walk.iter().any(|s| node_of(s.node) == e));
            // Of the shortest length.
            prop_assert_eq!(x.walk.len() - 1, want[&(e, t)], "walk length for {:?} in {}", (e, t), text);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    /// A query into one target tests node patterns only on what can reach it: it must give
    /// exactly the full evaluation's matches into that target, with the same walks.
    #[test]
    fn targeted_query_equals_full_evaluation_into_the_target(m in model(), p in pat(), pick in 0usize..64) {
        let (text, parsed) = parse(&p)?;
        let g = graph(&m);
        let (all, _) = toxgraph::engine::evaluate(&g, &parsed, &Default::default());
        // A target some walk reaches, when there is one; any node otherwise.
        let target = match all.len() {
            0 => (pick % g.node_count()) as u32,
            n => all[pick % n].target,
        };
        let filter = toxgraph::engine::Filter { entry: None, target: Some(target) };
        let (into, _) = toxgraph::engine::evaluate(&g, &parsed, &filter);
        let want: Vec<_> = all.into_iter().filter(|x| x.target == target).collect();
        prop_assert_eq!(into, want, "pattern {} target {}", text, g.id(target));
    }

    /// A capped evaluation keeps exactly the first `cap` matches of the full one, with the
    /// same walks, and counts every match by its entry.
    #[test]
    fn capped_evaluation_keeps_the_first_matches_and_counts_all(m in model(), p in pat(), cap in 0usize..12) {
        let (text, parsed) = parse(&p)?;
        let g = graph(&m);
        let (all, _) = toxgraph::engine::evaluate(&g, &parsed, &Default::default());
        let (found, _) = toxgraph::engine::evaluate_capped(&g, &parsed, &Default::default(), Some(cap), None);
        let first: Vec<_> = all.iter().take(cap).cloned().collect();
        prop_assert_eq!(&found.matches, &first, "pattern {} cap {}", text, cap);
        let mut per_entry: Vec<(u32, usize)> = Vec::new();
        for x in &all {
            match per_entry.last_mut() {
                Some((e, n)) if *e == x.entry => *n += 1,
                _ => per_entry.push((x.entry, 1)),
            }
        }
        prop_assert_eq!(found.per_entry, per_entry, "pattern {}", text);
    }

    /// Node sets worked out once for several patterns give each pattern the matches it
    /// has alone, whichever patterns share them.
    #[test]
    fn shared_node_sets_change_no_match(m in model(), p in pat(), q in pat()) {
        let ((pt, pp), (qt, qp)) = (parse(&p)?, parse(&q)?);
        let g = graph(&m);
        let sets = toxgraph::engine::NodeSets::of(&g, [&pp, &qp]);
        for (t, parsed) in [(&pt, &pp), (&qt, &qp)] {
            let alone = toxgraph::engine::evaluate(&g, parsed, &Default::default()).0;
            let (shared, _) = toxgraph::engine::evaluate_capped(&g, parsed, &Default::default(), None, Some(&sets));
            prop_assert_eq!(shared.matches, alone, "pattern {} beside {}", t, if t == &pt { &qt } else { &pt });
        }
    }
}
