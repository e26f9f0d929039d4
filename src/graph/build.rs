//! From records to graph: merging definitions, resolving references and roles, deriving
//! parents, and the warnings the format asks for along the way.

use super::index::{cmp_folded, hash_id, IdIndex};
use super::roles::RoleTable;
use super::seen::Seen;
use super::slots::Slots;
use super::*;
use crate::diag::Diagnostic;
use crate::ids::{self, Shape};
use crate::ingest::native::AHEAD;
use crate::ingest::{
    is_internet_source, DefType, Definition, Finding, Origin, Record, Snapshot, TypeCounts,
};
use rayon::prelude::*;

/// Choices the format leaves to the user.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Tag key naming a resource's owner (matched case-insensitively).
    pub owner_key: String,
    /// Keep each node's `props` in the graph. Only `props.KEY` tests read them (the
    /// sensitivity is read at build either way), so a build for rules without such tests
    /// can leave them out: at a million resources they are some 30 MB.
    pub keep_props: bool,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            owner_key: "owner".into(),
            keep_props: true,
        }
    }
}

/// The built graph and the warnings found while building it (the snapshot's own warnings
/// come first).
pub struct Built {
    pub graph: Graph,
    pub warnings: Vec<Diagnostic>,
}

/// Where a reference stands decides what an undefined id becomes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Hint {
    /// A scope or resource position (exposure, reach, scope, parent, attached_to, finding).
    Container,
    /// A principal position (role assignment principal, membership).
    Principal,
}

/// A definition as the builder keeps it: its id is on the node, its kind and tags are
/// interned, its texts boxed to their length.
struct Def {
    def_type: DefType,
    kind: Option<Sym>,
    name: Option<Box<str>>,
    parent: Option<Box<str>>,
    tags: Option<Box<[(Sym, Sym)]>>,
    props: Option<Props>,
    attached_to: Option<Box<[String]>>,
}

/// What a definition keeps of its props.
enum Props {
    /// The text: a rule of the pack reads props, or the text may hold a sensitivity.
    Text(Box<RawValue>),
    /// Only a hash of the text ([`PropsKey`]), to tell a later definition's props apart:
    /// the text itself would be kept for nothing (a million copies at a million
    /// resources). Two texts alike are kept alike, so the two kinds never compare equal.
    Hash(u64),
}

impl PartialEq for Props {
    fn eq(&self, o: &Self) -> bool {
        match (self, o) {
            (Props::Text(a), Props::Text(b)) => a.get() == b.get(),
            (Props::Hash(a), Props::Hash(b)) => a == b,
            _ => false,
        }
    }
}

impl Props {
    fn text(&self) -> Option<&RawValue> {
        match self {
            Props::Text(t) => Some(t),
            Props::Hash(_) => None,
        }
    }
}

/// What the builder needs of a definition's props when it does not keep them, worked out
/// on the parsing threads with the record's other [`Keys`].
#[derive(Debug, Clone, Copy)]
struct PropsKey {
    hash: u64,
    /// The text may hold a sensitivity ([`may_hold_sensitivity`]), so it is kept.
    read: bool,
}

impl PropsKey {
    fn of(props: &str) -> PropsKey {
        PropsKey {
            hash: std::hash::BuildHasher::hash_one(&foldhash::fast::FixedState::default(), props),
            read: may_hold_sensitivity(props),
        }
    }
}

impl Def {
    /// Moves out of `d` what is kept: its props whole only where `keep_props` or `key`
    /// (what the parsing thread found of them) says the text is needed.
    fn new(
        d: &mut Definition<'_>,
        strings: &mut Interner,
        keep_props: bool,
        key: Option<PropsKey>,
    ) -> Def {
        Def {
            def_type: d.def_type,
            kind: d.kind.as_deref().map(|k| strings.intern(k)),
            name: d.name.take().map(Box::from),
            parent: d.parent.take().map(Box::from),
            tags: d.tags.as_ref().map(|t| {
                t.iter()
                    .map(|(k, v)| (strings.intern(k), strings.intern(v)))
                    .collect()
            }),
            props: d.props.take().map(|p| match key {
                Some(k) if !keep_props && !k.read => Props::Hash(k.hash),
                _ => Props::Text(p.into_owned()),
            }),
            attached_to: d.attached_to.take().map(Vec::into_boxed_slice),
        }
    }
}

impl PartialEq for Def {
    fn eq(&self, o: &Self) -> bool {
        self.def_type == o.def_type
            && self.kind == o.kind
            && self.name == o.name
            && self.parent == o.parent
            && self.tags == o.tags
            && self.props == o.props
            && self.attached_to == o.attached_to
    }
}

/// What the builder knows of a node besides its id, which the index holds (as first
/// spelled). Small, since there is one per node: what few nodes need is boxed apart.
#[derive(Default)]
struct Proto {
    /// The winning definition.
    def: Option<Def>,
    /// Where the node was last defined; `Some` once anything defines it.
    def_line: Option<Origin>,
    rare: Option<Box<Rare>>,
    container_ref: bool,
    principal_ref: bool,
}

/// Spellings other than the index's, and the child implying an undefined parent: most
/// nodes are spelled one way and need none of this.
#[derive(Default)]
struct Rare {
    /// Smallest defining spelling, where it is not the index's.
    def_spelling: Option<Box<str>>,
    /// The latest definition's spelling as written, where it is not the smallest.
    last_def: Option<Box<str>>,
    /// The spellings references used while nothing defined the node, each once, in the
    /// order met, besides the index's (which an undefined node's first reference always
    /// used): the smallest is shown if nothing ever defines the node, and a deferred check
    /// names its reference's spelling by its place here, or [`FIRST`].
    refs: Vec<Box<str>>,
    /// For a node only implied as a derived parent: the smallest child id implying it.
    implied_by: Option<Box<str>>,
}

/// A reference spelled as the index holds the id.
const FIRST: u32 = u32::MAX;

impl Proto {
    fn rare(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Default::default)
    }
}

/// What a record leaves to be decided once every record has been seen: whether a node it
/// names is ever defined, and which role an assignment grants (role records may come later).
enum Deferred {
    Undefined {
        node: u32,
        origin: Origin,
        what: &'static str,
        /// Index into the node's [`Rare::refs`], or [`FIRST`].
        spelling: u32,
    },
    Assignment {
        principal: u32,
        scope: u32,
        /// Index into [`Builder::role_refs`].
        role: u32,
        origin: Origin,
    },
}

/// A derived parent's id, `dp`, as the parents' pass keeps it: its length (a prefix of
/// its child's spelling) and its [`hash_id`].
fn derived_key(dp: &str) -> (u32, u64) {
    (dp.len() as u32, hash_id(dp))
}

/// A defined node's parent as the parallel pass in [`Builder::finish`] found it.
#[derive(Clone, Copy)]
enum Up {
    /// Not worked out there: taken in turn.
    Unknown,
    /// A defined node.
    Found(u32),
    /// Derived from the node's id and not (yet) a defined node: the parent id's length as
    /// a prefix of the node's spelling, and its hash.
    Derived(u32, u64),
}

struct PendingEdge {
    from: u32,
    to: u32,
    kind: EdgeKind,
    extra: u32,
    origin: Option<Origin>,
}

/// Takes records one at a time, in file order, and makes the graph from them at
/// [`finish`](Builder::finish). Nothing of a record is kept but what the graph needs, so a
/// reader can hand records over as it parses them instead of holding them all.
pub struct Builder {
    owner_key: String,
    keep_props: bool,
    files: Vec<String>,
    index: IdIndex,
    protos: Vec<Proto>,
    /// Warnings about single records, in record order.
    warnings: Vec<Diagnostic>,
    deferred: Vec<Deferred>,
    roles: RoleTable,
    /// Role names and ids as assignments spell them, each kept once.
    role_refs: IndexSet<Box<str>, foldhash::fast::FixedState>,
    /// A 128-bit hash of every relation record and finding, with where it was first seen.
    seen: Seen,
    /// The latest finding of each folded id, with its resource's node.
    findings: Vec<(u32, FindingData, Origin)>,
    /// Kinds, tags and findings' texts, each once; the graph's [`Graph::strings`].
    strings: Interner,
    /// Places in `findings` by the hash of each one's folded id.
    finding_ix: FindingIx,
    edges: Vec<PendingEdge>,
    nets: Vec<NetInfo>,
    counts: TypeCounts,
}

/// Is the id in `parts` (joined) `id`, ASCII case aside?
fn eq_folded_parts([head, rest]: [&str; 2], id: &str) -> bool {
    let id = id.as_bytes();
    id.len() == head.len() + rest.len()
        && id[..head.len()].eq_ignore_ascii_case(head.as_bytes())
        && id[head.len()..].eq_ignore_ascii_case(rest.as_bytes())
}

fn min_spelling(slot: &mut Option<Box<str>>, s: &str) {
    match slot {
        Some(cur) if **cur <= *s => {}
        _ => *slot = Some(s.into()),
    }
}

/// Findings by the hash of their folded id, as places in [`Builder::findings`]: a later
/// finding of the same id replaces the earlier. Nearly every finding is new, so a probe
/// reads one slot, which is asked for ahead of the record's turn ([`Sink::ahead`]), and
/// then only where the slot's half of the hash matches a finding's id.
///
/// [`Sink::ahead`]: crate::ingest::native::Sink::ahead
#[derive(Debug, Default)]
struct FindingIx {
    /// At most half full.
    slots: Slots,
    /// Each finding's hash, by place: what the slots are filed again from as they grow.
    hashes: Vec<u64>,
}

