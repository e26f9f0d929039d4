//! From the classified model to native records: containers, resources, identities, roles
//! and assignments, exposure computed from NSGs and public endpoints, reach inside virtual
//! networks, and Defender findings with every source field kept in `props`.

use super::collect::{at, get, prop, prop_str, str_at, Entry, Kind, Model};
use super::nsg::{self, Source};
use super::ImportOptions;
use crate::diag::Diagnostic;
use crate::ingest::{
    DefType, Definition, Finding, FindingClass, Level, Origin, PortRange, Record, Snapshot,
};
use indexmap::IndexMap;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};

pub(crate) struct Emitted {
    pub records: Vec<(Record, Origin)>,
    pub warnings: Vec<Diagnostic>,
    pub used_by_file: Vec<usize>,
    pub latest_timestamp: Option<String>,
    pub tenant: Option<String>,
}

/// More NICs than this in one network and pairwise reach is not computed (with a warning).
const MAX_NICS_PER_NETWORK: usize = 2000;

fn fold(s: &str) -> String {
    s.trim().to_ascii_lowercase()
}

/// An identity seen in the exports.
struct Principal {
    kind: &'static str,
    name: Option<String>,
    attached: BTreeSet<String>,
    origin: Origin,
}

struct Ctx<'a> {
    files: &'a [String],
    out: Vec<(Record, Origin)>,
    warnings: Vec<Diagnostic>,
    used: Vec<usize>,
    latest: Option<String>,
    tenants: BTreeSet<String>,
}

