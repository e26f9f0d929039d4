//! From the classified model to native records: containers, resources, identities, roles
//! and assignments, exposure computed from NSGs and public endpoints, reach inside virtual
//! networks, and Defender findings with every source field kept in `props`.

use super::collect::{at, directory_kind, get, prop, prop_str, str_at, Arm, Entry, Kind, Model};
use super::nsg::{self, Source};
use super::ImportOptions;
use crate::diag::Diagnostic;
use crate::ingest::{
    owned_tags, DefType, Definition, Finding, FindingClass, Level, Origin, PortRange, Record,
};
use indexmap::IndexMap;
use rayon::prelude::*;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::Ipv4Addr;

pub(crate) struct Emitted {
    pub records: Vec<(Record<'static>, Origin)>,
    /// Problems that make part of the data unusable: errors, unless `--keep-going`.
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
    pub used_by_file: Vec<usize>,
    pub latest_timestamp: Option<String>,
    pub tenant: Option<String>,
}

/// More NICs than this in one network and pairwise reach is not computed (with a warning).
const MAX_NICS_PER_NETWORK: usize = 2000;

/// Every item with an `id`, by its folded id: the first export of an object wins.
pub(crate) type ById<'a> = IndexMap<&'a str, &'a Entry, foldhash::fast::FixedState>;

/// The entry that defines this object, if it is not `e`: an earlier export of it.
fn defined_before(by_id: &ById, e: &Entry) -> bool {
    e.key
        .as_deref()
        .and_then(|k| by_id.get(k))
        .is_some_and(|first| !std::ptr::eq(*first, e))
}

pub(crate) fn fold(s: &str) -> String {
    crate::ids::fold(s.trim())
}

/// An identity seen in the exports.
pub(crate) struct Principal {
    /// As spelled in the exports (the smallest spelling when they differ in case, so the
    /// output does not depend on file order).
    id: String,
    kind: &'static str,
    /// The kind was assumed (a role assignment that names no principal type), so any
    /// export that says what the principal is wins.
    guessed: bool,
    name: Option<String>,
    attached: BTreeSet<String>,
    origin: Origin,
}

pub(crate) struct Ctx<'a> {
    files: &'a [String],
    keep_going: bool,
    out: Vec<(Record<'static>, Origin)>,
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
    used: Vec<usize>,
    latest: Option<String>,
    pub(crate) tenants: BTreeSet<String>,
}

impl<'a> Ctx<'a> {
    fn new(files: &'a [String], keep_going: bool) -> Ctx<'a> {
        Ctx {
            files,
            keep_going,
            out: Vec::new(),
            errors: Vec::new(),
            warnings: Vec::new(),
            used: vec![0; files.len()],
            latest: None,
            tenants: BTreeSet::new(),
        }
    }

    /// Takes what another pass over the same files produced, after what this one has.
    fn append(&mut self, mut other: Ctx) {
        self.out.append(&mut other.out);
        self.errors.append(&mut other.errors);
        self.warnings.append(&mut other.warnings);
        for (u, v) in self.used.iter_mut().zip(other.used) {
            *u += v;
        }
        if let Some(t) = other.latest {
            self.seen_time(Some(&t));
        }
        self.tenants.append(&mut other.tenants);
    }

    pub(crate) fn push(&mut self, r: Record<'static>, o: Origin) {
        self.out.push((r, o));
    }
    pub(crate) fn used(&mut self, o: Origin) {
        if let Some(u) = self.used.get_mut(o.file as usize) {
            *u += 1;
        }
    }
    /// Data that cannot be used as it stands: an error, or with `--keep-going` a warning.
    fn problem(&mut self, o: Origin, msg: String) {
        if self.keep_going {
            self.warn(o, msg);
        } else {
            let file = self.files.get(o.file as usize).cloned().unwrap_or_default();
            self.errors.push(
                Diagnostic::error(file, format!("record {}: {msg}", o.line))
                    .expected("usable data, or --keep-going to skip it"),
            );
        }
    }

    pub(crate) fn warn(&mut self, o: Origin, msg: String) {
        let mut d = Diagnostic::error(
            self.files.get(o.file as usize).cloned().unwrap_or_default(),
            format!("record {}: {msg}", o.line),
        )
        .warning();
        d.line = 0;
        self.warnings.push(d);
    }
    fn seen_time(&mut self, t: Option<&str>) {
        // The latest moment any export speaks of is when the estate was seen.
        if let Some(t) = t.filter(|t| crate::ingest::native::is_rfc3339(t)) {
            if self.latest.as_deref().is_none_or(|l| l < t) {
                self.latest = Some(t.to_string());
            }
        }
    }
}

pub(crate) fn emit(model: &mut Model, opts: &ImportOptions, files: &[String]) -> Emitted {
    let already: Vec<Option<Box<Made>>> = model.entries.iter_mut().map(|e| e.made.take()).collect();
    let model = &*model;
    let mut cx = Ctx::new(files, opts.keep_going);
    cx.out
        .reserve(model.entries.len() + model.entries.len() / 2);
    // First occurrence of each ARM id wins: the same resource often appears in several
    // exports (Resource Graph and REST), which is not a conflict. ARM exports come before
    // AzureHound's copies, which lack some fields.
    let mut by_id: ById =
        IndexMap::with_capacity_and_hasher(model.entries.len(), Default::default());
    for hound in [false, true] {
        for e in model.entries.iter().filter(|e| e.hound == hound) {
            if let Some(key) = &e.key {
                by_id.entry(key.as_str()).or_insert(e);
            }
        }
    }
    cx.tenants = model
        .entries
        .par_iter()
        .filter_map(|e| prop_str(&e.value, "tenantId").map(str::to_ascii_lowercase))
        .collect();
    let mut principals: BTreeMap<String, Principal> = BTreeMap::new();
    let metadata = assessment_metadata(model);
    let known_roles = known_role_guids(model);
    let parents = super::hound::parents(model);

    // What one item makes on its own is made in parallel, and taken in item order below.
    let made: Vec<Pre> = model
        .entries
        .par_iter()
        .zip(already)
        .map(|(e, m)| match (e.kind, m) {
            (_, Some(m)) => Pre::Finding(m),
            (Kind::Assessment | Kind::RecommendationRow, _) => {
                Pre::Finding(Box::new(assessment(&e.value, Some(&metadata), None)))
            }
            (Kind::Alert, _) => Pre::Finding(Box::new(alert(&e.value, None))),
            (Kind::Resource, _) => match resource_definition(e, &by_id, opts) {
                Some(d) => Pre::Resource(Box::new(d)),
                None => Pre::Nothing,
            },
            _ => Pre::Nothing,
        })
        .collect();
    // Exposure and reach need only the network objects, so they are worked out while the
    // items are taken in order; their records follow those of the items.
    let mut net_cx = Ctx::new(files, opts.keep_going);
    rayon::join(
        || {
            for (e, pre) in model.entries.iter().zip(made) {
                match pre {
                    Pre::Finding(m) => {
                        cx.take(*m, e.origin);
                        continue;
                    }
                    Pre::Resource(d) => {
                        resource(&mut cx, e, *d, &by_id, &mut principals);
                        continue;
                    }
                    Pre::Nothing => {}
                }
                match e.kind {
                    Kind::Subscription | Kind::ResourceGroup | Kind::ManagementGroup => {
                        container(&mut cx, e, &by_id, &parents)
                    }
                    Kind::Resource => {} // an earlier export defined it
                    Kind::RoleAssignment => {
                        if assignment(&mut cx, &e.value, e.origin, &mut principals, &known_roles) {
                            cx.used(e.origin);
                        }
                    }
                    Kind::RoleDefinition => role_definition(&mut cx, e),
                    Kind::Assessment | Kind::RecommendationRow | Kind::Alert => {}
                    Kind::AssessmentMetadata => cx.used(e.origin),
                    Kind::EffectiveNsg => {}
                    Kind::Principal => directory_object(&mut cx, e, &mut principals),
                    Kind::GroupMember => group_member(&mut cx, e, model, &mut principals),
                    Kind::Hound => super::hound::emit(&mut cx, e, &mut principals, &known_roles),
                }
            }
            super::hound::descendant_scopes(&mut cx, model, &by_id, &parents);
        },
        || network(&mut net_cx, model, &by_id),
    );
    cx.append(net_cx);
    for p in principals.into_values() {
        cx.push(
            Record::Define(Definition {
                def_type: DefType::Identity,
                id: p.id.into(),
                kind: Some(p.kind.to_string().into()),
                name: p.name.clone().map(Into::into),
                parent: None,
                tags: None,
                props: None,
                attached_to: (!p.attached.is_empty()).then(|| p.attached.iter().cloned().collect()),
            }),
            p.origin,
        );
    }
    Emitted {
        records: cx.out,
        errors: cx.errors,
        warnings: cx.warnings,
        used_by_file: cx.used,
        latest_timestamp: cx.latest,
        tenant: cx.tenants.into_iter().next(),
    }
}

fn tags_of(v: &Value) -> Option<Vec<(String, String)>> {
    let obj = get(v, "tags")?.as_object()?;
    let mut t: Vec<(String, String)> = obj
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
        .collect();
    t.sort();
    Some(t)
}

fn container(cx: &mut Ctx, e: &Entry, by_id: &ById, hound_parents: &HashMap<String, String>) {
    let v = &e.value;
    let Some(id) = str_at(v, &["id"]) else { return };
    if defined_before(by_id, e) {
        return;
    }
    let (kind, parent) = match e.kind {
        Kind::Subscription => {
            let chain =
                at(v, &["properties", "managementGroupAncestorsChain"]).and_then(Value::as_array);
            let parent = chain
                .and_then(|c| c.first())
                .and_then(|m| str_at(m, &["name"]))
                .map(|n| format!("/providers/Microsoft.Management/managementGroups/{n}"));
            ("subscription", parent)
        }
        Kind::ResourceGroup => ("resource_group", None),
        _ => (
            "management_group",
            str_at(v, &["properties", "details", "parent", "id"]).map(str::to_string),
        ),
    };
    let parent = parent.or_else(|| hound_parents.get(&fold(id)).cloned());
    let name = prop_str(v, "displayName")
        .or_else(|| str_at(v, &["name"]))
        .map(str::to_string);
    cx.push(scope(id, kind, name, parent, tags_of(v)), e.origin);
    cx.used(e.origin);
}

/// A `scope` record: the fields every source of containers gives.
pub(crate) fn scope(
    id: &str,
    kind: &str,
    name: Option<String>,
    parent: Option<String>,
    tags: Option<Vec<(String, String)>>,
) -> Record<'static> {
    Record::Define(Definition {
        def_type: DefType::Scope,
        id: id.to_string().into(),
        kind: Some(kind.to_string().into()),
        name: name.map(Into::into),
        parent: parent.map(Into::into),
        tags: tags.map(owned_tags),
        props: None,
        attached_to: None,
    })
}

/// A resource's definition, or `None` where an earlier export already defined it. Needs
/// nothing but the item, so resources are defined in parallel.
fn resource_definition(
    e: &Entry,
    by_id: &ById,
    opts: &ImportOptions,
) -> Option<Definition<'static>> {
    let v = &e.value;
    let id = str_at(v, &["id"])?;
    if defined_before(by_id, e) {
        return None;
    }
    let kind = str_at(v, &["type"]).unwrap_or("unknown").to_string();
    let tags = tags_of(v);
    let sensitive = tags.as_ref().is_some_and(|t| {
        t.iter().any(|(k, val)| {
            k.eq_ignore_ascii_case(&opts.sensitivity_tag) && val.trim().eq_ignore_ascii_case("high")
        })
    });
    let mut props = serde_json::Map::new();
    if let Some(l) = str_at(v, &["location"]) {
        props.insert("location".into(), Value::String(l.into()));
    }
    if sensitive {
        props.insert("sensitivity".into(), Value::String("high".into()));
    }
    for key in ["publicNetworkAccess"] {
        if let Some(x) = prop_str(v, key) {
            props.insert(key.into(), Value::String(x.into()));
        }
    }
    let props = serde_json::value::RawValue::from_string(Value::Object(props).to_string()).ok();
    Some(Definition {
        def_type: DefType::Resource,
        id: id.to_string().into(),
        kind: Some(kind.into()),
        name: str_at(v, &["name"]).map(|n| n.to_string().into()),
        parent: None,
        tags: tags.map(owned_tags),
        props: props.map(Cow::Owned),
        attached_to: None,
    })
}

