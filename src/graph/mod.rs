//! The estate graph: one node per folded id, edges of the six kinds the format defines,
//! and per-kind adjacency in compressed form for the engine.
//!
//! petgraph holds the structure (small node and edge weights); payloads that rules read
//! (tags, props, findings, roles, ports) live in side tables indexed by node or edge.

mod build;
pub mod csr;
pub mod index;
pub mod intern;
pub mod roles;
pub mod seen;
mod slots;

pub use build::{build, BuildOptions, Builder, Built, Keys};
pub use csr::Csr;
pub use index::IdIndex;
pub use intern::{Interner, Sym};

use crate::ingest::{FindingClass, Level, Meta, PortRange};
use indexmap::{IndexMap, IndexSet};
use petgraph::graph::DiGraph;
use serde_json::value::RawValue;

/// The four kinds of node in the format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    Internet,
    Scope,
    Resource,
    Identity,
}

impl Category {
    pub const ALL: [Category; 4] = [
        Category::Internet,
        Category::Scope,
        Category::Resource,
        Category::Identity,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Internet => "internet",
            Category::Scope => "scope",
            Category::Resource => "resource",
            Category::Identity => "identity",
        }
    }
}

/// The six edge kinds of the format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EdgeKind {
    Exposes,
    Reaches,
    Contains,
    UsesIdentity,
    MemberOf,
    HasRole,
}

impl EdgeKind {
    pub const ALL: [EdgeKind; 6] = [
        EdgeKind::Exposes,
        EdgeKind::Reaches,
        EdgeKind::Contains,
        EdgeKind::UsesIdentity,
        EdgeKind::MemberOf,
        EdgeKind::HasRole,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EdgeKind::Exposes => "exposes",
            EdgeKind::Reaches => "reaches",
            EdgeKind::Contains => "contains",
            EdgeKind::UsesIdentity => "uses_identity",
            EdgeKind::MemberOf => "member_of",
            EdgeKind::HasRole => "has_role",
        }
    }

    pub fn parse(s: &str) -> Option<EdgeKind> {
        EdgeKind::ALL
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// Node weight in petgraph: just enough to walk without touching payloads.
#[derive(Debug, Clone, Copy)]
pub struct NodeWeight {
    pub category: Category,
}

/// Edge weight: the kind, and an index into the side table for that kind
/// (`roles` for `has_role`, `nets` for `exposes`/`reaches`), or `NONE`.
#[derive(Debug, Clone, Copy)]
pub struct EdgeWeight {
    pub kind: EdgeKind,
    pub extra: u32,
}

pub const NONE: u32 = u32::MAX;

/// What rules may read about a node.
#[derive(Debug, Clone)]
pub struct NodeData {
    pub category: Category,
    /// The id as shown, where it is not as the index holds it: see [`Graph::id`].
    pub spelled: Option<Box<str>>,
    /// Scope kind, resource type or identity kind; `unknown` where nothing says.
    pub kind: Sym,
    /// The name, where it is not the last segment of the id (see [`Graph::name`]).
    pub(crate) name: Option<Box<str>>,
    /// The name is the last segment of the id, as resources' names mostly are: kept once,
    /// in the id (a million names, 16 MB, at a million resources).
    pub(crate) name_is_tail: bool,
    /// Defined by a record (not only referenced).
    pub defined: bool,
    pub parent: Option<u32>,
    pub tags: Box<[(Sym, Sym)]>,
    pub props: Option<Box<RawValue>>,
    /// `props.sensitivity` when it is a string: read once here, since every reference
    /// rule tests it on every node.
    pub sensitivity: Option<Sym>,
    /// Range into [`Graph::findings`].
    pub findings: (u32, u32),
    /// Where the node is defined (the later line, when several define it): SARIF points
    /// code-scanning results at it.
    pub origin: Option<crate::ingest::Origin>,
}

/// What rules may read about a finding. Its other fields (its resource, which the node is;
/// its times and source id) are left in the snapshot: nothing evaluates them, and at a
/// million resources there are half a million findings to hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingData {
    /// The finding's id; or, where `after_node` is set, only what follows its node's id
    /// as the index holds it. Defender's assessment ids begin with their resource's id,
    /// which the graph holds already: at a million resources this keeps some 40 MB of
    /// half a million findings' ids once. [`Graph::finding_id`] gives the whole id.
    pub(crate) id_rest: Box<str>,
    pub(crate) after_node: bool,
    pub class: FindingClass,
    pub severity: Level,
    /// Normalised as [`crate::ingest::Finding::state`] is.
    pub state: Sym,
    pub category: Option<Sym>,
    pub title: Sym,
    pub techniques: Box<[Sym]>,
}