impl FindingIx {
    fn with_capacity(n: usize) -> FindingIx {
        FindingIx {
            slots: Slots::new(n * 2),
            hashes: Vec::new(),
        }
    }

    /// Files the next finding, of hash `h`, in slot `at`, the empty one a probe for `h`
    /// ended on.
    fn file(&mut self, at: usize, h: u64) {
        self.slots.fill(at, h, self.hashes.len() as u32);
        self.hashes.push(h);
        if self.hashes.len() * 2 > self.slots.len() {
            self.slots = Slots::new(self.hashes.len() * 4).refiled(self.hashes.iter().copied());
        }
    }
}

/// What [`Builder::add_keyed`] looks up for a record, worked out from the record alone, so
/// that the threads that parse can do it and the one thread that takes records in line
/// order only probes with it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Keys {
    /// Exact duplicates are found by this (see [`Record::relation_hash128`]).
    relation: Option<[u64; 2]>,
    /// [`hash_id`] of the ids the record names, in the order the builder takes them.
    ids: [u64; 2],
    /// [`hash_id`] of a finding's own id.
    finding: u64,
    /// A definition's props.
    props: Option<PropsKey>,
}

impl Keys {
    pub fn of(rec: &Record<'_>) -> Keys {
        let h = hash_id;
        let props = match rec {
            Record::Define(d) => d.props.as_ref().map(|p| PropsKey::of(p.get())),
            _ => None,
        };
        let (ids, finding) = match rec {
            Record::Define(d) => ([h(&d.id), 0], 0),
            Record::Membership { group, member } => ([h(member), h(group)], 0),
            Record::RoleAssignment {
                principal, scope, ..
            } => ([h(principal), h(scope)], 0),
            Record::Exposure { resource, .. } => ([h(resource), 0], 0),
            Record::Reach { from, to, .. } => ([h(from), h(to)], 0),
            Record::Finding(f) => ([h(&f.resource), 0], h(&f.id)),
            Record::Role { .. } => ([0; 2], 0),
        };
        Keys {
            relation: rec.relation_hash128(),
            ids,
            finding,
            props,
        }
    }
}

/// The builder as the native reader's taker: told of each record a few records ahead, it
/// starts loading the id table's and the duplicate table's slots for it, which are read at
/// random and are most of what taking a record waits for at a million resources.
impl crate::ingest::native::Sink<Keys> for &mut Builder {
    fn take(&mut self, rec: &mut Record<'_>, keys: Keys, o: Origin) {
        self.add_keyed(rec, keys, o);
    }

    fn ahead(&self, keys: &Keys) {
        for &h in keys.ids.iter().filter(|&&h| h != 0) {
            self.index.prefetch(h);
        }
        if let Some(h) = keys.relation {
            self.seen.prefetch(h);
        }
        if keys.finding != 0 {
            self.finding_ix.slots.prefetch(keys.finding);
        }
    }

    fn near(&self, keys: &Keys) {
        for &h in keys.ids.iter().filter(|&&h| h != 0) {
            self.prefetch_node(h);
        }
    }
}

impl Builder {
    /// The second step of looking an id up ahead (the first is [`IdIndex::prefetch`]): with
    /// its slot loaded, starts loading the likely node's span and entry.
    fn prefetch_node(&self, hash: u64) {
        if let Some(v) = self.index.likely(hash) {
            self.index.prefetch_span(v);
            if let Some(p) = self.protos.get(v as usize) {
                crate::prefetch::prefetch(p);
            }
        }
    }

    /// `files` names the sources that records' [`Origin`]s point into. Sized for about
    /// `records` records: the id index is then made once instead of grown by copying.
    pub fn with_capacity(opts: &BuildOptions, files: Vec<String>, records: usize) -> Builder {
        let mut b = Builder {
            owner_key: opts.owner_key.clone(),
            keep_props: opts.keep_props,
            files,
            // Ids are fewer than records: about half of them in a typical snapshot. The
            // table is the one part sized here that is touched whole, so it is not
            // oversized; it grows (each id hashed again from its text) if there are more.
            index: IdIndex::with_capacity(records / 2 + 1),
            protos: Vec::with_capacity(records + 1),
            warnings: Vec::new(),
            // The lists that grow with the records are sized for a typical snapshot's
            // share of them, with room: a list grown by doubling has what it held faulted
            // in twice. Capped at a power of two, so that a list past the cap grows as
            // one started empty would, to the same sizes.
            deferred: Vec::with_capacity((records / 4).min(1 << 20)),
            roles: RoleTable::default(),
            role_refs: IndexSet::default(),
            // About half the records of a typical snapshot are relations and findings.
            seen: Seen::with_capacity(records / 2),
            findings: Vec::with_capacity((records / 4).min(1 << 20)),
            strings: Interner::default(),
            // Findings are fewer than records: about a fifth in a typical snapshot. Sized
            // for a million at most up front (16 MB), so that a snapshot of relations alone
            // (25 million `reaches` on a clique) does not hold a table for millions.
            finding_ix: FindingIx::with_capacity((records / 8).min(1 << 20)),
            edges: Vec::with_capacity((records / 2).min(1 << 21)),
            nets: Vec::with_capacity((records / 4).min(1 << 20)),
            counts: TypeCounts::default(),
        };
        let internet = b.node(ids::INTERNET);
        debug_assert_eq!(internet, 0);
        b
    }

    fn locate(&self, o: Origin) -> (String, usize) {
        let file = self.files.get(o.file as usize).cloned().unwrap_or_default();
        (file, o.line as usize)
    }

    fn warn(&mut self, o: Option<Origin>, msg: String) {
        let (file, line) = o.map_or((String::new(), 0), |o| self.locate(o));
        let mut d = Diagnostic::error(file, msg).warning();
        d.line = line;
        self.warnings.push(d);
    }

    /// The node of an id whose [`hash_id`] is `hash`, made if new.
    fn node_hashed(&mut self, hash: u64, id: &str) -> u32 {
        let (v, new) = self.index.insert_hashed(hash, id);
        if new {
            self.protos.push(Proto::default());
        }
        v
    }

    fn node(&mut self, id: &str) -> u32 {
        self.node_hashed(hash_id(id), id)
    }

    /// The node of an id (whose [`hash_id`] is `hash`) where a record defines it: looked
    /// up without taking a reference, which changes nothing about a defined node, so it
    /// can be done in parallel.
    fn defined(&self, hash: u64, id: &str) -> Option<u32> {
        self.index
            .get_hashed(hash, id)
            .filter(|&v| self.protos[v as usize].def.is_some())
    }

    /// A reference from a record to an id (whose [`hash_id`] is `hash`); whether anything
    /// defines it is known only at the end, so the check waits until then.
    fn reference(&mut self, id: &str, hash: u64, hint: Hint, o: Origin, what: &'static str) -> u32 {
        let v = self.node_hashed(hash, id);
        let p = &mut self.protos[v as usize];
        match hint {
            Hint::Container => p.container_ref = true,
            Hint::Principal => p.principal_ref = true,
        }
        // A defined node is shown with its defining spelling: references need not be kept.
        if p.def.is_none() {
            let spelling = add_ref(p, self.index.text(v), crate::text::trim(id));
            if v != 0 {
                self.deferred.push(Deferred::Undefined {
                    node: v,
                    origin: o,
                    what,
                    spelling,
                });
            }
        }
        v
    }

    /// Takes one record. Records must come in file order: where two definitions of an id
    /// differ, the later line wins.
    pub fn add(&mut self, mut rec: Record<'_>, o: Origin) {
        let keys = Keys::of(&rec);
        self.add_keyed(&mut rec, keys, o);
    }

    /// [`add`](Self::add), with the record's [`Keys`] already worked out. The record is
    /// lent: what the graph keeps of it is moved out, the rest left to its owner to free.
    pub fn add_keyed(&mut self, rec: &mut Record, keys: Keys, o: Origin) {
        self.counts.add(rec);
        let [h0, h1] = keys.ids;
        if let Record::Define(d) = rec {
            define(self, d, h0, keys.props, o);
            return;
        }
        if let Some(h) = keys.relation {
            if let Some(first) = self.seen.first_or_insert(h, o) {
                let (_, line) = self.locate(first);
                self.warn(Some(o), format!("exact duplicate of line {line}; ignored"));
                return;
            }
        }
        match rec {
            Record::Define(_) => {}
            Record::Role {
                name,
                id,
                privileged,
                ..
            } => {
                if self.roles.add(name, id.as_deref(), *privileged) {
                    self.warn(
                        Some(o),
                        format!("role `{}` is marked privileged differently by an earlier record; this later line wins", name.trim()),
                    );
                }
            }
            Record::Finding(f) => self.finding(f, h0, keys.finding, o),
            Record::Membership { group, member } => {
                let m = self.reference(member, h0, Hint::Principal, o, "membership member");
                let g = self.reference(group, h1, Hint::Principal, o, "membership group");
                self.edges.push(PendingEdge {
                    from: m,
                    to: g,
                    kind: EdgeKind::MemberOf,
                    extra: NONE,
                    origin: Some(o),
                });
            }
            Record::RoleAssignment {
                principal,
                role,
                scope,
                ..
            } => {
                let p = self.reference(
                    principal,
                    h0,
                    Hint::Principal,
                    o,
                    "role assignment principal",
                );
                let s = self.reference(scope, h1, Hint::Container, o, "role assignment scope");
                // Most assignments name a role met before: looked up first, and only a new
                // one is kept.
                let r = match self.role_refs.get_index_of(&**role) {
                    Some(r) => r,
                    None => self.role_refs.insert_full(std::mem::take(role).into()).0,
                };
                self.deferred.push(Deferred::Assignment {
                    principal: p,
                    scope: s,
                    role: r as u32,
                    origin: o,
                });
            }
            Record::Exposure {
                resource,
                from,
                ports,
                protocol,
                ..
            } => {
                let r = self.reference(resource, h0, Hint::Container, o, "exposure resource");
                if is_internet_source(from) {
                    self.nets.push(NetInfo {
                        ports: ports.take(),
                        protocol: protocol.as_deref().map(|p| self.strings.intern(p)),
                    });
                    self.edges.push(PendingEdge {
                        from: 0,
                        to: r,
                        kind: EdgeKind::Exposes,
                        extra: self.nets.len() as u32 - 1,
                        origin: Some(o),
                    });
                }
            }
            Record::Reach {
                from,
                to,
                ports,
                protocol,
                ..
            } => {
                let f = self.reference(from, h0, Hint::Container, o, "reach source");
                let t = self.reference(to, h1, Hint::Container, o, "reach destination");
                self.nets.push(NetInfo {
                    ports: ports.take(),
                    protocol: protocol.as_deref().map(|p| self.strings.intern(p)),
                });
                self.edges.push(PendingEdge {
                    from: f,
                    to: t,
                    kind: EdgeKind::Reaches,
                    extra: self.nets.len() as u32 - 1,
                    origin: Some(o),
                });
            }
        }
    }