/// Defines a resource and the managed identities it runs as.
fn resource(
    cx: &mut Ctx,
    e: &Entry,
    def: Definition<'static>,
    by_id: &ById,
    principals: &mut BTreeMap<String, Principal>,
) {
    let v = &e.value;
    let id = &*def.id;

    // Managed identities the resource runs as.
    let name = str_at(v, &["name"]).map(str::to_string);
    if let Some(pid) = str_at(v, &["identity", "principalId"]) {
        principal(principals, pid, "managed_identity", name.clone(), e.origin)
            .attached
            .insert(id.to_string());
    }
    if let Some(uas) = at(v, &["identity", "userAssignedIdentities"]).and_then(Value::as_object) {
        for (ua_id, ua) in uas {
            let pid = str_at(ua, &["principalId"])
                .map(str::to_string)
                .or_else(|| {
                    by_id
                        .get(fold(ua_id).as_str())
                        .and_then(|u| str_at(&u.value, &["properties", "principalId"]))
                        .map(str::to_string)
                });
            match pid {
                Some(pid) => {
                    let ua_name = ua_id.rsplit('/').next().map(str::to_string);
                    principal(principals, &pid, "managed_identity", ua_name, e.origin).attached.insert(id.to_string());
                }
                None => cx.warn(e.origin, format!("user-assigned identity `{ua_id}` has no principalId in the exports; its role assignments cannot be joined")),
            }
        }
    }
    // A user-assigned identity resource is itself a principal.
    if e.arm == Arm::UserAssignedIdentity {
        if let Some(pid) = str_at(v, &["properties", "principalId"]) {
            principal(principals, pid, "managed_identity", name, e.origin);
        }
    }
    cx.push(Record::Define(def), e.origin);
    cx.used(e.origin);
}