impl Ctx<'_> {
    fn push(&mut self, r: Record, o: Origin) {
        self.out.push((r, o));
    }
    fn used(&mut self, o: Origin) {
        if let Some(u) = self.used.get_mut(o.file as usize) {
            *u += 1;
        }
    }
    fn warn(&mut self, o: Origin, msg: String) {
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

pub(crate) fn emit(model: &Model, opts: &ImportOptions, files: &[String]) -> Emitted {
    let mut cx = Ctx {
        files,
        out: Vec::new(),
        warnings: Vec::new(),
        used: vec![0; files.len()],
        latest: None,
        tenants: BTreeSet::new(),
    };
    // First occurrence of each ARM id wins: the same resource often appears in several
    // exports (Resource Graph and REST), which is not a conflict.
    let mut by_id: IndexMap<String, &Entry> = IndexMap::new();
    for e in &model.entries {
        if let Some(id) = str_at(&e.value, &["id"]) {
            by_id.entry(fold(id)).or_insert(e);
        }
        if let Some(t) = prop_str(&e.value, "tenantId") {
            cx.tenants.insert(t.to_ascii_lowercase());
        }
    }
    let mut principals: BTreeMap<String, Principal> = BTreeMap::new();
    let metadata = assessment_metadata(model);

    for e in &model.entries {
        match e.kind {
            Kind::Subscription | Kind::ResourceGroup | Kind::ManagementGroup => {
                container(&mut cx, e, &by_id)
            }
            Kind::Resource => resource(&mut cx, e, &by_id, opts, &mut principals),
            Kind::RoleAssignment => assignment(&mut cx, e, &mut principals),
            Kind::RoleDefinition => role_definition(&mut cx, e),
            Kind::Assessment | Kind::RecommendationRow => assessment(&mut cx, e, &metadata),
            Kind::Alert => alert(&mut cx, e),
            Kind::AssessmentMetadata => cx.used(e.origin),
            Kind::EffectiveNsg => {}
            Kind::Principal => directory_object(&mut cx, e, &mut principals),
            Kind::Hound => hound(&mut cx, e, &mut principals),
        }
    }
    network(&mut cx, model, &by_id);
    for (id, p) in principals {
        cx.push(
            Record::Define(Definition {
                def_type: DefType::Identity,
                id,
                kind: Some(p.kind.to_string()),
                name: p.name.clone(),
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

fn container(cx: &mut Ctx, e: &Entry, _by_id: &IndexMap<String, &Entry>) {
    let v = &e.value;
    let Some(id) = str_at(v, &["id"]) else { return };
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
    let name = prop_str(v, "displayName")
        .or_else(|| str_at(v, &["name"]))
        .map(str::to_string);
    cx.push(
        Record::Define(Definition {
            def_type: DefType::Scope,
            id: id.to_string(),
            kind: Some(kind.into()),
            name,
            parent,
            tags: tags_of(v),
            props: None,
            attached_to: None,
        }),
        e.origin,
    );
    cx.used(e.origin);
}

fn resource(
    cx: &mut Ctx,
    e: &Entry,
    by_id: &IndexMap<String, &Entry>,
    opts: &ImportOptions,
    principals: &mut BTreeMap<String, Principal>,
) {
    let v = &e.value;
    let Some(id) = str_at(v, &["id"]) else { return };
    if by_id
        .get(&fold(id))
        .is_some_and(|first| !std::ptr::eq(*first, e))
    {
        return; // already emitted from an earlier export
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
    cx.push(
        Record::Define(Definition {
            def_type: DefType::Resource,
            id: id.to_string(),
            kind: Some(kind.clone()),
            name: str_at(v, &["name"]).map(str::to_string),
            parent: None,
            tags,
            props,
            attached_to: None,
        }),
        e.origin,
    );
    cx.used(e.origin);

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
                        .get(&fold(ua_id))
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
    if kind.eq_ignore_ascii_case("Microsoft.ManagedIdentity/userAssignedIdentities") {
        if let Some(pid) = str_at(v, &["properties", "principalId"]) {
            principal(principals, pid, "managed_identity", name, e.origin);
        }
    }
}

fn principal<'a>(
    map: &'a mut BTreeMap<String, Principal>,
    id: &str,
    kind: &'static str,
    name: Option<String>,
    origin: Origin,
) -> &'a mut Principal {
    let p = map.entry(id.trim().to_string()).or_insert(Principal {
        kind,
        name: None,
        attached: BTreeSet::new(),
        origin,
    });
    // A managed identity is a service principal to RBAC; the more specific kind wins.
    if p.kind == "service_principal" && kind == "managed_identity" {
        p.kind = kind;
    }
    if p.name.is_none() {
        p.name = name;
    }
    p
}

fn assignment(cx: &mut Ctx, e: &Entry, principals: &mut BTreeMap<String, Principal>) {
    let v = &e.value;
    let (Some(pid), Some(role)) = (
        prop_str(v, "principalId"),
        prop_str(v, "roleDefinitionId").or_else(|| prop_str(v, "roleDefinitionName")),
    ) else {
        cx.warn(
            e.origin,
            "role assignment without principalId or roleDefinitionId; skipped".into(),
        );
        return;
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
        cx.warn(e.origin, "role assignment without a scope; skipped".into());
        return;
    };
    let kind = match prop_str(v, "principalType")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("user") => "user",
        Some("group") | Some("foreigngroup") => "group",
        _ => "service_principal",
    };
    let name = prop_str(v, "principalName").map(str::to_string);
    principal(principals, pid, kind, name, e.origin);
    cx.push(
        Record::RoleAssignment {
            principal: pid.to_string(),
            role: role.to_string(),
            scope,
            condition: prop_str(v, "condition").map(str::to_string),
        },
        e.origin,
    );
    cx.used(e.origin);
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
            name: name.to_string(),
            id,
            privileged,
            actions: None,
        },
        e.origin,
    );
    cx.used(e.origin);
}

fn directory_object(cx: &mut Ctx, e: &Entry, principals: &mut BTreeMap<String, Principal>) {
    let v = &e.value;
    let Some(id) = str_at(v, &["id"]) else { return };
    let t = str_at(v, &["@odata.type"])
        .unwrap_or("")
        .to_ascii_lowercase();
    let kind = if t.ends_with("user") {
        "user"
    } else if t.ends_with("group") {
        "group"
    } else {
        "service_principal"
    };
    let name = str_at(v, &["displayName"])
        .or_else(|| str_at(v, &["userPrincipalName"]))
        .map(str::to_string);
    principal(principals, id, kind, name, e.origin);
    cx.used(e.origin);
}

/// AzureHound items: principals and group memberships (other kinds are reported skipped).
fn hound(cx: &mut Ctx, e: &Entry, principals: &mut BTreeMap<String, Principal>) {
    let v = &e.value;
    let kind = str_at(v, &["kind"]).unwrap_or("");
    let Some(data) = get(v, "data") else { return };
    match kind {
        "AZUser" | "AZGroup" | "AZServicePrincipal" => {
            let Some(id) = str_at(data, &["id"]) else {
                return;
            };
            let k = match kind {
                "AZUser" => "user",
                "AZGroup" => "group",
                _ => "service_principal",
            };
            let name = str_at(data, &["displayName"]).map(str::to_string);
            principal(principals, id, k, name, e.origin);
            cx.used(e.origin);
        }
        "AZGroupMember" => {
            let Some(members) = get(data, "members").and_then(Value::as_array) else {
                return;
            };
            for m in members {
                let group = str_at(m, &["groupId"]).or_else(|| str_at(data, &["groupId"]));
                let member = str_at(m, &["member", "id"]);
                if let (Some(g), Some(mid)) = (group, member) {
                    principal(principals, g, "group", None, e.origin);
                    cx.push(
                        Record::Membership {
                            group: g.to_string(),
                            member: mid.to_string(),
                        },
                        e.origin,
                    );
                }
            }
            cx.used(e.origin);
        }
        other => cx.warn(e.origin, format!("AzureHound kind `{other}` is not read")),
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

fn raw_props(v: &Value) -> Option<String> {
    Some(v.to_string())
}

fn assessment(cx: &mut Ctx, e: &Entry, metadata: &HashMap<String, &Value>) {
    let v = &e.value;
    let id = str_at(v, &["id"])
        .or_else(|| get(v, "RecommendationId").and_then(Value::as_str))
        .map(str::to_string);
    let key = str_at(v, &["name"])
        .map(fold)
        .or_else(|| id.as_ref().map(|i| fold(i.rsplit('/').next().unwrap_or(i))));
    let meta = key.as_ref().and_then(|k| metadata.get(k)).copied();
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
        cx.warn(
            e.origin,
            "assessment without an id or the resource it assesses; skipped".into(),
        );
        return;
    };
    let title = prop_str(v, "displayName")
        .or_else(|| str_at(v, &["properties", "metadata", "displayName"]))
        .or_else(|| meta.and_then(|m| str_at(m, &["properties", "displayName"])))
        .or_else(|| get(v, "RecommendationName").and_then(Value::as_str))
        .unwrap_or("(untitled assessment)")
        .to_string();
    let sev_text = str_at(v, &["properties", "metadata", "severity"])
        .or_else(|| meta.and_then(|m| str_at(m, &["properties", "severity"])))
        .or_else(|| get(v, "RecommendationSeverity").and_then(Value::as_str));
    let severity = match sev_text.and_then(level) {
        Some(l) => l,
        None => {
            cx.warn(e.origin, format!("assessment `{title}` has no severity (no assessment metadata in the exports); taken as low"));
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
        .or_else(|| meta.and_then(|m| at(m, &["properties", "categories"])))
        .and_then(Value::as_array)
        .and_then(|c| c.first())
        .and_then(Value::as_str)
        .or_else(|| get(v, "Category").and_then(Value::as_str))
        .map(str::to_string);
    let first = str_at(v, &["properties", "status", "firstEvaluationDate"]).map(str::to_string);
    let last = str_at(v, &["properties", "status", "statusChangeDate"])
        .or_else(|| get(v, "TimeGenerated").and_then(Value::as_str))
        .map(str::to_string);
    cx.seen_time(last.as_deref());
    cx.push(
        Record::Finding(Finding {
            id,
            resource,
            class: FindingClass::Recommendation,
            title,
            severity,
            state: state.into(),
            category,
            techniques: Vec::new(),
            first_seen: first,
            last_seen: last,
            source_id: key,
            props: raw_props(v),
        }),
        e.origin,
    );
    cx.used(e.origin);
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

fn alert(cx: &mut Ctx, e: &Entry) {
    let v = &e.value;
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
        cx.warn(
            e.origin,
            "alert without an id or an Azure resource it concerns; skipped".into(),
        );
        return;
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
    cx.seen_time(start.as_deref());
    cx.push(
        Record::Finding(Finding {
            id,
            resource,
            class: FindingClass::Alert,
            title,
            severity,
            state: state.into(),
            category: prop_str(v, "intent").map(str::to_string),
            techniques: techniques(v),
            first_seen: start,
            last_seen: None,
            source_id: prop_str(v, "alertType").map(str::to_string),
            props: raw_props(v),
        }),
        e.origin,
    );
    cx.used(e.origin);
}

/// NSG rules of one NSG object (custom and default rules).
fn nsg_rules(v: &Value) -> Vec<nsg::Rule> {
    let mut out = Vec::new();
    for key in ["securityRules", "defaultSecurityRules"] {
        if let Some(rules) = at(v, &["properties", key])
            .or_else(|| get(v, key))
            .and_then(Value::as_array)
        {
            out.extend(rules.iter().filter_map(rule));
        }
    }
    out
}

/// One rule, from ARM (`properties.*`) or effective-NSG (flat) shape.
fn rule(r: &Value) -> Option<nsg::Rule> {
    let f = |k: &str| prop(r, k);
    let list = |one: &str, many: &str, expanded: &str| -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        if let Some(s) = f(one).and_then(Value::as_str) {
            v.push(s.to_string());
        }
        for k in [many, expanded] {
            if let Some(a) = f(k).and_then(Value::as_array) {
                v.extend(a.iter().filter_map(|x| x.as_str().map(str::to_string)));
            }
        }
        v
    };
    let ports: Vec<PortRange> = list("destinationPortRange", "destinationPortRanges", "")
        .iter()
        .filter_map(|p| nsg::parse_ports(p))
        .collect();
    Some(nsg::Rule {
        name: str_at(r, &["name"]).unwrap_or("").to_string(),
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
        sources: list(
            "sourceAddressPrefix",
            "sourceAddressPrefixes",
            "expandedSourceAddressPrefix",
        ),
        ports,
    })
}

/// Port ranges as the native format writes them.
fn port_list(ps: &[PortRange]) -> Option<Vec<PortRange>> {
    (ps != [PortRange::ALL]).then(|| ps.to_vec())
}

struct Nic {
    id: String,
    owner: String,
    public: bool,
    standard_sku: bool,
    subnets: Vec<String>,
    nsg: Option<String>,
    origin: Origin,
}

fn network(cx: &mut Ctx, model: &Model, by_id: &IndexMap<String, &Entry>) {
    let type_of = |e: &Entry| {
        str_at(&e.value, &["type"])
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    // Subnet -> NSG, subnet -> vnet, vnet peerings.
    let mut subnet_nsg: HashMap<String, String> = HashMap::new();
    let mut peers: Vec<(String, String)> = Vec::new();
    let mut nic_of_pip: HashMap<String, String> = HashMap::new();
    let mut pip_standard: HashMap<String, bool> = HashMap::new();
    let mut vm_nics: HashMap<String, String> = HashMap::new();
    for e in by_id.values() {
        let v = &e.value;
        let t = type_of(e);
        if t == "microsoft.network/virtualnetworks" {
            let vid = str_at(v, &["id"]).map(fold).unwrap_or_default();
            for s in at(v, &["properties", "subnets"])
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let (Some(sid), Some(n)) = (
                    str_at(s, &["id"]),
                    str_at(s, &["properties", "networkSecurityGroup", "id"]),
                ) {
                    subnet_nsg.insert(fold(sid), fold(n));
                }
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
                    peers.push((vid.clone(), fold(r)));
                }
            }
        } else if t == "microsoft.network/virtualnetworks/subnets" {
            if let (Some(sid), Some(n)) = (
                str_at(v, &["id"]),
                str_at(v, &["properties", "networkSecurityGroup", "id"]),
            ) {
                subnet_nsg.insert(fold(sid), fold(n));
            }
        } else if t == "microsoft.network/publicipaddresses" {
            let pid = str_at(v, &["id"]).map(fold).unwrap_or_default();
            if let Some(cfg) = str_at(v, &["properties", "ipConfiguration", "id"]) {
                let lower = fold(cfg);
                if let Some(i) = lower.find("/ipconfigurations/") {
                    nic_of_pip.insert(pid.clone(), lower[..i].to_string());
                }
            }
            pip_standard.insert(
                pid,
                str_at(v, &["sku", "name"]).is_some_and(|s| s.eq_ignore_ascii_case("standard")),
            );
        } else if t == "microsoft.compute/virtualmachines" {
            for n in at(v, &["properties", "networkProfile", "networkInterfaces"])
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let (Some(nid), Some(vmid)) = (str_at(n, &["id"]), str_at(v, &["id"])) {
                    vm_nics.insert(fold(nid), vmid.to_string());
                }
            }
        }
    }
    let public_nics: BTreeSet<&String> = nic_of_pip.values().collect();
    let mut nics: Vec<Nic> = Vec::new();
    for e in by_id.values() {
        if type_of(e) != "microsoft.network/networkinterfaces" {
            continue;
        }
        let v = &e.value;
        let Some(id) = str_at(v, &["id"]) else {
            continue;
        };
        let fid = fold(id);
        let mut public = public_nics.contains(&fid);
        let mut standard = false;
        let mut subnets = Vec::new();
        for c in at(v, &["properties", "ipConfigurations"])
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(p) = str_at(c, &["properties", "publicIPAddress", "id"]) {
                public = true;
                standard |= pip_standard.get(&fold(p)).copied().unwrap_or(false);
            }
            if let Some(s) = str_at(c, &["properties", "subnet", "id"]) {
                subnets.push(fold(s));
            }
        }
        let owner = str_at(v, &["properties", "virtualMachine", "id"])
            .map(str::to_string)
            .or_else(|| vm_nics.get(&fid).cloned())
            .unwrap_or_else(|| id.to_string());
        nics.push(Nic {
            id: fid,
            owner,
            public,
            standard_sku: standard,
            subnets,
            nsg: str_at(v, &["properties", "networkSecurityGroup", "id"]).map(fold),
            origin: e.origin,
        });
    }
    // Effective NSG lists, by NIC: each entry is one NSG applied (subnet or NIC level).
    let mut effective: HashMap<String, Vec<Vec<nsg::Rule>>> = HashMap::new();
    for e in model
        .entries
        .iter()
        .filter(|e| e.kind == Kind::EffectiveNsg)
    {
        let nic = str_at(&e.value, &["association", "networkInterface", "id"]).map(fold);
        let rules: Vec<nsg::Rule> = get(&e.value, "effectiveSecurityRules")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(rule).collect())
            .unwrap_or_default();
        match nic {
            Some(n) => effective.entry(n).or_default().push(rules),
            None => cx.warn(
                e.origin,
                "effective NSG entry without association.networkInterface; not applied".into(),
            ),
        }
        cx.used(e.origin);
    }
    let nsg_of = |id: &str| by_id.get(id).map(|e| nsg_rules(&e.value));
    // The NSGs that apply to a NIC, as rule sets that must all allow.
    let applied = |n: &Nic| -> Option<Vec<Vec<nsg::Rule>>> {
        if let Some(sets) = effective.get(&n.id) {
            return Some(sets.clone());
        }
        let mut sets = Vec::new();
        for s in &n.subnets {
            if let Some(rules) = subnet_nsg.get(s).and_then(|id| nsg_of(id)) {
                sets.push(rules);
            }
        }
        if let Some(rules) = n.nsg.as_deref().and_then(nsg_of) {
            sets.push(rules);
        }
        (!sets.is_empty()).then_some(sets)
    };
    let open_ports = |n: &Nic, src: Source| -> Vec<PortRange> {
        match applied(n) {
            Some(sets) => sets
                .iter()
                .map(|rules| nsg::allowed(rules, src))
                .reduce(|a, b| nsg::intersect(&a, &b))
                .unwrap_or_default(),
            // No NSG at all: a Standard public IP is closed by default, a Basic one open.
            None if src == Source::Internet && n.standard_sku => Vec::new(),
            None => vec![PortRange::ALL],
        }
    };

    // Internet exposure of NICs with a public IP.
    let mut exposed: BTreeMap<String, (Vec<PortRange>, Origin)> = BTreeMap::new();
    for n in nics.iter().filter(|n| n.public) {
        let ports = open_ports(n, Source::Internet);
        if !ports.is_empty() {
            let entry = exposed
                .entry(n.owner.clone())
                .or_insert((Vec::new(), n.origin));
            entry.0 = nsg::normalise([entry.0.clone(), ports].concat());
        }
    }
    for (owner, (ports, origin)) in exposed {
        cx.push(
            Record::Exposure {
                resource: owner,
                from: "internet".into(),
                ports: port_list(&ports),
                protocol: Some("tcp".into()),
                via: Some("nsg".into()),
            },
            origin,
        );
    }
    paas_exposure(cx, by_id);

    // Lateral reach between NICs of one network (vnet and its peers).
    let vnet_of = |subnet: &str| subnet.find("/subnets/").map(|i| subnet[..i].to_string());
    let mut comp: BTreeMap<String, String> = BTreeMap::new();
    let find = |comp: &BTreeMap<String, String>, x: &str| -> String {
        let mut cur = x.to_string();
        while let Some(p) = comp.get(&cur).filter(|p| **p != cur) {
            cur = p.clone();
        }
        cur
    };
    for (a, b) in &peers {
        let (ra, rb) = (find(&comp, a), find(&comp, b));
        if ra != rb {
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            comp.insert(hi, lo);
        }
    }
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, n) in nics.iter().enumerate() {
        if let Some(v) = n.subnets.first().and_then(|s| vnet_of(s)) {
            groups.entry(find(&comp, &v)).or_default().push(i);
        }
    }
    for (net, members) in groups {
        if members.len() > MAX_NICS_PER_NETWORK {
            let o = nics[members[0]].origin;
            cx.warn(o, format!("network `{net}` has {} NICs; lateral reach inside it is not computed (more than {MAX_NICS_PER_NETWORK})", members.len()));
            continue;
        }
        let inbound: Vec<Vec<PortRange>> = members
            .iter()
            .map(|&i| open_ports(&nics[i], Source::VirtualNetwork))
            .collect();
        let mut pairs: BTreeMap<(String, String), (Vec<PortRange>, Origin)> = BTreeMap::new();
        for &a in &members {
            for (bi, &b) in members.iter().enumerate() {
                let (na, nb) = (&nics[a], &nics[b]);
                if na.owner.eq_ignore_ascii_case(&nb.owner) || inbound[bi].is_empty() {
                    continue;
                }
                let entry = pairs
                    .entry((na.owner.clone(), nb.owner.clone()))
                    .or_insert((Vec::new(), nb.origin));
                entry.0 = nsg::normalise([entry.0.clone(), inbound[bi].clone()].concat());
            }
        }
        for ((from, to), (ports, origin)) in pairs {
            cx.push(
                Record::Reach {
                    from,
                    to,
                    ports: port_list(&ports),
                    protocol: Some("tcp".into()),
                    via: Some("vnet".into()),
                },
                origin,
            );
        }
    }
}

