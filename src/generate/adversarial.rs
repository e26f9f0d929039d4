//! Adversarial estates: `toxgraph generate --shape S [--size N]` writes one snapshot,
//! `adversarial-S.jsonl`, whose structure is what breaks an analyser that enumerates paths,
//! recurses along chains, follows cycles without memory, or keeps every result.
//!
//! Every shape carries an internet-exposed entry and sensitive data placed so that the
//! shipped rules must walk the hard part: a shape the backward pass could prune to nothing
//! would measure nothing. Sizes default to the figures the performance targets name. Like
//! the estate generator, output is a pure function of (shape, size, seed), written in one
//! streaming pass so that generating never needs more memory than one shape's id list.

use super::{guid, GenerateSummary};
use std::fmt::Write as _;
use std::io::{self, Write};
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `size` resources, every ordered pair joined by `reaches`; one exposed entry, and
    /// one in a hundred a sensitive store or a key vault.
    Clique,
    /// A chain of `size` groups nested one in the next; the exposed entry's identity is in
    /// the innermost, Owner on the subscription is held by the outermost.
    DeepGroups,
    /// `size` groups in one membership cycle; the entry's identity joins it halfway round
    /// and the role is held by the group just before, so only the whole cycle leads there.
    GroupCycle,
    /// One management group above `size` resources; Owner at the management group for a
    /// group that the exposed entry's identity belongs to; one resource in ten sensitive.
    MgWide,
    /// `size` exposed entries, each with an identity privileged on the subscription that
    /// holds `size` sensitive stores: `size`² (entry, target) pairs for TC001.
    Pairs,
}

impl Shape {
    pub const ALL: [Shape; 5] = [
        Shape::Clique,
        Shape::DeepGroups,
        Shape::GroupCycle,
        Shape::MgWide,
        Shape::Pairs,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Shape::Clique => "clique",
            Shape::DeepGroups => "deep-groups",
            Shape::GroupCycle => "group-cycle",
            Shape::MgWide => "mg-wide",
            Shape::Pairs => "pairs",
        }
    }

    pub fn parse(s: &str) -> Option<Shape> {
        Shape::ALL
            .into_iter()
            .find(|x| x.name().eq_ignore_ascii_case(s.trim()))
    }

    /// The figures of the performance targets: a 5,000-node clique, groups nested 10,000
    /// deep, a 100,000-member cycle, 500,000 resources under one management group, and
    /// 3,200 × 3,200 ≈ 10 million pairs.
    pub fn default_size(self) -> usize {
        match self {
            Shape::Clique => 5_000,
            Shape::DeepGroups => 10_000,
            Shape::GroupCycle => 100_000,
            Shape::MgWide => 500_000,
            Shape::Pairs => 3_200,
        }
    }

    /// Below this the shape loses the parts that make the rules fire.
    pub fn min_size(self) -> usize {
        match self {
            Shape::Clique => 3,
            Shape::GroupCycle => 2,
            Shape::DeepGroups | Shape::MgWide | Shape::Pairs => 1,
        }
    }

    /// What `size` counts, for help and messages.
    pub fn size_means(self) -> &'static str {
        match self {
            Shape::Clique => "resources in the clique",
            Shape::DeepGroups => "nesting depth in groups",
            Shape::GroupCycle => "groups in the cycle",
            Shape::MgWide => "resources under the management group",
            Shape::Pairs => "exposed entries, and as many sensitive stores",
        }
    }

    pub fn file_name(self) -> String {
        format!("adversarial-{}.jsonl", self.name())
    }
}