/// The principal of this id (ids are compared case-insensitively: AzureHound upper-cases
/// them, `az` does not), created with this kind if new.
pub(crate) fn principal<'a>(
    map: &'a mut BTreeMap<String, Principal>,
    id: &str,
    kind: &'static str,
    name: Option<String>,
    origin: Origin,
) -> &'a mut Principal {
    known_principal(map, id, kind, false, name, origin)
}

fn known_principal<'a>(
    map: &'a mut BTreeMap<String, Principal>,
    id: &str,
    kind: &'static str,
    guessed: bool,
    name: Option<String>,
    origin: Origin,
) -> &'a mut Principal {
    let id = id.trim();
    let p = map.entry(fold(id)).or_insert(Principal {
        id: id.to_string(),
        kind,
        guessed,
        name: None,
        attached: BTreeSet::new(),
        origin,
    });
    if id < p.id.as_str() {
        p.id = id.to_string();
    }
    if p.guessed && !guessed {
        p.kind = kind;
        p.guessed = false;
    }
    // A managed identity is a service principal to RBAC; the more specific kind wins.
    if p.kind == "service_principal" && kind == "managed_identity" {
        p.kind = kind;
    }
    if p.name.is_none() {
        p.name = name;
    }
    p
}

/// One role assignment (ARM, an `az role assignment list` row, or the ARM object inside an
/// AzureHound item); whether it gave a record.
pub(crate) fn assignment(
    cx: &mut Ctx,
    v: &Value,
    origin: Origin,
    principals: &mut BTreeMap<String, Principal>,
    known_roles: &BTreeSet<String>,
) -> bool {
    let by_id = prop_str(v, "roleDefinitionId");
    let by_name = prop_str(v, "roleDefinitionName");
    // A GUID neither built in nor exported is resolved by the name `az` puts beside it;
    // without one the exports are incomplete, and that is reported.
    let role = match (by_id, by_name) {
        (Some(id), name) => match crate::ids::role_guid(id) {
            Some(g) if !known_roles.contains(&g) => match name {
                Some(n) => Some(n),
                None => {
                    // Kept (with --keep-going) so the graph still shows who was assigned what.
                    cx.problem(origin, format!("role definition `{g}` matches no role definition in the exports and no built-in role, so the assignment grants nothing (export the definitions with `az role definition list`)"));
                    Some(id)
                }
            },
            _ => Some(id),
        },
        (None, name) => name,
    };
    let (Some(pid), Some(role)) = (prop_str(v, "principalId"), role) else {
        cx.warn(
            origin,
            "role assignment without principalId or roleDefinitionId; skipped".into(),
        );
        return false;
    };
    let scope = prop_str(v, "scope").map(str::to_string).or_else(|| {
        str_at(v, &["id"]).and_then(|id| {
            let lower = id.to_ascii_lowercase();
            lower
                .find("/providers/microsoft.authorization/roleassignments/")
                .map(|i| {
                    if i == 0 {
                        "/".to_string()
                    } else {
                        id[..i].to_string()
                    }
                })
        })
    });
    let Some(scope) = scope else {
        cx.warn(origin, "role assignment without a scope; skipped".into());
        return false;
    };
    // A deleted principal shows as `Unknown`: it is kept as a referenced-only identity of
    // unknown kind rather than guessed to be a service principal.
    // Without a principal type (AzureHound keeps none) a service principal is assumed,
    // until another export says what the principal is.
    let kind = match prop_str(v, "principalType")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("user") => Some(("user", false)),
        Some("group") | Some("foreigngroup") => Some(("group", false)),
        Some("serviceprincipal") | Some("managedidentity") => Some(("service_principal", false)),
        None => Some(("service_principal", true)),
        Some(_) => None,
    };
    let name = prop_str(v, "principalName").map(str::to_string);
    if let Some((kind, guessed)) = kind {
        known_principal(principals, pid, kind, guessed, name, origin);
    }
    cx.push(
        Record::RoleAssignment {
            principal: pid.to_string().into(),
            role: role.to_string().into(),
            scope: scope.into(),
            condition: prop_str(v, "condition").map(|c| c.to_string().into()),
        },
        origin,
    );
    true
}

/// Role definition GUIDs that resolve: built in, or exported.
fn known_role_guids(model: &Model) -> BTreeSet<String> {
    let mut known: BTreeSet<String> = crate::graph::roles::BUILTIN
        .iter()
        .map(|(_, g, _)| g.to_string())
        .collect();
    for e in model
        .entries
        .iter()
        .filter(|e| e.kind == Kind::RoleDefinition)
    {
        for key in ["name", "id"] {
            if let Some(g) = str_at(&e.value, &[key]).and_then(crate::ids::role_guid) {
                known.insert(g);
            }
        }
    }
    known
}

fn role_definition(cx: &mut Ctx, e: &Entry) {
    let v = &e.value;
    let Some(name) = prop_str(v, "roleName") else {
        cx.warn(e.origin, "role definition without roleName; skipped".into());
        return;
    };
    let id = str_at(v, &["name"])
        .or_else(|| str_at(v, &["id"]))
        .map(str::to_string);
    let role_type = prop_str(v, "roleType")
        .or_else(|| prop_str(v, "type"))
        .unwrap_or("");
    let custom = role_type.eq_ignore_ascii_case("CustomRole");
    // Built-in roles keep the format's table; custom roles are judged by their permissions.
    let privileged = custom.then(|| super::roles::privileged_by(v).is_some());
    cx.push(
        Record::Role {
            name: name.to_string().into(),
            id: id.map(Into::into),
            privileged,
            actions: None,
        },
        e.origin,
    );
    cx.used(e.origin);
}

fn directory_object(cx: &mut Ctx, e: &Entry, principals: &mut BTreeMap<String, Principal>) {
    let v = &e.value;
    let (Some(id), Some(kind)) = (str_at(v, &["id"]), directory_kind(v)) else {
        cx.warn(
            e.origin,
            "directory object without a text `id`; skipped".into(),
        );
        return;
    };
    let name = str_at(v, &["displayName"])
        .or_else(|| str_at(v, &["userPrincipalName"]))
        .map(str::to_string);
    principal(principals, id, kind, name, e.origin);
    cx.used(e.origin);
}