    /// A finding replaces an earlier one of the same folded id, with a warning. `resource`
    /// and `h` are the [`hash_id`] of its resource and of its own id.
    fn finding(&mut self, f: &Finding<'_>, resource: u64, h: u64, o: Origin) {
        let v = self.reference(
            &f.resource,
            resource,
            Hint::Container,
            o,
            "finding resource",
        );
        let found = {
            let (all, index) = (&self.findings, &self.index);
            self.finding_ix.slots.find(h, |slot| {
                let (w, held, _) = &all[slot as usize];
                eq_folded_parts(held.id_parts(index.text(*w)), &f.id)
            })
        };
        // Kept as what follows the node's id, where it begins with it.
        let node = self.index.text(v);
        let after_node = f.id.len() > node.len() && f.id.starts_with(node);
        let id_rest = if after_node {
            f.id[node.len()..].into()
        } else {
            f.id[..].into()
        };
        let mut intern = |s: &str| self.strings.intern(s);
        let data = FindingData {
            class: f.class,
            severity: f.severity,
            state: intern(&f.state),
            category: f.category.as_deref().map(&mut intern),
            title: intern(&f.title),
            techniques: f.techniques.iter().map(|t| intern(t)).collect(),
            id_rest,
            after_node,
        };
        match found {
            Ok(slot) => {
                let prev = std::mem::replace(&mut self.findings[slot as usize], (v, data, o));
                let (_, line) = self.locate(prev.2);
                let msg = format!(
                    "finding `{}` is also defined at line {line} with other values; this later line wins",
                    f.id
                );
                self.warn(Some(o), msg);
            }
            Err(at) => {
                self.findings.push((v, data, o));
                self.finding_ix.file(at, h);
            }
        }
    }

    /// Records taken so far, by type, for lineage.
    pub fn record_counts(&self) -> std::collections::BTreeMap<String, usize> {
        self.counts.named()
    }

    /// Decides what records left open: warns about references nothing defined, and turns
    /// role assignments into `has_role` edges now that every role record is known.
    fn settle(&mut self, role_ix: &mut IndexMap<(String, bool), ()>, edges: &mut Vec<PendingEdge>) {
        let mut resolved: Vec<Option<std::result::Result<usize, String>>> =
            vec![None; self.role_refs.len()];
        for d in std::mem::take(&mut self.deferred) {
            match d {
                Deferred::Undefined {
                    node,
                    origin,
                    what,
                    spelling,
                } => {
                    let p = &self.protos[node as usize];
                    if p.def.is_none() {
                        let spelled = match (spelling, &p.rare) {
                            (FIRST, _) | (_, None) => self.index.text(node),
                            (i, Some(r)) => &r.refs[i as usize],
                        };
                        let msg = format!(
                            "{what} `{spelled}` is not defined by any record; kept as a node"
                        );
                        self.warn(Some(origin), msg);
                    }
                }
                Deferred::Assignment {
                    principal,
                    scope,
                    role,
                    origin,
                } => {
                    let r = resolved[role as usize].get_or_insert_with(|| {
                        match self.roles.resolve(&self.role_refs[role as usize]) {
                            Ok(info) => Ok(role_ix.insert_full((info.name, info.privileged), ()).0),
                            Err(roles::UnknownGuid(g)) => Err(g),
                        }
                    });
                    match r.clone() {
                        Ok(ix) => edges.push(PendingEdge {
                            from: principal,
                            to: scope,
                            kind: EdgeKind::HasRole,
                            extra: ix as u32,
                            origin: Some(origin),
                        }),
                        Err(g) => self.warn(
                            Some(origin),
                            format!("role definition `{g}` matches no role record and no built-in role; the assignment grants nothing"),
                        ),
                    }
                }
            }
        }
    }
}

/// Builds the graph from a whole snapshot. Never fails: every oddity in the data is a
/// warning.
pub fn build(mut snap: Snapshot, opts: &BuildOptions) -> Built {
    let records = std::mem::take(&mut snap.records);
    let mut b = Builder::with_capacity(opts, std::mem::take(&mut snap.files), records.len());
    for (rec, o) in records.into_iter().zip(std::mem::take(&mut snap.origins)) {
        b.add(rec, o);
    }
    b.finish(snap.meta, snap.warnings)
}