/// Writes `adversarial-<shape>.jsonl` into `out_dir` (created if missing) through a
/// temporary file renamed into place, so a failure leaves no half-written snapshot.
pub fn generate_shape(
    shape: Shape,
    size: usize,
    seed: u64,
    out_dir: &Path,
) -> io::Result<GenerateSummary> {
    if size < shape.min_size() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "the {} shape needs a size of at least {}",
                shape.name(),
                shape.min_size()
            ),
        ));
    }
    let (files, records) = super::into_place(out_dir, &[&shape.file_name()], |ws| {
        let mut s = Sink {
            w: &mut ws[0],
            line: String::with_capacity(512),
            records: 0,
            ids: Ids { seed },
        };
        s.header(shape, size, seed)?;
        match shape {
            Shape::Clique => clique(&mut s, size)?,
            Shape::DeepGroups => groups(&mut s, size, false)?,
            Shape::GroupCycle => groups(&mut s, size, true)?,
            Shape::MgWide => mg_wide(&mut s, size)?,
            Shape::Pairs => pairs(&mut s, size)?,
        }
        Ok(s.records)
    })?;
    Ok(GenerateSummary {
        files,
        records: vec![records],
    })
}

// Streams of the PRNG, apart from the estate generator's.
const S_SUB: u64 = 300;
const S_IDENTITY: u64 = 301;
const S_GROUP: u64 = 302;
const S_FINDING: u64 = 303;
const S_TENANT: u64 = 304;

const VM: &str = "Microsoft.Compute/virtualMachines";
const STORAGE: &str = "Microsoft.Storage/storageAccounts";
const VAULT: &str = "Microsoft.KeyVault/vaults";
const MG_PREFIX: &str = "/providers/Microsoft.Management/managementGroups/";

struct Ids {
    seed: u64,
}

impl Ids {
    fn sub(&self, k: usize) -> String {
        format!("/subscriptions/{}", guid(self.seed, S_SUB, k as u64))
    }
    fn identity(&self, k: usize) -> String {
        guid(self.seed, S_IDENTITY, k as u64)
    }
    fn group(&self, k: usize) -> String {
        guid(self.seed, S_GROUP, k as u64)
    }
}

/// One record at a time into one buffered file; `line` is reused so that writing millions
/// of records allocates nothing per record.
struct Sink<W: Write> {
    w: W,
    line: String,
    records: usize,
    ids: Ids,
}

impl<W: Write> Sink<W> {
    fn emit(&mut self) -> io::Result<()> {
        self.line.push('\n');
        self.w.write_all(self.line.as_bytes())?;
        self.line.clear();
        self.records += 1;
        Ok(())
    }

    fn header(&mut self, shape: Shape, size: usize, seed: u64) -> io::Result<()> {
        let tenant = guid(seed, S_TENANT, 0);
        let _ = write!(
            self.line,
            r#"{{"type":"snapshot","taken_at":"2026-03-31T00:00:00Z","label":"adversarial-{name}","tenant":"{tenant}","source":"toxgraph generate --shape {name} --size {size} --seed {seed}"}}"#,
            name = shape.name()
        );
        self.emit()
    }