/// A member listed by `az ad group member list`, whose group the file's path names. The
/// group's own object (`az ad group show` saved under the same name) is not its member.
fn group_member(
    cx: &mut Ctx,
    e: &Entry,
    model: &Model,
    principals: &mut BTreeMap<String, Principal>,
) {
    let Some(group) = model.member_group.get(&e.origin.file) else {
        return directory_object(cx, e, principals);
    };
    directory_object(cx, e, principals);
    let Some(member) = str_at(&e.value, &["id"]) else {
        return;
    };
    if fold(member) == fold(group) {
        return;
    }
    principal(principals, group, "group", None, e.origin);
    cx.push(
        Record::Membership {
            group: group.clone().into(),
            member: member.to_string().into(),
        },
        e.origin,
    );
}

/// What an item made on its own, before the items are taken in order.
enum Pre {
    Finding(Box<Made>),
    Resource(Box<Definition<'static>>),
    Nothing,
}

#[derive(Default)]
pub(crate) struct Made {
    /// The item did not carry all it needed and assessment metadata was looked up.
    metadata_wanted: bool,
    finding: Option<Finding<'static>>,
    /// A warning about the item (with or without a finding).
    note: Option<String>,
}

impl Ctx<'_> {
    fn take(&mut self, made: Made, o: Origin) {
        if let Some(n) = made.note {
            self.warn(o, n);
        }
        if let Some(f) = made.finding {
            // The moment the item speaks of, for the snapshot's `taken_at`.
            let time = match f.class {
                FindingClass::Recommendation => f.last_seen.as_deref(),
                FindingClass::Alert => f.first_seen.as_deref(),
            };
            self.seen_time(time);
            self.push(Record::Finding(f), o);
            self.used(o);
        }
    }
}

fn level(s: &str) -> Option<Level> {
    match s.trim().to_ascii_lowercase().as_str() {
        "informational" | "info" => Some(Level::Low),
        other => Level::parse(other),
    }
}

/// Assessment metadata by assessment key (the GUID), for severity, title and category.
fn assessment_metadata(model: &Model) -> HashMap<String, &Value> {
    model
        .entries
        .iter()
        .filter(|e| e.kind == Kind::AssessmentMetadata)
        .filter_map(|e| str_at(&e.value, &["name"]).map(|n| (fold(n), &e.value)))
        .collect()
}

/// Every field of the source item, as one line of JSON: its own text where the file kept
/// it (whitespace outside strings removed), else the parsed item written out again.
fn raw_props(v: &Value, text: Option<&str>) -> Option<String> {
    Some(match text {
        Some(t) => minified(t),
        None => v.to_string(),
    })
}

/// JSON text without the whitespace between tokens; strings are copied as they are, a
/// run at a time (most of a finding's text is inside strings).
fn minified(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'"' {
            let start = i;
            i += 1;
            // To the closing quote, stepping over escapes.
            while let Some(at) = b[i.min(b.len())..]
                .iter()
                .position(|&x| x == b'"' || x == b'\\')
            {
                i += at;
                if b[i] == b'"' {
                    break;
                }
                i += 2;
            }
            i = (i + 1).min(b.len());
            out.extend_from_slice(&b[start..i]);
        } else {
            if !c.is_ascii_whitespace() {
                out.push(c);
            }
            i += 1;
        }
    }
    // Only ASCII whitespace between tokens was dropped, so the text is still UTF-8.
    String::from_utf8(out).unwrap_or_else(|_| text.to_string())
}

/// The finding of an item that needs nothing from other items (every alert; an assessment
/// that carries its own title, severity and category), made as soon as the item is
/// parsed so its tree need not be kept; `None` for an assessment that needs metadata.
pub(crate) fn make_alone(kind: Kind, v: &Value, text: Option<&str>) -> Option<Made> {
    match kind {
        Kind::Alert => Some(alert(v, text)),
        Kind::Assessment | Kind::RecommendationRow => {
            let made = assessment(v, None, text);
            (!made.metadata_wanted).then_some(made)
        }
        _ => None,
    }
}

/// `metadata` is `None` while the other files' metadata is not yet known: an item that
/// needs it then comes back with `metadata_wanted` set and nothing else made.
fn assessment(v: &Value, metadata: Option<&HashMap<String, &Value>>, text: Option<&str>) -> Made {
    let mut made = Made::default();
    let id = str_at(v, &["id"])
        .or_else(|| get(v, "RecommendationId").and_then(Value::as_str))
        .map(str::to_string);
    let key = str_at(v, &["name"])
        .map(fold)
        .or_else(|| id.as_ref().map(|i| fold(i.rsplit('/').next().unwrap_or(i))));
    // Looked up only where the item itself does not say, and noted, so that an item that
    // needed it can be made again once every file's metadata is known.
    let wanted = std::cell::Cell::new(false);
    let meta = || {
        wanted.set(true);
        key.as_ref()
            .and_then(|k| metadata.and_then(|m| m.get(k)))
            .copied()
    };
    let resource = str_at(v, &["properties", "resourceDetails", "id"])
        .or_else(|| str_at(v, &["properties", "resourceDetails", "nativeResourceId"]))
        .or_else(|| str_at(v, &["properties", "resourceDetails", "ResourceId"]))
        .or_else(|| get(v, "AssessedResourceId").and_then(Value::as_str))
        .map(str::to_string)
        .or_else(|| {
            id.as_ref().and_then(|i| {
                let lower = i.to_ascii_lowercase();
                lower
                    .find("/providers/microsoft.security/assessments/")
                    .map(|p| i[..p].to_string())
            })
        });
    let (Some(id), Some(resource)) = (id, resource) else {
        made.note = Some("assessment without an id or the resource it assesses; skipped".into());
        return made;
    };
    let title = prop_str(v, "displayName")
        .or_else(|| str_at(v, &["properties", "metadata", "displayName"]))
        .or_else(|| meta().and_then(|m| str_at(m, &["properties", "displayName"])))
        .or_else(|| get(v, "RecommendationDisplayName").and_then(Value::as_str))
        .or_else(|| get(v, "RecommendationName").and_then(Value::as_str))
        .unwrap_or("(untitled assessment)")
        .to_string();
    let sev_text = str_at(v, &["properties", "metadata", "severity"])
        .or_else(|| meta().and_then(|m| str_at(m, &["properties", "severity"])))
        .or_else(|| get(v, "RecommendationSeverity").and_then(Value::as_str));
    let severity = match sev_text.and_then(level) {
        Some(l) => l,
        None => {
            made.note = Some(format!("assessment `{title}` has no severity (no assessment metadata in the exports); taken as low"));
            Level::Low
        }
    };
    let code = str_at(v, &["properties", "status", "code"])
        .or_else(|| get(v, "RecommendationState").and_then(Value::as_str))
        .unwrap_or("Unhealthy");
    let state = match code.to_ascii_lowercase().as_str() {
        "healthy" => "healthy",
        "notapplicable" | "not applicable" => "notapplicable",
        _ => "unhealthy",
    };
    let category = at(v, &["properties", "metadata", "categories"])
        .or_else(|| meta().and_then(|m| at(m, &["properties", "categories"])))
        .and_then(Value::as_array)
        .and_then(|c| c.first())
        .and_then(Value::as_str)
        .or_else(|| get(v, "Category").and_then(Value::as_str))
        .map(str::to_string);
    if metadata.is_none() && wanted.get() {
        // Made again once the metadata is known: the rest would be thrown away.
        made.metadata_wanted = true;
        return made;
    }
    let first = str_at(v, &["properties", "status", "firstEvaluationDate"]).map(str::to_string);
    let last = str_at(v, &["properties", "status", "statusChangeDate"])
        .or_else(|| get(v, "TimeGenerated").and_then(Value::as_str))
        .map(str::to_string);
    made.finding = Some(Finding {
        id: id.into(),
        resource: resource.into(),
        class: FindingClass::Recommendation,
        title: title.into(),
        severity,
        state: state.into(),
        category: category.map(Into::into),
        techniques: Vec::new(),
        first_seen: first.map(Into::into),
        last_seen: last.map(Into::into),
        source_id: key.map(Into::into),
        props: raw_props(v, text).map(Into::into),
    });
    made
}