impl FindingData {
    /// The id in two parts, given the finding's node's id as the index holds it.
    pub(crate) fn id_parts<'a>(&'a self, node: &'a str) -> [&'a str; 2] {
        [if self.after_node { node } else { "" }, &self.id_rest]
    }
}

/// Ports and protocol of an `exposes` or `reaches` edge.
#[derive(Debug, Clone)]
pub struct NetInfo {
    /// `None` = all ports.
    pub ports: Option<Vec<PortRange>>,
    /// Interned in [`Graph::strings`]: a few protocols serve every edge.
    pub protocol: Option<Sym>,
}

impl NetInfo {
    /// Does traffic to `port` pass? Absent ports mean all ports.
    pub fn allows(&self, lo: u16, hi: u16) -> bool {
        match &self.ports {
            None => true,
            Some(ps) => ps.iter().any(|p| p.lo <= hi && lo <= p.hi),
        }
    }
}

/// The estate graph.
#[derive(Debug)]
pub struct Graph {
    pub meta: Meta,
    pub g: DiGraph<NodeWeight, EdgeWeight, u32>,
    /// Ids; a node's index here is its node index.
    pub index: IdIndex,
    pub nodes: Vec<NodeData>,
    pub findings: Vec<FindingData>,
    pub roles: Vec<roles::RoleInfo>,
    pub nets: Vec<NetInfo>,
    /// Per edge kind, forward and backward adjacency.
    pub fwd: Vec<Csr>,
    pub bwd: Vec<Csr>,
    /// Position of each node in byte order of folded ids: the witness tie-break.
    pub rank: Vec<u32>,
    /// Position of each edge in a canonical order (ends' ranks, kind, payload), so that
    /// choices between parallel edges do not depend on input order.
    pub edge_rank: Vec<u32>,
    /// Tag key that names the owner (case-insensitive).
    pub owner_key: String,
    /// Kinds, tag keys and values, and findings' titles, states, categories and techniques.
    pub strings: Interner,
    /// The source files, indexed by [`crate::ingest::Origin::file`].
    pub files: Vec<String>,
}

impl Graph {
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The node for an id, compared case-insensitively.
    pub fn find(&self, id: &str) -> Option<u32> {
        self.index.get(id)
    }

    /// A node's id as shown (the format's display spelling: the smallest defining
    /// spelling, else the smallest reference's).
    pub fn id(&self, v: u32) -> &str {
        id_of(&self.nodes, &self.index, v)
    }

    /// The node's name, if it has one.
    pub fn name(&self, v: u32) -> Option<&str> {
        let n = &self.nodes[v as usize];
        if n.name_is_tail {
            return Some(crate::ids::last_segment(self.id(v)));
        }
        n.name.as_deref()
    }

    /// The node's kind as text.
    pub fn kind(&self, v: u32) -> &str {
        self.strings.get(self.nodes[v as usize].kind)
    }

    /// Starts loading a node's data and where its id lies: the step before
    /// [`Graph::prefetch_id`], whose loads depend on these.
    pub(crate) fn prefetch_node(&self, v: u32) {
        if let Some(n) = self.nodes.get(v as usize) {
            crate::prefetch::prefetch_all(n);
            self.index.prefetch_span(v);
        }
    }

    /// Starts loading a node's id.
    pub(crate) fn prefetch_id(&self, v: u32) {
        if (v as usize) < self.nodes.len() {
            crate::prefetch::prefetch_text(self.id(v));
        }
    }

    /// Starts loading an edge's weight.
    pub(crate) fn prefetch_edge(&self, e: u32) {
        if let Some(e) = self.g.raw_edges().get(e as usize) {
            crate::prefetch::prefetch(e);
        }
    }

    pub fn node(&self, v: u32) -> &NodeData {
        &self.nodes[v as usize]
    }

    pub fn findings_of(&self, v: u32) -> &[FindingData] {
        let (a, b) = self.nodes[v as usize].findings;
        &self.findings[a as usize..b as usize]
    }