impl Builder {
    /// The graph, once every record has been added. `meta` is the snapshot's header and
    /// `read_warnings` what the reader met; they come first among the warnings.
    pub fn finish(self, meta: Meta, read_warnings: Vec<Diagnostic>) -> Built {
        let mut b = self;
        let mut edges = std::mem::take(&mut b.edges);
        let nets = std::mem::take(&mut b.nets);
        let mut role_ix: IndexMap<(String, bool), ()> = IndexMap::new();
        // Identities' attached resources: every definition is known now. Taken, not
        // cloned (nothing reads a definition's list after this), hashed in parallel, and
        // each looked up ahead of its turn, as records are while they are taken.
        let mut attached: Vec<(u32, Option<Origin>, String)> = b
            .protos
            .par_iter_mut()
            .enumerate()
            .flat_map_iter(|(v, p)| {
                let o = p.def_line;
                let list = p
                    .def
                    .as_mut()
                    .filter(|d| d.def_type == DefType::Identity)
                    .and_then(|d| d.attached_to.take())
                    .unwrap_or_default();
                list.into_vec().into_iter().map(move |r| (v as u32, o, r))
            })
            .collect();
        // Most name a defined resource, found in parallel: nothing about a defined node
        // changes for being referenced (the container hint is read of undefined nodes
        // only), and the id, no longer needed, is freed there too. The rest are taken in
        // turn as any reference is, since taking one can add a node.
        let hashes: Vec<u64> = attached.par_iter().map(|(_, _, r)| hash_id(r)).collect();
        let defined: Vec<Option<u32>> = {
            let b = &b;
            attached
                .par_chunks_mut(1 << 12)
                .zip(hashes.par_chunks(1 << 12))
                .flat_map_iter(|(these, hashes)| {
                    these
                        .iter_mut()
                        .zip(hashes)
                        .enumerate()
                        .map(|(i, ((_, _, r), &h))| {
                            if let Some(&h) = hashes.get(i + AHEAD) {
                                b.index.prefetch(h);
                            }
                            if let Some(&h) = hashes.get(i + AHEAD / 2) {
                                b.prefetch_node(h);
                            }
                            let found = b.defined(h, r);
                            if found.is_some() {
                                drop(std::mem::take(r));
                            }
                            found
                        })
                })
                .collect()
        };
        for (i, (v, o, r)) in attached.into_iter().enumerate() {
            let rv = match defined[i] {
                Some(rv) => rv,
                None => b.reference(
                    &r,
                    hashes[i],
                    Hint::Container,
                    o.unwrap_or_default(),
                    "attached_to resource",
                ),
            };
            edges.push(PendingEdge {
                from: rv,
                to: v,
                kind: EdgeKind::UsesIdentity,
                extra: NONE,
                origin: o,
            });
        }
        b.seen = Seen::with_capacity(0);
        b.finding_ix = FindingIx::default();

        // Findings grouped by node, then by folded id (no two alike: a later finding of
        // the same folded id replaced the earlier, so the order is total).
        let mut taken = std::mem::take(&mut b.findings);
        let index = &b.index;
        taken.par_sort_unstable_by(|(v, f, _), (w, g, _)| {
            v.cmp(w).then_with(|| {
                let node = index.text(*v);
                match (f.id_parts(node), g.id_parts(node)) {
                    // Most often both follow the node's id: only the rest differs.
                    ([a, x], [b, y]) if a.len() == b.len() => {
                        cmp_folded(x.as_bytes(), y.as_bytes())
                    }
                    (x, y) => cmp_folded(joined(x).as_bytes(), joined(y).as_bytes()),
                }
            })
        });

        // Parents: explicit or derived, transitively for referenced-only containers.
        // Taking a parent can add a node (a container only referenced), which is then
        // reached in turn: the node count is read again on every round.
        let mut parent: Vec<Option<u32>> = Vec::new();
        let mut parent_buf = String::new();
        // Each defined node's parent, worked out in parallel: its node where the parent is
        // a defined node (nearly always, and found without changing anything: a defined
        // node's spelling cannot change below, nor does being referenced change it), else
        // the derived parent's length as a prefix of the node's spelling, and its hash. An
        // undefined parent, and an undefined node's own (its spelling can still change: a
        // later child may spell it smaller), are taken in turn.
        let known: Vec<Up> = {
            let b = &b;
            let mut known = vec![Up::Unknown; b.protos.len()];
            const CHUNK: usize = 1 << 12;
            known
                .par_chunks_mut(CHUNK)
                .enumerate()
                .for_each(|(c, out)| b.parents_of(c * CHUNK, out));
            known
        };
        let mut v = 1;
        while v < b.protos.len() {
            parent.resize(b.protos.len(), None);
            let p = &b.protos[v];
            let is_identity = match &p.def {
                Some(d) => d.def_type == DefType::Identity,
                None => !p.container_ref,
            };
            let known = known.get(v).copied().filter(|_| p.def.is_some());
            if is_identity {
                // No parent.
            } else if let Some(Up::Found(pv)) = known {
                b.protos[pv as usize].container_ref = true;
                parent[v] = Some(pv);
            } else if let Some(ep) = p.def.as_ref().and_then(|d| d.parent.clone()) {
                let o = p.def_line;
                let pv = b.reference(
                    &ep,
                    hash_id(&ep),
                    Hint::Container,
                    o.unwrap_or_default(),
                    "parent",
                );
                parent[v] = Some(pv);
            } else if let Some((len, hash)) = match known {
                Some(Up::Derived(len, hash)) => Some((len, hash)),
                Some(_) => None,
                None => ids::derived_parent(b.spelling(v as u32)).map(derived_key),
            } {
                // Copied into a reused buffer: the node's own spelling is borrowed from
                // `b` while `b` takes the parent.
                parent_buf.clear();
                parent_buf.push_str(&b.spelling(v as u32)[..len as usize]);
                let pv = b.node_hashed(hash, &parent_buf);
                if b.protos[pv as usize].def.is_none() {
                    let child = b.spelling(v as u32).to_string();
                    let first = b.index.text(pv);
                    let pp = &mut b.protos[pv as usize];
                    add_ref(pp, first, &parent_buf);
                    min_spelling(&mut pp.rare().implied_by, &child);
                }
                b.protos[pv as usize].container_ref = true;
                parent[v] = Some(pv);
            }
            v += 1;
        }
        parent.resize(b.protos.len(), None);
        // Every reference is in, parents' included.
        b.settle(&mut role_ix, &mut edges);
        b.role_refs = IndexSet::default();
        // One warning per implied node, naming the smallest id implying it, so the message
        // does not depend on the order of lines.
        let implied: Vec<String> = (1..b.protos.len() as u32)
            .into_par_iter()
            .filter_map(|v| {
                let p = &b.protos[v as usize];
                let child = p
                    .rare
                    .as_ref()?
                    .implied_by
                    .as_ref()
                    .filter(|_| p.def.is_none())?;
                Some(format!(
                    "`{}` is implied by the id `{child}` but not defined; kept as a node",
                    b.spelling(v)
                ))
            })
            .collect();
        for m in implied {
            b.warn(None, m);
        }
        warn_parent_cycles(&mut b, &mut parent);

        // The node order needs only the ids, all known now: it is sorted while the nodes,
        // findings, edges and adjacency are made, which is mostly one thread's work.
        let index = std::mem::take(&mut b.index);
        let (order, made) = rayon::join(
            || index.folded_order(),
            || make(&mut b, &index, &parent, taken, edges),
        );
        b.index = index;
        let Made {
            strings,
            nodes,
            findings,
            g,
            fwd,
            bwd,
        } = made;
        let n = nodes.len();
        let mut rank = vec![0u32; n];
        for (r, &v) in order.iter().enumerate() {
            rank[v as usize] = r as u32;
        }

        let edge_rank = edge_ranks(&g, &fwd, &order, &rank, &role_ix, &nets);
        drop(order);

        let mut warnings = read_warnings;
        warnings.append(&mut b.warnings);
        let graph = Graph {
            meta,
            g,
            index: b.index,
            nodes,
            findings,
            roles: role_ix
                .into_keys()
                .map(|(name, privileged)| roles::RoleInfo { name, privileged })
                .collect(),
            nets,
            fwd,
            bwd,
            rank,
            edge_rank,
            owner_key: b.owner_key,
            strings,
            files: b.files,
        };
        Built { graph, warnings }
    }
}

/// What [`Builder::finish`] makes of the protos, findings and edges while the node order
/// is sorted.
struct Made {
    strings: Interner,
    nodes: Vec<NodeData>,
    findings: Vec<FindingData>,
    g: DiGraph<NodeWeight, EdgeWeight, u32>,
    fwd: Vec<Csr>,
    bwd: Vec<Csr>,
}

/// The nodes (from the protos, which it takes), the findings grouped by node (from
/// `taken`, sorted), the edges checked and put into the petgraph graph, and adjacency.
fn make(
    b: &mut Builder,
    index: &IdIndex,
    parent: &[Option<u32>],
    taken: Vec<(u32, FindingData, Origin)>,
    edges: Vec<PendingEdge>,
) -> Made {
    // Nodes.
    let n = b.protos.len();
    let mut strings = std::mem::take(&mut b.strings);
    let keep_props = b.keep_props;
    // Read from each node's props JSON: in parallel, the one part of a node that parses.
    // Few nodes have one: only those are listed, by node, so the list stays small.
    let listed: Vec<(u32, String)> = b
        .protos
        .par_iter()
        .enumerate()
        .filter_map(|(v, p)| {
            let props = p.def.as_ref()?.props.as_ref()?.text()?;
            Some((v as u32, sensitivity_of(props.get())?))
        })
        .collect();
    let mut sensitive = listed.iter().peekable();
    // Each node is made from its proto in the protos' own memory (a `NodeData` is no
    // bigger than a `Proto`, and collecting a mapped `vec::IntoIter` reuses its
    // allocation): the two arrays are never both held.
    let mut nodes: Vec<NodeData> = std::mem::take(&mut b.protos)
        .into_iter()
        .enumerate()
        .map(|(v, p)| {
            let first = index.text(v as u32);
            let id = shown(&p, first, v as u32);
            // Kept on the node only where it is not the index's text: most often it is
            // that very text, which is then not compared byte by byte.
            let spelled = (!std::ptr::eq(id, first) && id != first).then(|| id.into());
            let (category, kind) = if v == 0 {
                (Category::Internet, strings.intern("internet"))
            } else {
                categorize(&p, id, &mut strings)
            };
            let name_is_tail =
                p.def.as_ref().and_then(|d| d.name.as_deref()) == Some(ids::last_segment(id));
            let (name, tags, props) = match p.def {
                Some(d) => (
                    d.name.filter(|_| !name_is_tail),
                    d.tags.unwrap_or_default(),
                    d.props.and_then(|p| match p {
                        Props::Text(t) if keep_props => Some(t),
                        _ => None,
                    }),
                ),
                None => (None, Box::default(), None),
            };
            let sensitivity = sensitive
                .next_if(|(w, _)| *w as usize == v)
                .map(|(_, s)| strings.intern(s));
            NodeData {
                category,
                spelled,
                kind,
                name,
                name_is_tail,
                defined: p.def_line.is_some() && v != 0,
                parent: parent[v],
                tags,
                props,
                sensitivity,
                findings: (0, 0),
                origin: p.def_line,
            }
        })
        .collect();
    drop(listed);

    // Findings, grouped by node, later definitions winning.
    // Made in the sorted list's own memory, as the nodes are.
    let findings: Vec<FindingData> = taken
        .into_iter()
        .enumerate()
        .map(|(i, (v, f, _))| {
            let node = &mut nodes[v as usize];
            if node.findings == (0, 0) {
                node.findings = (i as u32, i as u32);
            }
            node.findings.1 = i as u32 + 1;
            f
        })
        .collect();

    // Edges whose ends are not of the kinds the format expects are kept, with a warning.
    for e in &edges {
        let (fc, tc) = (
            nodes[e.from as usize].category,
            nodes[e.to as usize].category,
        );
        let ok = match e.kind {
            EdgeKind::Exposes => tc == Category::Resource,
            EdgeKind::Reaches => fc == Category::Resource && tc == Category::Resource,
            EdgeKind::Contains => true,
            EdgeKind::UsesIdentity => fc == Category::Resource && tc == Category::Identity,
            EdgeKind::MemberOf => {
                fc == Category::Identity
                    && tc == Category::Identity
                    && matches!(strings.get(nodes[e.to as usize].kind), "group" | "unknown")
            }
            EdgeKind::HasRole => {
                fc == Category::Identity && matches!(tc, Category::Scope | Category::Resource)
            }
        };
        if !ok {
            let msg = format!(
                "`{}` edge from {} `{}` to {} `{}` joins unexpected kinds; followed anyway",
                e.kind.as_str(),
                strings.get(nodes[e.from as usize].kind),
                id_of(&nodes, index, e.from),
                strings.get(nodes[e.to as usize].kind),
                id_of(&nodes, index, e.to),
            );
            b.warn(e.origin, msg);
        }
    }

    // `contains` edges, from each node's parent to it, come after the others, in node
    // order; made here from the parents (a million of them, never out of place, so never
    // warned about) rather than listed with the others.
    let contained = parent
        .iter()
        .enumerate()
        .filter_map(|(v, p)| p.filter(|&p| p as usize != v).map(|p| (p, v as u32)));
    let mut g: DiGraph<NodeWeight, EdgeWeight, u32> =
        DiGraph::with_capacity(n, edges.len() + contained.clone().count());
    for node in &nodes {
        g.add_node(NodeWeight {
            category: node.category,
        });
    }
    for e in &edges {
        g.add_edge(
            petgraph::graph::NodeIndex::new(e.from as usize),
            petgraph::graph::NodeIndex::new(e.to as usize),
            EdgeWeight {
                kind: e.kind,
                extra: e.extra,
            },
        );
    }
    for (p, v) in contained {
        g.add_edge(
            petgraph::graph::NodeIndex::new(p as usize),
            petgraph::graph::NodeIndex::new(v as usize),
            EdgeWeight {
                kind: EdgeKind::Contains,
                extra: NONE,
            },
        );
    }
    // The graph holds the edges now.
    drop(edges);
    let (fwd, bwd) = adjacency(&g, n);
    Made {
        strings,
        nodes,
        findings,
        g,
        fwd,
        bwd,
    }
}