fn techniques(v: &Value) -> Vec<String> {
    let mut out = BTreeSet::new();
    for key in ["techniques", "subTechniques", "Techniques", "SubTechniques"] {
        match prop(v, key) {
            Some(Value::Array(a)) => out.extend(
                a.iter()
                    .filter_map(|t| t.as_str().map(|s| s.trim().to_string())),
            ),
            Some(Value::String(s)) => out.extend(
                s.split([',', ';'])
                    .map(|t| t.trim().to_string())
                    .filter(|t| !t.is_empty()),
            ),
            _ => {}
        }
    }
    out.into_iter().collect()
}

fn alert(v: &Value, text: Option<&str>) -> Made {
    let mut made = Made::default();
    let resource = at(v, &["properties", "resourceIdentifiers"])
        .or_else(|| get(v, "ResourceIdentifiers"))
        .and_then(Value::as_array)
        .and_then(|ids| ids.iter().find_map(|r| str_at(r, &["azureResourceId"])))
        .or_else(|| get(v, "AzureResourceId").and_then(Value::as_str))
        .or_else(|| get(v, "ResourceId").and_then(Value::as_str))
        .or_else(|| prop_str(v, "compromisedEntity").filter(|c| c.starts_with('/')))
        .map(str::to_string);
    let id = str_at(v, &["id"])
        .or_else(|| prop_str(v, "systemAlertId"))
        .or_else(|| get(v, "SystemAlertId").and_then(Value::as_str))
        .map(str::to_string);
    let (Some(id), Some(resource)) = (id, resource) else {
        made.note = Some("alert without an id or an Azure resource it concerns; skipped".into());
        return made;
    };
    let title = prop_str(v, "alertDisplayName")
        .or_else(|| get(v, "AlertDisplayName").and_then(Value::as_str))
        .or_else(|| get(v, "AlertName").and_then(Value::as_str))
        .unwrap_or("(untitled alert)")
        .to_string();
    let severity = prop_str(v, "severity")
        .or_else(|| get(v, "AlertSeverity").and_then(Value::as_str))
        .and_then(level)
        .unwrap_or(Level::Low);
    let status = prop_str(v, "status")
        .unwrap_or("Active")
        .to_ascii_lowercase();
    let state = match status.as_str() {
        "resolved" => "resolved",
        "dismissed" => "dismissed",
        _ => "active",
    };
    let start = prop_str(v, "startTimeUtc")
        .or_else(|| prop_str(v, "timeGeneratedUtc"))
        .or_else(|| get(v, "TimeGenerated").and_then(Value::as_str))
        .map(str::to_string);
    made.finding = Some(Finding {
        id: id.into(),
        resource: resource.into(),
        class: FindingClass::Alert,
        title: title.into(),
        severity,
        state: state.into(),
        category: prop_str(v, "intent").map(|c| c.to_string().into()),
        techniques: techniques(v),
        first_seen: start.map(Into::into),
        last_seen: None,
        source_id: prop_str(v, "alertType").map(|c| c.to_string().into()),
        props: raw_props(v, text).map(Into::into),
    });
    made
}

/// NSG rules of one NSG object (custom and default rules), and the rules that could not
/// be read.
fn nsg_rules(v: &Value) -> (Vec<nsg::Rule>, Vec<String>) {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for key in ["securityRules", "defaultSecurityRules"] {
        for r in at(v, &["properties", key])
            .or_else(|| get(v, key))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            match rule(r) {
                Ok(x) => out.push(x),
                Err(p) => problems.push(p),
            }
        }
    }
    (out, problems)
}

/// One rule, from ARM (`properties.*`) or effective-NSG (flat) shape. A port range that
/// cannot be read makes the rule unusable: it is reported and left out.
fn rule(r: &Value) -> Result<nsg::Rule, String> {
    let f = |k: &str| prop(r, k);
    let list = |one: &str, many: &str| -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        if let Some(s) = f(one).and_then(Value::as_str) {
            v.push(s.to_string());
        }
        if let Some(a) = f(many).and_then(Value::as_array) {
            v.extend(a.iter().filter_map(|x| x.as_str().map(str::to_string)));
        }
        v
    };
    let name = str_at(r, &["name"]).unwrap_or("").to_string();
    let mut ports = Vec::new();
    for p in list("destinationPortRange", "destinationPortRanges") {
        match nsg::parse_ports(&p) {
            Some(x) => ports.push(x),
            None => return Err(format!("NSG rule `{name}` has the port range `{p}`, which is not a port, `a-b` or `*`; the rule is ignored")),
        }
    }
    let mut sources = list("sourceAddressPrefix", "sourceAddressPrefixes");
    if let Some(a) = f("expandedSourceAddressPrefix").and_then(Value::as_array) {
        sources.extend(a.iter().filter_map(|x| x.as_str().map(str::to_string)));
    }
    Ok(nsg::Rule {
        name,
        priority: f("priority")
            .and_then(Value::as_u64)
            .unwrap_or(u64::from(u32::MAX)) as u32,
        allow: f("access")
            .and_then(Value::as_str)
            .is_some_and(|a| a.eq_ignore_ascii_case("allow")),
        inbound: f("direction")
            .and_then(Value::as_str)
            .is_none_or(|d| d.eq_ignore_ascii_case("inbound")),
        protocol: f("protocol")
            .and_then(Value::as_str)
            .unwrap_or("*")
            .to_ascii_lowercase(),
        sources,
        ports,
    })
}