    /// The id of `f`, one of [`findings_of(v)`](Self::findings_of).
    pub fn finding_id<'a>(&'a self, v: u32, f: &'a FindingData) -> std::borrow::Cow<'a, str> {
        joined(f.id_parts(self.index.text(v)))
    }

    pub fn edge(&self, e: u32) -> EdgeWeight {
        self.g[petgraph::graph::EdgeIndex::new(e as usize)]
    }

    /// The role a `has_role` edge carries.
    pub fn role_of(&self, e: u32) -> Option<&roles::RoleInfo> {
        let w = self.edge(e);
        (w.kind == EdgeKind::HasRole && w.extra != NONE).then(|| &self.roles[w.extra as usize])
    }

    /// Ports and protocol of an `exposes`/`reaches` edge.
    pub fn net_of(&self, e: u32) -> Option<&NetInfo> {
        let w = self.edge(e);
        (matches!(w.kind, EdgeKind::Exposes | EdgeKind::Reaches) && w.extra != NONE)
            .then(|| &self.nets[w.extra as usize])
    }

    /// A tag of the node or, failing that, of its nearest ancestor that has it, following
    /// `contains` upwards; the walk stops where a parent cycle would repeat.
    pub fn inherited_tag(&self, v: u32, key: &str) -> Option<&str> {
        let mut seen: Vec<u32> = Vec::new();
        let mut cur = Some(v);
        while let Some(n) = cur {
            if seen.contains(&n) || seen.len() > self.nodes.len() {
                break;
            }
            seen.push(n);
            let node = &self.nodes[n as usize];
            if let Some((_, val)) = node
                .tags
                .iter()
                .find(|(k, _)| self.strings.get(*k).eq_ignore_ascii_case(key))
            {
                return Some(self.strings.get(*val));
            }
            cur = node.parent;
        }
        None
    }

    /// The owner of a node per the format, or `(unowned)`.
    pub fn owner(&self, v: u32) -> &str {
        self.inherited_tag(v, &self.owner_key).unwrap_or(UNOWNED)
    }

    /// Counts for outputs: how big the graph in scope is. Counted in parallel: it reads
    /// every node, 120 MB of them at a million resources.
    pub fn stats(&self) -> GraphStats {
        use rayon::prelude::*;
        let count = |mut c: [usize; 4], n: &NodeData| {
            match n.category {
                Category::Scope => c[0] += 1,
                Category::Resource => {
                    c[1] += 1;
                    c[2] += usize::from(n.defined);
                }
                Category::Identity => c[3] += 1,
                Category::Internet => {}
            }
            c
        };
        let add = |a: [usize; 4], b: [usize; 4]| std::array::from_fn(|i| a[i] + b[i]);
        let [scopes, resources, defined_resources, identities] = self
            .nodes
            .par_iter()
            .with_min_len(1 << 14)
            .fold(|| [0; 4], count)
            .reduce(|| [0; 4], add);
        let mut s = GraphStats {
            scopes,
            resources,
            defined_resources,
            identities,
            ..GraphStats::default()
        };
        for k in EdgeKind::ALL {
            s.edges_by_kind
                .insert(k.as_str(), self.fwd[k.index()].nbrs.len());
        }
        s.nodes = self.nodes.len();
        s.edges = self.g.edge_count();
        s.findings = self.findings.len();
        s
    }
}

/// A finding's id from its [parts](FindingData::id_parts).
pub(crate) fn joined<'a>([head, rest]: [&'a str; 2]) -> std::borrow::Cow<'a, str> {
    if head.is_empty() {
        rest.into()
    } else {
        format!("{head}{rest}").into()
    }
}

/// [`Graph::id`], for while the graph is being made.
fn id_of<'a>(nodes: &'a [NodeData], index: &'a IdIndex, v: u32) -> &'a str {
    match &nodes[v as usize].spelled {
        Some(s) => s,
        None => index.text(v),
    }
}

/// The owner bucket for resources whose ancestry carries no owner tag.
pub const UNOWNED: &str = "(unowned)";

#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct GraphStats {
    pub nodes: usize,
    pub scopes: usize,
    pub resources: usize,
    pub defined_resources: usize,
    pub identities: usize,
    pub edges: usize,
    pub edges_by_kind: IndexMap<&'static str, usize>,
    pub findings: usize,
}