/// Public endpoints of platform services: storage accounts and key vaults whose public
/// network access is on and whose firewall's default action allows; SQL servers with a
/// firewall rule for the whole address space; web apps with public access on.
fn paas_exposure(cx: &mut Ctx, by_id: &IndexMap<String, &Entry>) {
    let mut sql_open: BTreeSet<String> = BTreeSet::new();
    for e in by_id.values() {
        let v = &e.value;
        let t = str_at(v, &["type"]).unwrap_or("").to_ascii_lowercase();
        if t == "microsoft.sql/servers/firewallrules" {
            let start = prop_str(v, "startIpAddress").unwrap_or("");
            let end = prop_str(v, "endIpAddress").unwrap_or("");
            if start == "0.0.0.0" && end == "255.255.255.255" {
                if let Some(id) = str_at(v, &["id"]) {
                    let lower = fold(id);
                    if let Some(i) = lower.find("/firewallrules/") {
                        sql_open.insert(lower[..i].to_string());
                    }
                }
            }
        }
    }
    for e in by_id.values() {
        let v = &e.value;
        let Some(id) = str_at(v, &["id"]) else {
            continue;
        };
        let t = str_at(v, &["type"]).unwrap_or("").to_ascii_lowercase();
        let public_access =
            prop_str(v, "publicNetworkAccess").is_none_or(|p| !p.eq_ignore_ascii_case("disabled"));
        let acl_allows = at(v, &["properties", "networkAcls", "defaultAction"])
            .and_then(Value::as_str)
            .is_none_or(|a| a.eq_ignore_ascii_case("allow"));
        let port = match t.as_str() {
            "microsoft.storage/storageaccounts" | "microsoft.keyvault/vaults"
                if public_access && acl_allows =>
            {
                443
            }
            "microsoft.sql/servers" if public_access && sql_open.contains(&fold(id)) => 1433,
            "microsoft.web/sites" if public_access => 443,
            _ => continue,
        };
        cx.push(
            Record::Exposure {
                resource: id.to_string(),
                from: "internet".into(),
                ports: Some(vec![PortRange { lo: port, hi: port }]),
                protocol: Some("tcp".into()),
                via: Some("public endpoint".into()),
            },
            e.origin,
        );
    }
}