pub(crate) fn nsg_allowed(v: &Value, src: Source) -> Result<Vec<PortRange>, String> {
    let (rules, problems) = nsg_rules(v);
    match problems.into_iter().next() {
        Some(p) => Err(p),
        None => Ok(nsg::allowed(&rules, src)),
    }
}

pub(crate) fn effective_allowed(v: &Value, src: Source) -> Result<Vec<PortRange>, String> {
    let rules = get(v, "effectiveSecurityRules")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(rule).collect::<Result<Vec<_>, _>>())
        .unwrap_or(Ok(Vec::new()))?;
    Ok(nsg::allowed(&rules, src))
}

/// Port ranges as the native format writes them.
fn port_list(ps: &[PortRange]) -> Option<Vec<PortRange>> {
    (ps != [PortRange::ALL]).then(|| ps.to_vec())
}

/// Something with an address in a virtual network: a NIC (of a VM or a private endpoint),
/// a scale set, or a service integrated into a subnet (web app, application gateway,
/// container app environment), which sends but is not reached through a NIC.
struct Endpoint {
    owner: String,
    nic: Option<String>,
    ip: Option<Ipv4Addr>,
    subnets: Vec<String>,
    nsg: Option<String>,
    /// Has a public IP (NICs, scale sets).
    public: bool,
    standard_sku: bool,
    /// Can be reached through its NSGs (false: only sends).
    receives: bool,
    /// Opens connections (false for private endpoints, which only receive).
    sends: bool,
    origin: Origin,
}

/// Indexes of the network objects, built once.
#[derive(Default)]
struct Net {
    subnet_nsg: HashMap<String, String>,
    subnet_prefix: HashMap<String, String>,
    peers: Vec<(String, String)>,
    nic_of_pip: HashMap<String, String>,
    pip_standard: HashMap<String, bool>,
    vm_of_nic: HashMap<String, String>,
    service_of_pe: HashMap<String, String>,
    env_subnet: HashMap<String, String>,
}

fn ids_in<'a>(v: &'a Value, path: &[&str], inner: &[&str]) -> Vec<&'a str> {
    at(v, path)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|x| str_at(x, inner)).collect())
        .unwrap_or_default()
}

fn index_network(by_id: &ById) -> Net {
    let mut n = Net::default();
    let subnet = |n: &mut Net, s: &Value| {
        if let Some(sid) = str_at(s, &["id"]) {
            if let Some(nsg) = str_at(s, &["properties", "networkSecurityGroup", "id"]) {
                n.subnet_nsg.insert(fold(sid), fold(nsg));
            }
            let prefix = str_at(s, &["properties", "addressPrefix"]).or_else(|| {
                at(s, &["properties", "addressPrefixes"])
                    .and_then(Value::as_array)
                    .and_then(|a| a.first())
                    .and_then(Value::as_str)
            });
            if let Some(p) = prefix {
                n.subnet_prefix.insert(fold(sid), p.to_string());
            }
        }
    };
    for (&id, e) in by_id {
        if e.arm == Arm::Other {
            continue;
        }
        let v = &e.value;
        let id = id.to_string();
        match e.arm {
            Arm::VirtualNetwork => {
                for s in at(v, &["properties", "subnets"])
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    subnet(&mut n, s);
                }
                for p in at(v, &["properties", "virtualNetworkPeerings"])
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let connected = str_at(p, &["properties", "peeringState"])
                        .is_none_or(|s| s.eq_ignore_ascii_case("connected"));
                    if let (true, Some(r)) = (
                        connected,
                        str_at(p, &["properties", "remoteVirtualNetwork", "id"]),
                    ) {
                        n.peers.push((id.clone(), fold(r)));
                    }
                }
            }
            Arm::Subnet => subnet(&mut n, v),
            Arm::PublicIp => {
                if let Some(cfg) = str_at(v, &["properties", "ipConfiguration", "id"]) {
                    let lower = fold(cfg);
                    if let Some(i) = lower.find("/ipconfigurations/") {
                        n.nic_of_pip.insert(id.clone(), lower[..i].to_string());
                    }
                }
                let standard =
                    str_at(v, &["sku", "name"]).is_some_and(|s| s.eq_ignore_ascii_case("standard"));
                n.pip_standard.insert(id, standard);
            }
            Arm::VirtualMachine => {
                for nic in ids_in(
                    v,
                    &["properties", "networkProfile", "networkInterfaces"],
                    &["id"],
                ) {
                    if let Some(vm) = str_at(v, &["id"]) {
                        n.vm_of_nic.insert(fold(nic), vm.to_string());
                    }
                }
            }
            Arm::PrivateEndpoint => {
                let service = [
                    "privateLinkServiceConnections",
                    "manualPrivateLinkServiceConnections",
                ]
                .iter()
                .find_map(|k| {
                    ids_in(
                        v,
                        &["properties", k],
                        &["properties", "privateLinkServiceId"],
                    )
                    .first()
                    .copied()
                });
                if let Some(svc) = service {
                    n.service_of_pe.insert(id.clone(), svc.to_string());
                    for nic in ids_in(v, &["properties", "networkInterfaces"], &["id"]) {
                        n.service_of_pe.insert(fold(nic), svc.to_string());
                    }
                }
            }
            Arm::ManagedEnvironment => {
                if let Some(sub) = str_at(
                    v,
                    &["properties", "vnetConfiguration", "infrastructureSubnetId"],
                ) {
                    n.env_subnet.insert(id, fold(sub));
                }
            }
            _ => {}
        }
    }
    n
}