/// `hash` is the [`hash_id`] of the definition's id, `props` what was worked out of its
/// props with it.
fn define(
    b: &mut Builder,
    rec: &mut Definition<'_>,
    hash: u64,
    props: Option<PropsKey>,
    o: Origin,
) {
    if crate::text::trim(&rec.id).eq_ignore_ascii_case(ids::INTERNET) {
        b.warn(
            Some(o),
            "the id `internet` is reserved for the public internet; this record is ignored".into(),
        );
        return;
    }
    // The spelling is kept on the node once, not in the definition as well.
    let written = std::mem::take(&mut rec.id);
    let id = crate::text::trim(&written);
    let v = b.node_hashed(hash, id);
    let d = Def::new(rec, &mut b.strings, b.keep_props, props);
    let first = b.index.text(v);
    let p = &mut b.protos[v as usize];
    let earlier = p.def_line;
    let rare = p.rare.as_deref();
    let def_spelling = earlier.map(|_| {
        rare.and_then(|r| r.def_spelling.as_deref())
            .unwrap_or(first)
    });
    let latest = rare.and_then(|r| r.last_def.as_deref()).or(def_spelling);
    let same_spelling = latest == Some(&*written);
    let smallest = def_spelling.is_none_or(|cur| id < cur);
    let msg = match &mut p.def {
        None => {
            p.def = Some(d);
            None
        }
        Some(cur) if *cur == d && same_spelling => {
            Some(format!("`{id}` is defined again with identical content"))
        }
        Some(cur) => {
            let mut changed = Vec::new();
            if cur.def_type != d.def_type {
                changed.push("type");
                cur.def_type = d.def_type;
            }
            macro_rules! take {
                ($f:ident) => {
                    if let Some(x) = d.$f {
                        if cur.$f.as_ref() != Some(&x) {
                            changed.push(stringify!($f));
                        }
                        cur.$f = Some(x);
                    }
                };
            }
            take!(kind);
            take!(name);
            take!(parent);
            take!(tags);
            take!(attached_to);
            if let Some(x) = d.props {
                if cur.props.as_ref() != Some(&x) {
                    changed.push("props");
                }
                cur.props = Some(x);
            }
            Some(if changed.is_empty() {
                format!("`{id}` is defined again (only the id's spelling differs)")
            } else {
                format!(
                    "`{id}` is defined again with different {}; this later line wins",
                    changed.join(", ")
                )
            })
        }
    };
    p.def_line = Some(o);
    if smallest {
        if id != first {
            p.rare().def_spelling = Some(id.into());
        } else if let Some(r) = &mut p.rare {
            r.def_spelling = None;
        }
    }
    // The smallest defining spelling, now.
    let shown = p
        .rare
        .as_ref()
        .and_then(|r| r.def_spelling.as_deref())
        .unwrap_or(first);
    if shown != written {
        p.rare().last_def = Some(Box::from(written));
    } else {
        if let Some(r) = &mut p.rare {
            r.last_def = None;
        }
        // Given back, so that the thread that parsed the record frees it.
        rec.id = written;
    }
    if let Some(m) = msg {
        let line = earlier.map(|e| b.locate(e).1).unwrap_or(0);
        b.warn(Some(o), format!("{m} (earlier definition at line {line})"));
    }
}

/// What the parallel pass over parents asks of the id index for one node.
#[derive(Clone, Copy)]
enum Ask {
    Answered(Up),
    /// The same derived parent as the last node that had one.
    Same,
    /// A derived parent: its length as a prefix of the node's spelling, and its hash.
    Derived(u32, u64),
}

impl Builder {
    /// Each of the nodes from `first`'s parent, as [`Up`], into `out` (one per node): in
    /// two passes, the parents' keys first, then the lookups, each asked for ahead of its
    /// turn, as records are while they are taken: consecutive nodes mostly have parents
    /// apart, and each lookup is a slot read at random.
    fn parents_of(&self, first: usize, out: &mut [Up]) {
        let mut last: Option<&str> = None;
        let asks: Vec<Ask> = (first..first + out.len())
            .map(|v| {
                let Some(d) = self.protos[v].def.as_ref() else {
                    return Ask::Answered(Up::Unknown);
                };
                if v == 0 || d.def_type == DefType::Identity {
                    return Ask::Answered(Up::Unknown);
                }
                if let Some(ep) = &d.parent {
                    let found = self.defined(hash_id(ep), ep);
                    return Ask::Answered(found.map_or(Up::Unknown, Up::Found));
                }
                let Some(dp) = ids::derived_parent(self.spelling(v as u32)) else {
                    return Ask::Answered(Up::Unknown);
                };
                // Compared with the last one before it is hashed.
                if last == Some(dp) {
                    return Ask::Same;
                }
                last = Some(dp);
                let (len, hash) = derived_key(dp);
                Ask::Derived(len, hash)
            })
            .collect();
        let hash_at = |i: usize| match asks.get(i) {
            Some(Ask::Derived(_, h)) => Some(*h),
            _ => None,
        };
        let mut last = Up::Unknown;
        for (i, (ask, up)) in asks.iter().zip(out.iter_mut()).enumerate() {
            if let Some(h) = hash_at(i + AHEAD) {
                self.index.prefetch(h);
            }
            if let Some(h) = hash_at(i + AHEAD / 2) {
                self.prefetch_node(h);
            }
            *up = match *ask {
                Ask::Answered(up) => up,
                Ask::Same => last,
                Ask::Derived(len, hash) => {
                    let dp = &self.spelling((first + i) as u32)[..len as usize];
                    last = self
                        .defined(hash, dp)
                        .map_or(Up::Derived(len, hash), Up::Found);
                    last
                }
            };
        }
    }

    /// The spelling shown for a node.
    fn spelling(&self, v: u32) -> &str {
        shown(&self.protos[v as usize], self.index.text(v), v)
    }
}

/// The spelling shown for node `v`, whose id the index holds as `first`: the smallest
/// defining one, else the smallest reference (`first` among them).
fn shown<'a>(p: &'a Proto, first: &'a str, v: u32) -> &'a str {
    let rare = p.rare.as_deref();
    if v == 0 {
        first
    } else if p.def_line.is_some() {
        rare.and_then(|r| r.def_spelling.as_deref())
            .unwrap_or(first)
    } else {
        let refs = rare.map_or(&[][..], |r| &r.refs[..]);
        refs.iter().map(|s| &**s).fold(first, std::cmp::min)
    }
}

/// Notes a reference's spelling on a node nothing defines yet, whose id the index holds as
/// `first`; gives its place in [`Rare::refs`], or [`FIRST`].
fn add_ref(p: &mut Proto, first: &str, spelling: &str) -> u32 {
    if spelling == first {
        return FIRST;
    }
    let refs = &mut p.rare().refs;
    match refs.iter().position(|s| **s == *spelling) {
        Some(i) => i as u32,
        None => {
            refs.push(spelling.into());
            refs.len() as u32 - 1
        }
    }
}

/// Category and kind of a node, from its definition or, failing that, its id's shape.
fn categorize(p: &Proto, id: &str, strings: &mut Interner) -> (Category, Sym) {
    let (category, kind) = match &p.def {
        Some(d) => match (d.def_type, d.kind) {
            (DefType::Resource, Some(k)) => return (Category::Resource, k),
            (DefType::Resource, None) => (Category::Resource, "unknown"),
            (DefType::Identity, Some(k)) => return (Category::Identity, k),
            (DefType::Identity, None) => (Category::Identity, "unknown"),
            (DefType::Scope, Some(k)) => return (Category::Scope, k),
            (DefType::Scope, None) => by_shape(id),
        },
        None if p.container_ref => by_shape(id),
        None => (Category::Identity, "unknown"),
    };
    (category, strings.intern(kind))
}

fn by_shape(id: &str) -> (Category, &'static str) {
    match ids::shape(id) {
        Shape::Other => (Category::Resource, "unknown"),
        s => (Category::Scope, s.scope_kind().unwrap_or("unknown")),
    }
}

/// `props.sensitivity`, where it is a string. Most props have no such key, and a key can
/// only be spelt `sensitivity` or with escapes: props with neither are not parsed.
fn sensitivity_of(props: &str) -> Option<String> {
    if !may_hold_sensitivity(props) {
        return None;
    }
    #[derive(serde::Deserialize)]
    struct Probe {
        sensitivity: Option<serde_json::Value>,
    }
    serde_json::from_str::<Probe>(props)
        .ok()
        .and_then(|p| p.sensitivity)
        .and_then(|v| v.as_str().map(str::to_string))
}

/// Whether props text may hold a `sensitivity` key: it spells it, or spells something
/// with an escape (which could). Most props do neither, and are never parsed.
fn may_hold_sensitivity(props: &str) -> bool {
    let bytes = props.as_bytes();
    memchr::memmem::find(bytes, b"sensitivity").is_some() || bytes.contains(&b'\\')
}