/// Native JSON Lines for a snapshot (used by `import azure -o`).
pub(crate) fn to_jsonl(snap: &Snapshot) -> String {
    use serde_json::json;
    let mut out = String::new();
    let m = &snap.meta;
    let mut head = json!({"type": "snapshot", "taken_at": m.taken_at});
    for (k, v) in [
        ("label", &m.label),
        ("tenant", &m.tenant),
        ("source", &m.source),
    ] {
        if let Some(v) = v {
            head[k] = json!(v);
        }
    }
    out.push_str(&head.to_string());
    out.push('\n');
    let ports = |p: &Option<Vec<PortRange>>| {
        p.as_ref().map(|ps| {
            ps.iter()
                .map(|r| {
                    if r.lo == r.hi {
                        json!(r.lo)
                    } else {
                        json!(format!("{}-{}", r.lo, r.hi))
                    }
                })
                .collect::<Vec<_>>()
        })
    };
    for r in &snap.records {
        let v = match r {
            Record::Define(d) => {
                let ty = match d.def_type {
                    DefType::Scope => "scope",
                    DefType::Resource => "resource",
                    DefType::Identity => "identity",
                };
                let mut v = json!({"type": ty, "id": d.id});
                if let Some(k) = &d.kind {
                    v["kind"] = json!(k);
                }
                if let Some(n) = &d.name {
                    v["name"] = json!(n);
                }
                if let Some(p) = &d.parent {
                    v["parent"] = json!(p);
                }
                if let Some(t) = &d.tags {
                    v["tags"] =
                        Value::Object(t.iter().map(|(k, x)| (k.clone(), json!(x))).collect());
                }
                if let Some(p) = &d.props {
                    v["props"] = serde_json::from_str(p.get()).unwrap_or(Value::Null);
                }
                if let Some(a) = &d.attached_to {
                    v["attached_to"] = json!(a);
                }
                v
            }
            Record::Membership { group, member } => {
                json!({"type": "membership", "group": group, "member": member})
            }
            Record::Role {
                name,
                id,
                privileged,
                actions,
            } => {
                let mut v = json!({"type": "role", "name": name});
                if let Some(i) = id {
                    v["id"] = json!(i);
                }
                if let Some(p) = privileged {
                    v["privileged"] = json!(p);
                }
                if let Some(a) = actions {
                    v["actions"] = json!(a);
                }
                v
            }
            Record::RoleAssignment {
                principal,
                role,
                scope,
                condition,
            } => {
                let mut v = json!({"type": "role_assignment", "principal": principal, "role": role, "scope": scope});
                if let Some(c) = condition {
                    v["condition"] = json!(c);
                }
                v
            }
            Record::Exposure {
                resource,
                from,
                ports: p,
                protocol,
                via,
            } => {
                let mut v = json!({"type": "exposure", "resource": resource, "from": from});
                if let Some(p) = ports(p) {
                    v["ports"] = json!(p);
                }
                if let Some(x) = protocol {
                    v["protocol"] = json!(x);
                }
                if let Some(x) = via {
                    v["via"] = json!(x);
                }
                v
            }
            Record::Reach {
                from,
                to,
                ports: p,
                protocol,
                via,
            } => {
                let mut v = json!({"type": "reach", "from": from, "to": to});
                if let Some(p) = ports(p) {
                    v["ports"] = json!(p);
                }
                if let Some(x) = protocol {
                    v["protocol"] = json!(x);
                }
                if let Some(x) = via {
                    v["via"] = json!(x);
                }
                v
            }
            Record::Finding(f) => {
                let mut v = json!({"type": "finding", "id": f.id, "resource": f.resource,
                    "class": match f.class { FindingClass::Recommendation => "recommendation", FindingClass::Alert => "alert" },
                    "title": f.title, "severity": f.severity.as_str(), "state": f.state});
                if let Some(c) = &f.category {
                    v["category"] = json!(c);
                }
                if !f.techniques.is_empty() {
                    v["techniques"] = json!(f.techniques);
                }
                if let Some(x) = &f.first_seen {
                    v["first_seen"] = json!(x);
                }
                if let Some(x) = &f.last_seen {
                    v["last_seen"] = json!(x);
                }
                if let Some(x) = &f.source_id {
                    v["source_id"] = json!(x);
                }
                if let Some(p) = &f.props {
                    v["props"] = serde_json::from_str(p).unwrap_or(Value::Null);
                }
                v
            }
        };
        out.push_str(&v.to_string());
        out.push('\n');
    }
    out
}