fn endpoints(by_id: &ById, net: &Net) -> Vec<Endpoint> {
    let public_nics: BTreeSet<&String> = net.nic_of_pip.values().collect();
    let mut out = Vec::new();
    let subnet_addr = |s: &str| net.subnet_prefix.get(s).and_then(|p| nsg::address(p));
    for (&fid, e) in by_id {
        let endpoint = matches!(
            e.arm,
            Arm::NetworkInterface
                | Arm::ScaleSet
                | Arm::WebSite
                | Arm::ApplicationGateway
                | Arm::ContainerApp
        );
        let v = &e.value;
        let Some(id) = str_at(v, &["id"]).filter(|_| endpoint) else {
            continue;
        };
        let fid = fid.to_string();
        match e.arm {
            Arm::NetworkInterface => {
                let mut ep = Endpoint {
                    owner: id.to_string(),
                    nic: Some(fid.clone()),
                    ip: None,
                    subnets: Vec::new(),
                    nsg: str_at(v, &["properties", "networkSecurityGroup", "id"]).map(fold),
                    public: public_nics.contains(&fid),
                    standard_sku: false,
                    receives: true,
                    sends: true,
                    origin: e.origin,
                };
                for c in at(v, &["properties", "ipConfigurations"])
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(p) = str_at(c, &["properties", "publicIPAddress", "id"]) {
                        ep.public = true;
                        ep.standard_sku |= net.pip_standard.get(&fold(p)).copied().unwrap_or(false);
                    }
                    if let Some(s) = str_at(c, &["properties", "subnet", "id"]) {
                        ep.subnets.push(fold(s));
                    }
                    if ep.ip.is_none() {
                        ep.ip =
                            str_at(c, &["properties", "privateIPAddress"]).and_then(nsg::address);
                    }
                }
                let pe = str_at(v, &["properties", "privateEndpoint", "id"]).map(fold);
                ep.sends = pe.is_none() && !net.service_of_pe.contains_key(&fid);
                ep.owner = str_at(v, &["properties", "virtualMachine", "id"])
                    .map(str::to_string)
                    .or_else(|| net.vm_of_nic.get(&fid).cloned())
                    .or_else(|| pe.and_then(|p| net.service_of_pe.get(&p).cloned()))
                    .or_else(|| net.service_of_pe.get(&fid).cloned())
                    .unwrap_or_else(|| id.to_string());
                out.push(ep);
            }
            Arm::ScaleSet => {
                let cfgs = at(
                    v,
                    &[
                        "properties",
                        "virtualMachineProfile",
                        "networkProfile",
                        "networkInterfaceConfigurations",
                    ],
                );
                for c in cfgs.and_then(Value::as_array).into_iter().flatten() {
                    let ipcs = at(c, &["properties", "ipConfigurations"]).and_then(Value::as_array);
                    let subnets: Vec<String> = ipcs
                        .into_iter()
                        .flatten()
                        .filter_map(|i| str_at(i, &["properties", "subnet", "id"]).map(fold))
                        .collect();
                    out.push(Endpoint {
                        owner: id.to_string(),
                        nic: None,
                        // Instances have no address in the export: their subnet stands for them.
                        ip: subnets.first().and_then(|s| subnet_addr(s)),
                        subnets,
                        nsg: str_at(c, &["properties", "networkSecurityGroup", "id"]).map(fold),
                        public: ipcs.into_iter().flatten().any(|i| {
                            at(i, &["properties", "publicIPAddressConfiguration"]).is_some()
                        }),
                        standard_sku: false,
                        receives: true,
                        sends: true,
                        origin: e.origin,
                    });
                }
            }
            Arm::WebSite | Arm::ApplicationGateway | Arm::ContainerApp => {
                let subnet = match e.arm {
                    Arm::WebSite => str_at(v, &["properties", "virtualNetworkSubnetId"]).map(fold),
                    Arm::ApplicationGateway => ids_in(
                        v,
                        &["properties", "gatewayIPConfigurations"],
                        &["properties", "subnet", "id"],
                    )
                    .first()
                    .map(|s| fold(s)),
                    _ => prop_str(v, "managedEnvironmentId")
                        .or_else(|| prop_str(v, "environmentId"))
                        .and_then(|env| net.env_subnet.get(&fold(env)).cloned()),
                };
                if let Some(s) = subnet {
                    out.push(Endpoint {
                        owner: id.to_string(),
                        nic: None,
                        ip: subnet_addr(&s),
                        subnets: vec![s],
                        nsg: None,
                        public: false,
                        standard_sku: false,
                        receives: false,
                        sends: true,
                        origin: e.origin,
                    });
                }
            }
            _ => {}
        }
    }
    out
}

fn network(cx: &mut Ctx, model: &Model, by_id: &ById) {
    let net = index_network(by_id);
    let eps = endpoints(by_id, &net);
    // Effective NSG lists, by NIC: each entry is one NSG applied (subnet or NIC level).
    let mut effective: HashMap<String, Vec<Vec<nsg::Rule>>> = HashMap::new();
    for e in model
        .entries
        .iter()
        .filter(|e| e.kind == Kind::EffectiveNsg)
    {
        let nic = str_at(&e.value, &["association", "networkInterface", "id"]).map(fold);
        let mut rules = Vec::new();
        for r in get(&e.value, "effectiveSecurityRules")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            match rule(r) {
                Ok(x) => rules.push(x),
                Err(msg) => cx.problem(e.origin, msg),
            }
        }
        match nic {
            Some(n) => effective.entry(n).or_default().push(rules),
            None => cx.warn(
                e.origin,
                "effective NSG entry without association.networkInterface; not applied".into(),
            ),
        }
        cx.used(e.origin);
    }
    let mut nsgs: HashMap<String, Vec<nsg::Rule>> = HashMap::new();
    for (&id, e) in by_id {
        if e.arm == Arm::SecurityGroup {
            let (rules, problems) = nsg_rules(&e.value);
            for p in problems {
                cx.problem(e.origin, p);
            }
            nsgs.insert(id.to_string(), rules);
        }
    }
    // The NSGs that apply to an endpoint, as rule sets that must all allow.
    let applied = |ep: &Endpoint| -> Option<Vec<&[nsg::Rule]>> {
        if let Some(sets) = ep.nic.as_ref().and_then(|n| effective.get(n)) {
            return Some(sets.iter().map(Vec::as_slice).collect());
        }
        let mut sets: Vec<&[nsg::Rule]> = ep
            .subnets
            .iter()
            .filter_map(|s| net.subnet_nsg.get(s).and_then(|id| nsgs.get(id)))
            .map(Vec::as_slice)
            .collect();
        if let Some(r) = ep.nsg.as_ref().and_then(|id| nsgs.get(id)) {
            sets.push(r);
        }
        (!sets.is_empty()).then_some(sets)
    };
    let open_ports = |ep: &Endpoint, src: Source| -> Vec<PortRange> {
        match applied(ep) {
            Some(sets) => sets
                .iter()
                .map(|&rules| nsg::allowed(rules, src))
                .reduce(|a, b| nsg::intersect(&a, &b))
                .unwrap_or_default(),
            // No NSG at all: a Standard public IP is closed by default, a Basic one open.
            None if src == Source::Internet && ep.standard_sku => Vec::new(),
            None => vec![PortRange::ALL],
        }
    };

    // Internet exposure of endpoints with a public IP.
    let mut exposed: BTreeMap<String, (Vec<PortRange>, Origin)> = BTreeMap::new();
    for ep in eps.iter().filter(|ep| ep.public) {
        let ports = open_ports(ep, Source::Internet);
        if !ports.is_empty() {
            let entry = exposed
                .entry(ep.owner.clone())
                .or_insert((Vec::new(), ep.origin));
            entry.0 = nsg::normalise([entry.0.clone(), ports].concat());
        }
    }
    for (owner, (ports, origin)) in exposed {
        cx.push(
            Record::Exposure {
                resource: owner.into(),
                from: "internet".into(),
                ports: port_list(&ports),
                protocol: Some("tcp".into()),
                via: Some("nsg".into()),
            },
            origin,
        );
    }
    paas_exposure(cx, by_id);

    // Lateral reach: from each endpoint to those in its own virtual network and in the
    // networks directly peered with it (peering is not transitive in Azure).
    let vnet_of = |subnet: &str| subnet.find("/subnets/").map(|i| subnet[..i].to_string());
    let mut by_vnet: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, ep) in eps.iter().enumerate() {
        if let Some(v) = ep.subnets.first().and_then(|s| vnet_of(s)) {
            by_vnet.entry(v).or_default().push(i);
        }
    }
    let mut peers_of: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (a, b) in &net.peers {
        peers_of.entry(a).or_default().insert(b);
        peers_of.entry(b).or_default().insert(a);
    }
    let mut pairs: BTreeMap<(String, String), (Vec<PortRange>, Origin)> = BTreeMap::new();
    for (vnet, sources) in &by_vnet {
        let mut dests: Vec<usize> = sources.clone();
        for p in peers_of.get(vnet.as_str()).into_iter().flatten() {
            dests.extend(by_vnet.get(*p).into_iter().flatten());
        }
        if sources.len() * dests.len() > MAX_NICS_PER_NETWORK * MAX_NICS_PER_NETWORK {
            let o = eps[sources[0]].origin;
            cx.warn(o, format!("network `{vnet}` has {} endpoints reaching {}; lateral reach from it is not computed", sources.len(), dests.len()));
            continue;
        }
        for &a in sources {
            for &b in &dests {
                let (src, dst) = (&eps[a], &eps[b]);
                if !src.sends || !dst.receives || src.owner.eq_ignore_ascii_case(&dst.owner) {
                    continue;
                }
                let ports = open_ports(dst, Source::VirtualNetwork(src.ip));
                if ports.is_empty() {
                    continue;
                }
                let entry = pairs
                    .entry((src.owner.clone(), dst.owner.clone()))
                    .or_insert((Vec::new(), dst.origin));
                entry.0 = nsg::normalise([entry.0.clone(), ports].concat());
            }
        }
    }
    for ((from, to), (ports, origin)) in pairs {
        cx.push(
            Record::Reach {
                from: from.into(),
                to: to.into(),
                ports: port_list(&ports),
                protocol: Some("tcp".into()),
                via: Some("vnet".into()),
            },
            origin,
        );
    }
}