/// Warns once per cycle of explicit parents. Derived parents cannot form cycles (they are
/// strictly shorter ids), so only explicit ones are followed.
fn warn_parent_cycles(b: &mut Builder, parent: &mut [Option<u32>]) {
    let n = parent.len();
    // 0 new, 1 on the walk being made, 2 done.
    let mut state = vec![0u8; n];
    // One walk's nodes; kept between walks, as nearly every node starts one.
    let mut path = Vec::new();
    for start in 0..n {
        if state[start] != 0 {
            continue;
        }
        path.clear();
        let mut cur = Some(start as u32);
        while let Some(v) = cur {
            match state[v as usize] {
                0 => {
                    state[v as usize] = 1;
                    path.push(v);
                    cur = parent[v as usize];
                }
                1 => {
                    let pos = path.iter().position(|&x| x == v).unwrap_or(0);
                    let cycle: Vec<String> = path[pos..]
                        .iter()
                        .map(|&x| b.spelling(x).to_string())
                        .collect();
                    let o = b.protos[v as usize].def_line;
                    // A node on a cycle has a parent, so it is no identity: its parent is
                    // explicit exactly when its definition names one.
                    let any_explicit = path[pos..].iter().any(|&x| {
                        let d = b.protos[x as usize].def.as_ref();
                        d.is_some_and(|d| d.parent.is_some())
                    });
                    if any_explicit {
                        b.warn(o, format!("cycle of explicit parents: {}; the walk upwards stops where it would repeat", cycle.join(" -> ")));
                    }
                    break;
                }
                _ => break,
            }
        }
        for &v in &path {
            state[v as usize] = 2;
        }
    }
}

/// Per-kind forward and backward compressed adjacency: the edges split by kind in one
/// pass, then the twelve made side by side.
fn adjacency(g: &DiGraph<NodeWeight, EdgeWeight, u32>, n: usize) -> (Vec<Csr>, Vec<Csr>) {
    let mut by_kind: Vec<Vec<(u32, u32, u32)>> = vec![Vec::new(); EdgeKind::ALL.len()];
    for (i, e) in g.raw_edges().iter().enumerate() {
        let (s, t) = (e.source().index() as u32, e.target().index() as u32);
        by_kind[e.weight.kind.index()].push((s, t, i as u32));
    }
    let made: Vec<(Csr, Csr)> = by_kind
        .par_iter()
        .map(|es| {
            rayon::join(
                || Csr::new(n, es.iter().copied()),
                || Csr::new(n, es.iter().map(|&(s, t, i)| (t, s, i))),
            )
        })
        .collect();
    made.into_iter().unzip()
}