    fn scope(&mut self, id: &str, kind: &str, name: &str, parent: Option<&str>) -> io::Result<()> {
        let parent = parent
            .map(|p| format!(r#","parent":"{p}""#))
            .unwrap_or_default();
        let _ = write!(
            self.line,
            r#"{{"type":"scope","id":"{id}","kind":"{kind}","name":"{name}"{parent},"tags":{{"owner":"platform","env":"prod"}}}}"#
        );
        self.emit()
    }

    fn resource(&mut self, id: &str, kind: &str, name: &str, sensitive: bool) -> io::Result<()> {
        let props = if sensitive {
            r#","props":{"sensitivity":"high"}"#
        } else {
            ""
        };
        let _ = write!(
            self.line,
            r#"{{"type":"resource","id":"{id}","kind":"{kind}","name":"{name}"{props}}}"#
        );
        self.emit()
    }

    fn identity(
        &mut self,
        id: &str,
        kind: &str,
        name: &str,
        attached_to: Option<&str>,
    ) -> io::Result<()> {
        let attached = attached_to
            .map(|r| format!(r#","attached_to":["{r}"]"#))
            .unwrap_or_default();
        let _ = write!(
            self.line,
            r#"{{"type":"identity","id":"{id}","kind":"{kind}","name":"{name}"{attached}}}"#
        );
        self.emit()
    }

    fn membership(&mut self, group: &str, member: &str) -> io::Result<()> {
        let _ = write!(
            self.line,
            r#"{{"type":"membership","group":"{group}","member":"{member}"}}"#
        );
        self.emit()
    }

    fn role_assignment(&mut self, principal: &str, role: &str, scope: &str) -> io::Result<()> {
        let _ = write!(
            self.line,
            r#"{{"type":"role_assignment","principal":"{principal}","role":"{role}","scope":"{scope}"}}"#
        );
        self.emit()
    }

    /// HTTPS only, so that the management-port rule stays out of the counts.
    fn exposure(&mut self, resource: &str) -> io::Result<()> {
        let _ = write!(
            self.line,
            r#"{{"type":"exposure","resource":"{resource}","from":"internet","ports":[443],"protocol":"tcp"}}"#
        );
        self.emit()
    }

    fn reach(&mut self, from: &str, to: &str) -> io::Result<()> {
        let _ = write!(
            self.line,
            r#"{{"type":"reach","from":"{from}","to":"{to}"}}"#
        );
        self.emit()
    }

    fn weakness(&mut self, resource: &str, k: u64) -> io::Result<()> {
        let id = guid(self.ids.seed, S_FINDING, k);
        let _ = write!(
            self.line,
            r#"{{"type":"finding","id":"{resource}/providers/Microsoft.Security/assessments/{id}","resource":"{resource}","class":"recommendation","title":"Machines should have vulnerability findings resolved","severity":"high","state":"unhealthy","category":"Compute"}}"#
        );
        self.emit()
    }

    fn exploitation_alert(&mut self, resource: &str, sub: &str, k: u64) -> io::Result<()> {
        let id = guid(self.ids.seed, S_FINDING, k);
        let _ = write!(
            self.line,
            r#"{{"type":"finding","id":"{sub}/providers/Microsoft.Security/locations/westeurope/alerts/{id}","resource":"{resource}","class":"alert","title":"Suspicious exploitation of a public-facing web application","severity":"high","state":"active","techniques":["T1190"]}}"#
        );
        self.emit()
    }

    /// A subscription and one resource group in it, both defined.
    fn sub_and_rg(&mut self, sub: &str, rg_name: &str, parent: Option<&str>) -> io::Result<()> {
        let name = format!("sub-{}", rg_name.trim_start_matches("rg-"));
        self.scope(sub, "subscription", &name, parent)?;
        self.scope(
            &format!("{sub}/resourceGroups/{rg_name}"),
            "resource_group",
            rg_name,
            None,
        )
    }
}

fn res_id(rg: &str, kind: &str, name: &str) -> String {
    format!("{rg}/providers/{kind}/{name}")
}

fn clique<W: Write>(s: &mut Sink<W>, n: usize) -> io::Result<()> {
    let sub = s.ids.sub(0);
    s.sub_and_rg(&sub, "rg-clique", None)?;
    let rg = format!("{sub}/resourceGroups/rg-clique");
    let (stores, vaults) = clique_targets(n);
    let ids: Vec<String> = (0..n)
        .map(|i| {
            let (kind, name, sensitive) = clique_node(i, n, stores, vaults);
            let id = res_id(&rg, kind, &name);
            s.resource(&id, kind, &name, sensitive).map(|()| id)
        })
        .collect::<io::Result<_>>()?;
    s.exposure(&ids[0])?;
    s.weakness(&ids[0], 0)?;
    for (i, from) in ids.iter().enumerate() {
        for (j, to) in ids.iter().enumerate() {
            if i != j {
                s.reach(from, to)?;
            }
        }
    }
    Ok(())
}

/// Sensitive stores and key vaults in a clique of `n`: one in a hundred each, at least one.
pub(crate) fn clique_targets(n: usize) -> (usize, usize) {
    ((n / 100).max(1), (n / 100).max(1))
}

/// The last `stores` nodes are sensitive stores, the `vaults` before them key vaults, the
/// rest virtual machines (node 0, the exposed entry, among them).
fn clique_node(i: usize, n: usize, stores: usize, vaults: usize) -> (&'static str, String, bool) {
    if i >= n - stores {
        (STORAGE, format!("stclique{i:06}"), true)
    } else if i >= n - stores - vaults {
        (VAULT, format!("kv-clique-{i:06}"), false)
    } else {
        (VM, format!("vm-clique-{i:06}"), false)
    }
}

/// The entry, its identity and the sensitive data the group shapes lead to: a resource
/// group with an exposed, exploited virtual machine and two sensitive stores.
fn group_shape_estate<W: Write>(s: &mut Sink<W>, rg_name: &str) -> io::Result<(String, String)> {
    let sub = s.ids.sub(0);
    s.sub_and_rg(&sub, rg_name, None)?;
    let rg = format!("{sub}/resourceGroups/{rg_name}");
    let vm = res_id(&rg, VM, "vm-entry");
    s.resource(&vm, VM, "vm-entry", false)?;
    for k in 0..2 {
        let name = format!("stsensitive{k}");
        s.resource(&res_id(&rg, STORAGE, &name), STORAGE, &name, true)?;
    }
    s.exposure(&vm)?;
    s.exploitation_alert(&vm, &sub, 1)?;
    let mi = s.ids.identity(0);
    s.identity(&mi, "managed_identity", "vm-entry", Some(&vm))?;
    Ok((sub, mi))
}

/// Deep nesting (`cycle` false) or one cycle (`cycle` true) of `n` groups, group k a
/// member of group k+1. Memberships are written outermost first, the reverse of the walk,
/// so nothing that reads lines in order gets the closure for free.
fn groups<W: Write>(s: &mut Sink<W>, n: usize, cycle: bool) -> io::Result<()> {
    let rg_name = if cycle {
        "rg-group-cycle"
    } else {
        "rg-deep-groups"
    };
    let (sub, mi) = group_shape_estate(s, rg_name)?;
    for k in 0..n {
        let id = s.ids.group(k);
        s.identity(&id, "group", &format!("grp-nest-{k:06}"), None)?;
    }
    let links = if cycle { n } else { n - 1 };
    for k in (0..links).rev() {
        let (inner, outer) = (s.ids.group(k), s.ids.group((k + 1) % n));
        s.membership(&outer, &inner)?;
    }
    let (joins, holder) = group_ends(n, cycle);
    let (joins, holder) = (s.ids.group(joins), s.ids.group(holder));
    s.membership(&joins, &mi)?;
    s.role_assignment(&holder, "Owner", &sub)
}

/// (the group the entry's identity joins, the group holding Owner) in the group shapes.
pub(crate) fn group_ends(n: usize, cycle: bool) -> (usize, usize) {
    if cycle {
        (n / 2, (n / 2 + n - 1) % n)
    } else {
        (0, n - 1)
    }
}

/// Resources per resource group and resource groups per subscription under the
/// management group: Azure's own limits are 800 and 980, so the shape is plausible.
const MG_PER_RG: usize = 800;
const MG_RGS_PER_SUB: usize = 25;

fn mg_wide<W: Write>(s: &mut Sink<W>, n: usize) -> io::Result<()> {
    let mg = format!("{MG_PREFIX}mg-wide");
    s.scope(&mg, "management_group", "mg-wide", None)?;
    let rgs = n.div_ceil(MG_PER_RG);
    let subs = rgs.div_ceil(MG_RGS_PER_SUB);
    for k in 0..subs {
        let sub = s.ids.sub(k);
        s.scope(&sub, "subscription", &format!("sub-wide-{k:03}"), Some(&mg))?;
    }
    let rg_id = |ids: &Ids, r: usize| {
        format!(
            "{}/resourceGroups/rg-wide-{r:04}",
            ids.sub(r / MG_RGS_PER_SUB)
        )
    };
    for r in 0..rgs {
        let id = rg_id(&s.ids, r);
        s.scope(&id, "resource_group", &format!("rg-wide-{r:04}"), None)?;
    }
    const OTHER: [(&str, &str); 3] = [
        (VM, "vm"),
        ("Microsoft.Network/networkInterfaces", "nic"),
        ("Microsoft.Compute/disks", "disk"),
    ];
    let mut rg = String::new();
    for i in 0..n {
        if i % MG_PER_RG == 0 {
            rg = rg_id(&s.ids, i / MG_PER_RG);
        }
        let (kind, name, sensitive) = if i == 0 {
            (VM, "vm-entry".to_string(), false)
        } else if mg_sensitive(i) {
            (STORAGE, format!("stwide{i:07}"), true)
        } else {
            let (kind, prefix) = OTHER[i % OTHER.len()];
            (kind, format!("{prefix}-wide-{i:07}"), false)
        };
        s.resource(&res_id(&rg, kind, &name), kind, &name, sensitive)?;
    }
    let vm = res_id(&rg_id(&s.ids, 0), VM, "vm-entry");
    s.exposure(&vm)?;
    let mi = s.ids.identity(0);
    s.identity(&mi, "managed_identity", "vm-entry", Some(&vm))?;
    let admins = s.ids.group(0);
    s.identity(&admins, "group", "grp-mg-wide-admins", None)?;
    s.membership(&admins, &mi)?;
    s.role_assignment(&admins, "Owner", &mg)
}

pub(crate) fn mg_sensitive(i: usize) -> bool {
    i % 10 == 9
}

fn pairs<W: Write>(s: &mut Sink<W>, n: usize) -> io::Result<()> {
    let sub = s.ids.sub(0);
    s.sub_and_rg(&sub, "rg-pairs-front", None)?;
    let data = format!("{sub}/resourceGroups/rg-pairs-data");
    s.scope(&data, "resource_group", "rg-pairs-data", None)?;
    let front = format!("{sub}/resourceGroups/rg-pairs-front");
    for i in 0..n {
        let name = format!("vm-pairs-{i:06}");
        let vm = res_id(&front, VM, &name);
        s.resource(&vm, VM, &name, false)?;
        s.exposure(&vm)?;
        let mi = s.ids.identity(i);
        s.identity(&mi, "managed_identity", &name, Some(&vm))?;
        s.role_assignment(&mi, "Storage Blob Data Owner", &sub)?;
    }
    for j in 0..n {
        let name = format!("stpairs{j:06}");
        s.resource(&res_id(&data, STORAGE, &name), STORAGE, &name, true)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Filter;
    use std::collections::BTreeMap;

    /// Generates, loads and builds one shape, and counts its combinations by rule.
    fn scan(shape: Shape, size: usize) -> (BTreeMap<String, usize>, String) {
        let dir = tempfile::tempdir().unwrap();
        let summary = generate_shape(shape, size, 7, dir.path()).unwrap();
        assert_eq!(summary.files, vec![dir.path().join(shape.file_name())]);
        let path = &summary.files[0];
        let text = std::fs::read_to_string(path).unwrap();
        assert_eq!(text.lines().count(), summary.records[0]);
        let snap = crate::ingest::load(path, Default::default()).unwrap();
        let built = crate::graph::build(snap, &Default::default());
        assert!(
            built.warnings.is_empty(),
            "{}: {:?}",
            shape.name(),
            &built.warnings[..built.warnings.len().min(3)]
        );
        let pack = crate::rules::shipped().unwrap();
        let out = crate::scan::run(&built.graph, &pack, &Filter::default());
        let mut counts = BTreeMap::new();
        for c in &out.combinations {
            *counts.entry(pack.rules[c.rule].id.clone()).or_insert(0) += 1;
        }
        (counts, text)
    }

    fn expect(pairs: &[(&str, usize)]) -> BTreeMap<String, usize> {
        pairs.iter().map(|(r, n)| (r.to_string(), *n)).collect()
    }

    #[test]
    fn clique_reaches_every_store_and_vault_in_one_step() {
        let (counts, text) = scan(Shape::Clique, 250);
        assert_eq!(clique_targets(250), (2, 2));
        assert_eq!(counts, expect(&[("TC002", 2), ("TC008", 2)]));
        let reaches = text.lines().filter(|l| l.contains(r#""reach""#)).count();
        assert_eq!(reaches, 250 * 249);
    }

    #[test]
    fn smallest_clique_still_fires() {
        let (counts, _) = scan(Shape::Clique, 3);
        assert_eq!(counts, expect(&[("TC002", 1), ("TC008", 1)]));
    }

    #[test]
    fn deep_groups_are_walked_to_the_outermost() {
        for depth in [1, 2, 300] {
            let (counts, text) = scan(Shape::DeepGroups, depth);
            assert_eq!(
                counts,
                expect(&[("TC001", 2), ("TC003", 1), ("TC006", 1)]),
                "depth {depth}"
            );
            let links = text.lines().filter(|l| l.contains("membership")).count();
            assert_eq!(links, depth, "depth {depth}: the chain plus the identity's");
        }
    }

    #[test]
    fn group_cycle_is_walked_all_the_way_round() {
        for n in [2, 3, 500] {
            let (counts, _) = scan(Shape::GroupCycle, n);
            assert_eq!(
                counts,
                expect(&[("TC001", 2), ("TC003", 1), ("TC006", 1)]),
                "cycle of {n}"
            );
        }
        // The witness goes round the whole cycle: entry, identity, n groups, scope, store.
        let dir = tempfile::tempdir().unwrap();
        generate_shape(Shape::GroupCycle, 40, 7, dir.path()).unwrap();
        let snap = crate::ingest::load(
            &dir.path().join("adversarial-group-cycle.jsonl"),
            Default::default(),
        )
        .unwrap();
        let g = crate::graph::build(snap, &Default::default()).graph;
        let pack = crate::rules::shipped().unwrap();
        let out = crate::scan::run(&g, &pack, &Filter::default());
        let tc003 = out
            .combinations
            .iter()
            .find(|c| pack.rules[c.rule].id == "TC003")
            .unwrap();
        // internet, entry, identity, 40 groups, subscription.
        assert_eq!(tc003.walk.len(), 1 + 1 + 1 + 40 + 1);
    }

    #[test]
    fn management_group_role_reaches_every_sensitive_store_below() {
        for n in [1, 10, 2_000] {
            let (counts, _) = scan(Shape::MgWide, n);
            let sensitive = (0..n).filter(|&i| mg_sensitive(i)).count();
            assert_eq!(sensitive, n / 10);
            let mut want = expect(&[("TC003", 1)]);
            if sensitive > 0 {
                want.insert("TC001".into(), sensitive);
            }
            assert_eq!(counts, want, "{n} resources");
        }
    }

    #[test]
    fn pairs_are_every_entry_with_every_store() {
        for n in [1, 30] {
            let (counts, _) = scan(Shape::Pairs, n);
            assert_eq!(counts, expect(&[("TC001", n * n)]), "{n}");
        }
    }

    #[test]
    fn shapes_are_deterministic_and_seeded() {
        for shape in Shape::ALL {
            let size = shape.min_size() + 5;
            let read = |seed| {
                let dir = tempfile::tempdir().unwrap();
                generate_shape(shape, size, seed, dir.path()).unwrap();
                std::fs::read_to_string(dir.path().join(shape.file_name())).unwrap()
            };
            assert_eq!(read(1), read(1), "{}", shape.name());
            assert_ne!(read(1), read(2), "{}", shape.name());
        }
    }

    #[test]
    fn names_round_trip_and_small_sizes_are_refused() {
        for shape in Shape::ALL {
            assert_eq!(Shape::parse(shape.name()), Some(shape));
            assert!(shape.default_size() >= shape.min_size());
            let dir = tempfile::tempdir().unwrap();
            if shape.min_size() > 0 {
                let err = generate_shape(shape, shape.min_size() - 1, 1, dir.path()).unwrap_err();
                assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
                assert!(!dir.path().join(shape.file_name()).exists());
            }
        }
        assert_eq!(Shape::parse("nope"), None);
        assert_eq!(Shape::Pairs.default_size().pow(2), 10_240_000);
    }
}