/// Public endpoints of platform services: storage accounts and key vaults whose public
/// network access is on and whose firewall's default action allows; SQL servers with a
/// firewall rule for the whole address space; web apps with public access on; container
/// apps with external ingress; application gateways on their frontend ports.
fn paas_exposure(cx: &mut Ctx, by_id: &ById) {
    let mut sql_open: BTreeSet<String> = BTreeSet::new();
    for (&key, e) in by_id {
        let v = &e.value;
        if e.arm == Arm::SqlFirewallRule {
            let start = prop_str(v, "startIpAddress").unwrap_or("");
            let end = prop_str(v, "endIpAddress").unwrap_or("");
            if start == "0.0.0.0" && end == "255.255.255.255" {
                if let Some(i) = key.find("/firewallrules/") {
                    sql_open.insert(key[..i].to_string());
                }
            }
        }
    }
    for (&key, e) in by_id {
        let v = &e.value;
        let public_endpoint = matches!(
            e.arm,
            Arm::StorageAccount
                | Arm::KeyVault
                | Arm::SqlServer
                | Arm::WebSite
                | Arm::ContainerApp
                | Arm::ApplicationGateway
        );
        let Some(id) = str_at(v, &["id"]).filter(|_| public_endpoint) else {
            continue;
        };
        let public_access =
            prop_str(v, "publicNetworkAccess").is_none_or(|p| !p.eq_ignore_ascii_case("disabled"));
        let acl_allows = at(v, &["properties", "networkAcls", "defaultAction"])
            .and_then(Value::as_str)
            .is_none_or(|a| a.eq_ignore_ascii_case("allow"));
        let ports: Vec<u16> = match e.arm {
            Arm::StorageAccount | Arm::KeyVault if public_access && acl_allows => vec![443],
            Arm::SqlServer if public_access && sql_open.contains(key) => vec![1433],
            Arm::WebSite if public_access => vec![443],
            Arm::ContainerApp
                if at(v, &["properties", "configuration", "ingress", "external"])
                    .and_then(Value::as_bool)
                    == Some(true) =>
            {
                vec![443]
            }
            Arm::ApplicationGateway => {
                let public = !ids_in(
                    v,
                    &["properties", "frontendIPConfigurations"],
                    &["properties", "publicIPAddress", "id"],
                )
                .is_empty();
                let ports: Vec<u16> = at(v, &["properties", "frontendPorts"])
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .filter_map(|p| at(p, &["properties", "port"]).and_then(Value::as_u64))
                            .filter_map(|p| u16::try_from(p).ok())
                            .collect()
                    })
                    .unwrap_or_default();
                if !public || ports.is_empty() {
                    continue;
                }
                ports
            }
            _ => continue,
        };
        cx.push(
            Record::Exposure {
                resource: id.to_string().into(),
                from: "internet".into(),
                ports: Some(ports.iter().map(|&p| PortRange { lo: p, hi: p }).collect()),
                protocol: Some("tcp".into()),
                via: Some("public endpoint".into()),
            },
            e.origin,
        );
    }
}

#[cfg(test)]
mod text_tests {
    #[test]
    fn minified_keeps_strings_and_drops_layout() {
        let text = "{\n  \"a b\": \"x \\\" y\",\n  \"c\": [ 1, 2 ],\n  \"d\": \"\\\\\"\n}";
        let m = super::minified(text);
        assert_eq!(m, r#"{"a b":"x \" y","c":[1,2],"d":"\\"}"#);
        let a: serde_json::Value = serde_json::from_str(text).unwrap();
        let b: serde_json::Value = serde_json::from_str(&m).unwrap();
        assert_eq!(a, b);
        let text = "[ \"é \\\\\" , \"\\\"\" ,\t{ \"ü\" : \"a\\\\\\\"b\" } ]";
        assert_eq!(super::minified(text), r#"["é \\","\"",{"ü":"a\\\"b"}]"#);
        // A string left open (never so in a parsed item) is copied to the end.
        assert_eq!(super::minified("[ \"a \\"), "[\"a \\");
    }
}