/// Canonical edge order: by source and target rank, kind, then the payload's text.
///
/// Worked out node by node in node order, each node's out-edges taking the next ranks:
/// a sort of every edge on a packed key held 30 MB at a million resources at the build's
/// busiest moment, and sorted what the node order already gives.
fn edge_ranks(
    g: &DiGraph<NodeWeight, EdgeWeight, u32>,
    fwd: &[Csr],
    order: &[u32],
    rank: &[u32],
    roles: &IndexMap<(String, bool), ()>,
    nets: &[NetInfo],
) -> Vec<u32> {
    use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
    let raw = g.raw_edges();
    let payload = |i: usize| -> String {
        let w = raw[i].weight;
        match w.kind {
            _ if w.extra == NONE => String::new(),
            EdgeKind::HasRole => roles
                .get_index(w.extra as usize)
                .map(|((n, p), _)| format!("{}{p}", n.to_ascii_lowercase()))
                .unwrap_or_default(),
            _ => format!("{:?}", nets[w.extra as usize]),
        }
    };
    // The first rank of each node's out-edges, by the node's place in the order. Nodes are
    // visited in their own order (the adjacency's), which reads memory in order; only
    // the sums follow the node order.
    let mut starts: Vec<u32> = (0..rank.len() as u32)
        .into_par_iter()
        .map(|v| fwd.iter().map(|c| c.range(v).len() as u32).sum())
        .collect();
    let mut next = 0;
    for &v in order {
        next += std::mem::replace(&mut starts[v as usize], next);
    }
    // Each edge is ranked once, by the one node it leaves.
    let out: Vec<AtomicU32> = (0..raw.len()).map(|_| AtomicU32::new(0)).collect();
    starts
        .par_iter()
        .enumerate()
        .for_each_init(Vec::new, |edges, (v, &start)| {
            let v = v as u32;
            // (target's rank, kind, edge), sorted; ties on the first two by payload.
            edges.clear();
            for (kind, c) in fwd.iter().enumerate() {
                for i in c.range(v) {
                    edges.push((rank[c.nbrs[i] as usize], kind as u8, c.edges[i]));
                }
            }
            edges.sort_unstable();
            let mut from = 0;
            while from < edges.len() {
                let (t, k, _) = edges[from];
                let to = from + edges[from..].partition_point(|&(u, j, _)| (u, j) == (t, k));
                if to - from > 1 {
                    edges[from..to].sort_by_cached_key(|&(_, _, e)| (payload(e as usize), e));
                }
                from = to;
            }
            for (j, &(_, _, e)) in edges.iter().enumerate() {
                out[e as usize].store(start + j as u32, Relaxed);
            }
        });
    out.into_iter().map(AtomicU32::into_inner).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{native, ReadOptions};

    /// An identity's attached resources, defined (in any case) or not: each gets its
    /// `uses_identity` edge, and only the undefined one a warning, as a resource-shaped node.
    #[test]
    fn attached_resources_defined_or_not() {
        let b = graph(&[
            r#"{"type":"identity","id":"mi","kind":"managed_identity","attached_to":["/S/R/VM","/s/r/gone"]}"#,
            r#"{"type":"resource","id":"/s/r/vm","kind":"Microsoft.Compute/virtualMachines"}"#,
            r#"{"type":"reach","from":"/s/r/vm","to":"/s/r/gone"}"#,
        ]);
        let g = &b.graph;
        let mi = g.find("mi").unwrap();
        let users: Vec<&str> =
            g.g.edges_directed(mi.into(), petgraph::Direction::Incoming)
                .filter(|e| e.weight().kind == EdgeKind::UsesIdentity)
                .map(|e| g.id(petgraph::visit::EdgeRef::source(&e).index() as u32))
                .collect();
        assert_eq!(users.len(), 2, "{users:?}");
        assert!(
            users.contains(&"/s/r/vm") && users.contains(&"/s/r/gone"),
            "{users:?}"
        );
        let gone = g.node(g.find("/s/r/gone").unwrap());
        assert!(!gone.defined);
        assert_ne!(
            gone.category,
            Category::Identity,
            "an attached resource is no identity"
        );
        // Met first as a reach's end, then as an attached resource: a warning for each.
        let said: Vec<&str> = b.warnings.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(said.len(), 2, "{said:?}");
        assert!(
            said.contains(
                &"attached_to resource `/s/r/gone` is not defined by any record; kept as a node"
            ),
            "{said:?}"
        );
    }

    fn graph(lines: &[&str]) -> Built {
        let mut text = String::from(r#"{"type":"snapshot","taken_at":"2026-01-01T00:00:00Z"}"#);
        for l in lines {
            text.push('\n');
            text.push_str(l);
        }
        let snap = native::parse(text.as_bytes(), "t.jsonl", ReadOptions::default()).unwrap();
        build(snap, &BuildOptions::default())
    }

    #[test]
    fn sensitivity_is_read_however_its_key_is_spelt() {
        for (props, want) in [
            (r#"{"sensitivity":"high"}"#, Some("high")),
            (r#"{"sensit\u0069vity":"high"}"#, Some("high")),
            (r#"{"a":"\"","sensitivity":"low"}"#, Some("low")),
            (r#"{"location":"westeurope"}"#, None),
            (r#"{"Sensitivity":"high"}"#, None),
            (r#"{"sensitivity":3}"#, None),
            (r#"{"note":"sensitivity"}"#, None),
        ] {
            assert_eq!(sensitivity_of(props).as_deref(), want, "{props}");
        }
    }

    /// A name that is the id's last segment is kept once, in the id; every name reads
    /// back as written.
    #[test]
    fn names_read_back_whether_or_not_they_end_the_id() {
        let built = graph(&[
            r#"{"type":"resource","id":"/s/rg/VM1","kind":"k","name":"VM1"}"#,
            r#"{"type":"resource","id":"/s/rg/vm2","kind":"k","name":"VM2"}"#,
            r#"{"type":"resource","id":"/s/rg/vm3","kind":"k"}"#,
            r#"{"type":"resource","id":"vm4","kind":"k","name":"vm4"}"#,
            r#"{"type":"resource","id":"/s/rg/vm5/","kind":"k","name":""}"#,
        ]);
        let g = &built.graph;
        let name = |id: &str| {
            let v = g.find(id).unwrap();
            (g.name(v), g.node(v).name_is_tail)
        };
        assert_eq!(name("/s/rg/vm1"), (Some("VM1"), true));
        assert_eq!(name("/s/rg/vm2"), (Some("VM2"), false));
        assert_eq!(name("/s/rg/vm3"), (None, false));
        assert_eq!(name("vm4"), (Some("vm4"), true));
        assert_eq!(name("/s/rg/vm5/"), (Some(""), true));
    }

    #[test]
    fn props_left_out_on_request_keep_the_sensitivity() {
        let lines = [
            r#"{"type":"resource","id":"a","kind":"k","props":{"sensitivity":"high","x":1}}"#,
            r#"{"type":"resource","id":"b","kind":"k","props":{"x":2}}"#,
        ];
        let built = |keep_props| {
            let mut text = String::from(r#"{"type":"snapshot","taken_at":"2026-01-01T00:00:00Z"}"#);
            for l in lines {
                text.push('\n');
                text.push_str(l);
            }
            let snap = native::parse(text.as_bytes(), "t.jsonl", ReadOptions::default()).unwrap();
            let opts = BuildOptions {
                keep_props,
                ..BuildOptions::default()
            };
            build(snap, &opts).graph
        };
        for keep in [true, false] {
            let g = built(keep);
            let a = g.node(g.find("a").unwrap());
            assert_eq!(a.sensitivity.map(|s| g.strings.get(s)), Some("high"));
            assert_eq!(a.props.is_some(), keep);
            assert_eq!(g.node(g.find("b").unwrap()).props.is_some(), keep);
        }
    }

    #[test]
    fn props_left_out_still_tell_a_redefinition_apart() {
        // Left out, props are held as a hash, or whole where they may hold a sensitivity:
        // each way, a later definition's props are compared as if held whole.
        let lines = [
            r#"{"type":"resource","id":"a","kind":"k","props":{"x":1}}"#,
            r#"{"type":"resource","id":"a","kind":"k","props":{"x":1}}"#,
            r#"{"type":"resource","id":"a","kind":"k","props":{"x":2}}"#,
            r#"{"type":"resource","id":"b","kind":"k","props":{"sensitivity":"high"}}"#,
            r#"{"type":"resource","id":"b","kind":"k","props":{"sensitivity":"high"}}"#,
            r#"{"type":"resource","id":"b","kind":"k","props":{"sensitivity":"low"}}"#,
            r#"{"type":"resource","id":"c","kind":"k","props":{"sensitivity":"high"}}"#,
            r#"{"type":"resource","id":"c","kind":"k","props":{"y":"high"}}"#,
            r#"{"type":"resource","id":"d","kind":"k","props":{"s":"\u0041"}}"#,
            r#"{"type":"resource","id":"d","kind":"k","props":{"s":"\u0041"}}"#,
        ];
        let mut text = String::from(r#"{"type":"snapshot","taken_at":"2026-01-01T00:00:00Z"}"#);
        for l in lines {
            text.push('\n');
            text.push_str(l);
        }
        for keep_props in [true, false] {
            let snap = native::parse(text.as_bytes(), "t.jsonl", ReadOptions::default()).unwrap();
            let opts = BuildOptions {
                keep_props,
                ..BuildOptions::default()
            };
            let built = build(snap, &opts);
            let said: Vec<(usize, &str)> = built
                .warnings
                .iter()
                .map(|w| (w.line, w.message.split(" (earlier").next().unwrap_or("")))
                .collect();
            assert_eq!(
                said,
                [
                    (3, "`a` is defined again with identical content"),
                    (
                        4,
                        "`a` is defined again with different props; this later line wins"
                    ),
                    (6, "`b` is defined again with identical content"),
                    (
                        7,
                        "`b` is defined again with different props; this later line wins"
                    ),
                    (
                        9,
                        "`c` is defined again with different props; this later line wins"
                    ),
                    (11, "`d` is defined again with identical content"),
                ],
                "keep_props {keep_props}"
            );
            let g = &built.graph;
            let sensitivity = |id| {
                g.node(g.find(id).unwrap())
                    .sensitivity
                    .map(|s| g.strings.get(s))
            };
            assert_eq!(
                ["a", "b", "c"].map(sensitivity),
                [None, Some("low"), None],
                "keep_props {keep_props}"
            );
        }
    }

    #[test]
    fn nodes_fit_in_the_protos_memory() {
        use std::mem::{align_of, size_of};
        // What lets `finish` make the nodes in place (see there), and what a node costs.
        assert!(size_of::<NodeData>() <= size_of::<Proto>());
        assert_eq!(align_of::<NodeData>(), align_of::<Proto>());
        // 120: a definition's props are a text or a hash of it (24 bytes, not 16), which
        // spares a million props texts of their own allocation.
        assert!(size_of::<Proto>() <= 120, "{}", size_of::<Proto>());
        let protos: Vec<Proto> = (0..1000).map(|_| Proto::default()).collect();
        let at = protos.as_ptr() as usize;
        let nodes: Vec<NodeData> = protos
            .into_iter()
            .enumerate()
            .map(|(v, p)| NodeData {
                category: Category::Resource,
                spelled: None,
                kind: Interner::default().intern("x"),
                name: None,
                name_is_tail: false,
                defined: p.def_line.is_some() && v != 0,
                parent: None,
                tags: Box::default(),
                props: None,
                sensitivity: None,
                findings: (0, 0),
                origin: None,
            })
            .collect();
        assert_eq!(nodes.as_ptr() as usize, at, "collected in place");
    }

    #[test]
    fn referenced_only_principal_is_an_unknown_identity() {
        let b = graph(&[
            r#"{"type":"role_assignment","principal":"Ghost","role":"Owner","scope":"/subscriptions/S/resourceGroups/G"}"#,
        ]);
        let g = &b.graph;
        let ghost = g.node(g.find("ghost").unwrap());
        assert_eq!(
            (
                ghost.category,
                g.strings.get(ghost.kind),
                g.id(g.find("ghost").unwrap())
            ),
            (Category::Identity, "unknown", "Ghost")
        );
        let rg = g.node(g.find("/SUBSCRIPTIONS/s/resourcegroups/g").unwrap());
        assert_eq!(
            (rg.category, g.strings.get(rg.kind)),
            (Category::Scope, "resource_group")
        );
        let sub = g.node(g.find("/subscriptions/s").unwrap());
        assert_eq!(g.strings.get(sub.kind), "subscription");
        assert_eq!(rg.parent, g.find("/subscriptions/S"));
        // A dangling principal, a dangling scope and an implied subscription.
        assert_eq!(b.warnings.len(), 3, "{:?}", b.warnings);
    }

    #[test]
    fn display_spelling_is_smallest_defining_then_referencing() {
        let b = graph(&[
            r#"{"type":"resource","id":"/subscriptions/S/resourceGroups/G/providers/A/b/vm","kind":"vm"}"#,
            r#"{"type":"resource","id":"/subscriptions/S/resourcegroups/G/providers/A/b/VM","kind":"vm"}"#,
            r#"{"type":"reach","from":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/G/PROVIDERS/A/B/VM","to":"x2"}"#,
            r#"{"type":"reach","from":"x2","to":"X2"}"#,
        ]);
        let g = &b.graph;
        assert_eq!(
            g.id(g
                .find("/subscriptions/s/resourcegroups/g/providers/a/b/vm")
                .unwrap()),
            "/subscriptions/S/resourceGroups/G/providers/A/b/vm"
        );
        assert_eq!(g.id(g.find("x2").unwrap()), "X2");
        // The derived parent takes the smallest child-derived spelling.
        assert_eq!(
            g.id(g.find("/subscriptions/s/resourcegroups/g").unwrap()),
            "/subscriptions/S/resourceGroups/G"
        );
    }

    /// Each warning's line and message.
    fn said(b: &Built) -> Vec<(usize, &str)> {
        b.warnings
            .iter()
            .map(|w| (w.line, w.message.as_str()))
            .collect()
    }

    /// A definition of the reserved id, however spelt, is ignored with a warning: the
    /// internet stays the one node of its kind.
    #[test]
    fn defining_the_internet_is_ignored() {
        let b = graph(&[r#"{"type":"resource","id":" Internet ","kind":"k","name":"x"}"#]);
        assert_eq!(
            said(&b),
            [(
                2,
                "the id `internet` is reserved for the public internet; this record is ignored"
            )]
        );
        let internet = b.graph.node(0);
        assert_eq!(internet.category, Category::Internet);
        assert!(!internet.defined);
        assert_eq!(b.graph.node_count(), 1);
    }

    /// Ids that begin with their resource's id are held as the rest; every id still reads,
    /// sorts and replaces as the whole.
    #[test]
    fn finding_ids_after_their_node_read_whole() {
        let f = |id: &str, res: &str, title: &str| {
            format!(
                r#"{{"type":"finding","id":"{id}","resource":"{res}","class":"alert","title":"{title}","severity":"low"}}"#
            )
        };
        let lines = [
            r#"{"type":"resource","id":"/s/Vm","kind":"k"}"#.to_string(),
            f("/s/Vm/a/2", "/s/Vm", "t1"),
            f("/s/VMX/a/1", "/s/vm", "t2"),
            f("/S/VM/A/2", "/s/vm", "t3"),
            f("/s/Vm/A/10", "/s/Vm", "t4"),
            f("/s/Vm", "/s/Vm", "t5"),
        ];
        let built = graph(&lines.iter().map(String::as_str).collect::<Vec<_>>());
        let g = &built.graph;
        let v = g.find("/s/vm").unwrap();
        let ids: Vec<String> = g
            .findings_of(v)
            .iter()
            .map(|f| g.finding_id(v, f).into_owned())
            .collect();
        assert_eq!(ids, ["/s/Vm", "/s/Vm/A/10", "/S/VM/A/2", "/s/VMX/a/1"]);
        let held: Vec<bool> = g.findings_of(v).iter().map(|f| f.after_node).collect();
        assert_eq!(held, [false, true, false, false]);
        // A rule's `finding: {id: ...}` test sees the whole id.
        let matches = |id: &str| {
            let text = format!(r#"(r {{finding: {{id: "{id}"}}}})"#);
            let pack = crate::rules::RulePack {
                rules: vec![crate::rules::Rule::adhoc(&text).unwrap()],
                sources: vec![],
            };
            crate::scan::run(g, &pack, &Default::default())
                .combinations
                .len()
        };
        assert_eq!(matches("/s/vm/a/10"), 1);
        assert_eq!(matches("/A/10"), 0);
        assert!(said(&built)
            .iter()
            .any(|(l, m)| *l == 5 && m.contains("finding `/S/VM/A/2` is also defined at line 3")));
    }

    #[test]
    fn findings_defined_again_are_found_through_the_tables_growth() {
        let n = 300;
        let f = |i: usize, id: &str, title: &str| {
            format!(
                r#"{{"type":"finding","id":"{id}/a/{i}","resource":"/s/vm","class":"alert","title":"{title}","severity":"low"}}"#
            )
        };
        let mut lines = vec![r#"{"type":"resource","id":"/s/vm","kind":"k"}"#.to_string()];
        lines.extend((0..n).map(|i| f(i, "/s/vm", "first")));
        // Each again, spelt otherwise, once the table has grown many times over.
        lines.extend((0..n).map(|i| f(i, "/S/VM", "again")));
        let built = graph(&lines.iter().map(String::as_str).collect::<Vec<_>>());
        let g = &built.graph;
        let v = g.find("/s/vm").unwrap();
        let titles: Vec<&str> = g
            .findings_of(v)
            .iter()
            .map(|f| g.strings.get(f.title))
            .collect();
        assert_eq!(titles, vec!["again"; n]);
        let said = said(&built);
        assert_eq!(said.len(), n);
        for (k, (line, msg)) in said.iter().enumerate() {
            // Line 1 is the header, 2 the resource: finding `i` is first on line 3 + i.
            let i = line - 3 - n;
            assert!(
                k == i && msg.contains(&format!("also defined at line {}", 3 + i)),
                "{msg}"
            );
        }
    }

    #[test]
    fn redefinitions_compare_spellings_with_the_latest_definition() {
        let b = graph(&[
            r#"{"type":"resource","id":"a","kind":"vm"}"#,
            r#"{"type":"resource","id":"A","kind":"vm"}"#,
            r#"{"type":"resource","id":"A","kind":"vm"}"#,
            r#"{"type":"resource","id":" a ","kind":"vm"}"#,
            r#"{"type":"resource","id":"a","kind":"vm"}"#,
        ]);
        let said = said(&b);
        assert_eq!(
            said,
            [
                (3, "`A` is defined again (only the id's spelling differs) (earlier definition at line 2)"),
                (4, "`A` is defined again with identical content (earlier definition at line 3)"),
                (5, "`a` is defined again (only the id's spelling differs) (earlier definition at line 4)"),
                (6, "`a` is defined again (only the id's spelling differs) (earlier definition at line 5)"),
            ]
        );
        assert_eq!(b.graph.id(b.graph.find("a").unwrap()), "A");
    }

    #[test]
    fn undefined_references_are_named_as_each_record_spells_them() {
        let b = graph(&[
            r#"{"type":"reach","from":"Ghost","to":"x"}"#,
            r#"{"type":"reach","from":"GHOST","to":"x"}"#,
            r#"{"type":"reach","from":"Ghost","to":"x","ports":[22]}"#,
            r#"{"type":"resource","id":"x","kind":"vm"}"#,
        ]);
        let said = said(&b);
        assert_eq!(
            said,
            [
                (
                    2,
                    "reach source `Ghost` is not defined by any record; kept as a node"
                ),
                (
                    3,
                    "reach source `GHOST` is not defined by any record; kept as a node"
                ),
                (
                    4,
                    "reach source `Ghost` is not defined by any record; kept as a node"
                ),
            ]
        );
        assert_eq!(b.graph.id(b.graph.find("ghost").unwrap()), "GHOST");
    }

    /// Parents are found in two ways: defined ones in a parallel pass, the rest in turn.
    /// Each case of either way, and nodes one after another that share a parent spelled
    /// apart, give the parent the format says.
    #[test]
    fn parents_defined_or_not_explicit_or_derived() {
        let sub = "/subscriptions/s";
        let rg = |g: &str| format!("{sub}/resourceGroups/{g}");
        let vm =
            |g: &str, n: &str| format!("{}/providers/Microsoft.Compute/virtualMachines/{n}", rg(g));
        let res = |id: &str, parent: Option<&str>| match parent {
            Some(p) => format!(r#"{{"type":"resource","id":"{id}","kind":"vm","parent":"{p}"}}"#),
            None => format!(r#"{{"type":"resource","id":"{id}","kind":"vm"}}"#),
        };
        let lines = [
            format!(r#"{{"type":"scope","id":"{sub}","kind":"subscription"}}"#),
            format!(
                r#"{{"type":"scope","id":"{}","kind":"resource_group"}}"#,
                rg("a")
            ),
            // Derived, defined; then the same parent spelled otherwise, then as before.
            res(&vm("a", "v1"), None),
            res(&vm("A", "v2"), None),
            res(&vm("a", "v3"), None),
            // Derived, not defined (implied), twice in a row.
            res(&vm("b", "w1"), None),
            res(&vm("b", "w2"), None),
            // Explicit, defined and not.
            res("x1", Some(&rg("a"))),
            res("x2", Some("/nowhere")),
            // An identity has no parent, whatever its id says.
            format!(
                r#"{{"type":"identity","id":"{}","kind":"managed_identity"}}"#,
                vm("a", "i")
            ),
        ];
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        let b = graph(&lines);
        let g = &b.graph;
        let parent_of = |id: &str| {
            let v = g.find(id).unwrap();
            g.nodes[v as usize].parent.map(|p| g.id(p).to_string())
        };
        assert_eq!(parent_of(&rg("a")).as_deref(), Some(sub));
        for n in ["v1", "v3"] {
            assert_eq!(parent_of(&vm("a", n)), Some(rg("a")), "{n}");
        }
        assert_eq!(parent_of(&vm("A", "v2")), Some(rg("a")));
        for n in ["w1", "w2"] {
            assert_eq!(parent_of(&vm("b", n)), Some(rg("b")), "{n}");
        }
        assert_eq!(parent_of(&rg("b")).as_deref(), Some(sub));
        assert_eq!(parent_of("x1"), Some(rg("a")));
        assert_eq!(parent_of("x2").as_deref(), Some("/nowhere"));
        assert_eq!(parent_of(&vm("a", "i")), None);
        let implied: Vec<_> = said(&b)
            .into_iter()
            .filter(|(_, m)| m.contains("implied"))
            .collect();
        assert_eq!(
            implied,
            [(
                0,
                format!(
                    "`{}` is implied by the id `{}` but not defined; kept as a node",
                    rg("b"),
                    vm("b", "w1")
                )
                .as_str()
            )]
        );
        assert!(
            said(&b)
                .iter()
                .any(|(_, m)| m.contains("parent `/nowhere` is not defined")),
            "{:?}",
            b.warnings
        );
    }

    #[test]
    fn parent_cycle_warns_once_and_owner_lookup_stops() {
        let b = graph(&[
            r#"{"type":"scope","id":"a","kind":"management_group","parent":"b"}"#,
            r#"{"type":"scope","id":"b","kind":"management_group","parent":"a"}"#,
            r#"{"type":"resource","id":"r","kind":"vm","parent":"a"}"#,
        ]);
        let cycles = b
            .warnings
            .iter()
            .filter(|w| w.message.contains("cycle of explicit parents"))
            .count();
        assert_eq!(cycles, 1, "{:?}", b.warnings);
        assert_eq!(b.graph.owner(b.graph.find("r").unwrap()), UNOWNED);
    }

    #[test]
    fn roles_override_and_unknown_guids() {
        let b = graph(&[
            r#"{"type":"role","name":"Reader","privileged":true}"#,
            r#"{"type":"role","name":"reader","privileged":false}"#,
            r#"{"type":"identity","id":"i","kind":"user"}"#,
            r#"{"type":"role_assignment","principal":"i","role":"acdd72a7-3385-48ef-bd42-f606fba81ae7","scope":"/subscriptions/S"}"#,
            r#"{"type":"role_assignment","principal":"i","role":"11111111-2222-3333-4444-555555555555","scope":"/subscriptions/S"}"#,
        ]);
        let g = &b.graph;
        assert_eq!(
            g.roles,
            vec![roles::RoleInfo {
                name: "Reader".into(),
                privileged: false
            }]
        );
        assert!(b
            .warnings
            .iter()
            .any(|w| w.message.contains("later line wins") && w.line == 3));
        assert!(b
            .warnings
            .iter()
            .any(|w| w.message.contains("grants nothing") && w.line == 6));
        assert_eq!(g.fwd[EdgeKind::HasRole.index()].nbrs.len(), 1);
    }

    #[test]
    fn owner_tag_is_inherited_case_insensitively() {
        let b = graph(&[
            r#"{"type":"scope","id":"/subscriptions/S/resourceGroups/G","kind":"resource_group","tags":{"Owner":"payments"}}"#,
            r#"{"type":"resource","id":"/subscriptions/S/resourceGroups/G/providers/A/b/vm","kind":"vm"}"#,
            r#"{"type":"resource","id":"/subscriptions/S/resourceGroups/G/providers/A/b/vm2","kind":"vm","tags":{"OWNER":"crm"}}"#,
        ]);
        let g = &b.graph;
        assert_eq!(
            g.owner(
                g.find("/subscriptions/S/resourceGroups/G/providers/A/b/vm")
                    .unwrap()
            ),
            "payments"
        );
        assert_eq!(
            g.owner(
                g.find("/subscriptions/S/resourceGroups/G/providers/A/b/vm2")
                    .unwrap()
            ),
            "crm"
        );
    }
}
