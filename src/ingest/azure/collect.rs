//! Sorting export items into a typed model, by what each item is (its ARM `type`, or the
//! fields that identify `az` CLI, Defender export and Log Analytics shapes).

use super::emit::{make_alone, Made};
use super::hound::{self, Unwrapped};
use super::{ImportReport, Item, Skipped};
use crate::ingest::Origin;
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;

/// Case-insensitive field lookup: Resource Graph, ARM, exports and Log Analytics spell
/// the same field `properties`, `Properties` or `PROPERTIES`.
/// Objects in exports hold a handful of keys, so one pass over them beats hashing the key:
/// an exact match wins, else the first that differs only in case.
pub(crate) fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    let obj = v.as_object()?;
    let mut folded = None;
    for (k, val) in obj {
        if k == key {
            folded = Some(val);
            break;
        }
        if folded.is_none() && k.len() == key.len() && k.eq_ignore_ascii_case(key) {
            folded = Some(val);
        }
    }
    folded.filter(|v| !v.is_null())
}

/// A nested field, `path` segments looked up case-insensitively.
pub(crate) fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |cur, k| get(cur, k))
}

pub(crate) fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(v, path)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

/// A field that is either a property of the item or of its `properties` bag.
pub(crate) fn prop<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    get(v, key).or_else(|| at(v, &["properties", key]))
}

pub(crate) fn prop_str<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    prop(v, key)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Subscription,
    ResourceGroup,
    ManagementGroup,
    Resource,
    RoleAssignment,
    RoleDefinition,
    Assessment,
    AssessmentMetadata,
    Alert,
    /// A Log Analytics `SecurityRecommendation` row.
    RecommendationRow,
    EffectiveNsg,
    /// An AzureHound `{"kind": "AZ...", "data": {...}}` item.
    Hound,
    /// A directory object (`az ad ... list`): a user, group or service principal.
    Principal,
    /// A directory object in `az ad group member list` output, whose group is named by
    /// the file's path (see [`Model::member_group`]).
    GroupMember,
}

pub(crate) struct Entry {
    pub origin: Origin,
    pub kind: Kind,
    /// The ARM type, for the passes that look for a few network and data types among
    /// every item.
    pub arm: Arm,
    /// The item's `id`, folded: how items are joined across exports.
    pub key: Option<String>,
    /// `Null` once the item's finding is made.
    pub value: Value,
    pub made: Option<Box<Made>>,
    /// From AzureHound output, whose ARM objects lack some fields (a key vault's
    /// `publicNetworkAccess`), so an ARM export of the same object is preferred.
    pub hound: bool,
}

/// The ARM types the import reads more than a resource's definition from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arm {
    NetworkInterface,
    VirtualNetwork,
    Subnet,
    PublicIp,
    SecurityGroup,
    VirtualMachine,
    ScaleSet,
    PrivateEndpoint,
    ManagedEnvironment,
    WebSite,
    ApplicationGateway,
    ContainerApp,
    SqlServer,
    SqlFirewallRule,
    StorageAccount,
    KeyVault,
    UserAssignedIdentity,
    Other,
}

impl Arm {
    pub(crate) fn of(v: &Value) -> Arm {
        let Some(t) = str_at(v, &["type"]) else {
            return Arm::Other;
        };
        const TYPES: [(&str, Arm); 17] = [
            ("microsoft.network/networkinterfaces", Arm::NetworkInterface),
            ("microsoft.network/virtualnetworks", Arm::VirtualNetwork),
            ("microsoft.network/virtualnetworks/subnets", Arm::Subnet),
            ("microsoft.network/publicipaddresses", Arm::PublicIp),
            (
                "microsoft.network/networksecuritygroups",
                Arm::SecurityGroup,
            ),
            ("microsoft.compute/virtualmachines", Arm::VirtualMachine),
            ("microsoft.compute/virtualmachinescalesets", Arm::ScaleSet),
            ("microsoft.network/privateendpoints", Arm::PrivateEndpoint),
            ("microsoft.app/managedenvironments", Arm::ManagedEnvironment),
            ("microsoft.web/sites", Arm::WebSite),
            (
                "microsoft.network/applicationgateways",
                Arm::ApplicationGateway,
            ),
            ("microsoft.app/containerapps", Arm::ContainerApp),
            ("microsoft.sql/servers", Arm::SqlServer),
            ("microsoft.sql/servers/firewallrules", Arm::SqlFirewallRule),
            ("microsoft.storage/storageaccounts", Arm::StorageAccount),
            ("microsoft.keyvault/vaults", Arm::KeyVault),
            (
                "microsoft.managedidentity/userassignedidentities",
                Arm::UserAssignedIdentity,
            ),
        ];
        TYPES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(t))
            .map_or(Arm::Other, |&(_, arm)| arm)
    }
}

/// An item kept whole: what it is, its ARM type and its folded `id`, worked out as it is
/// parsed (in parallel) rather than again by each pass that needs them.
pub(crate) struct Kept {
    pub kind: Kind,
    pub arm: Arm,
    pub key: Option<String>,
    pub value: Value,
}

impl Kept {
    fn new(kind: Kind, value: Value) -> Kept {
        Kept {
            kind,
            arm: Arm::of(&value),
            key: str_at(&value, &["id"]).map(super::emit::fold),
            value,
        }
    }
}

/// An item as sorted right after parsing.
pub(crate) enum Sorted {
    Entry(Kept),
    /// What an AzureHound item wraps: an ARM object, or one of AzureHound's own kinds.
    Hound(Kept),
    /// A finding made from the item alone; its tree is gone.
    Made(Kind, Box<Made>),
    Skip(String),
}

/// Classifies an item and, where it needs nothing from other items, makes its finding at
/// once: called on each item as it is parsed, in parallel.
pub(crate) fn sort(mut v: Value, text: Option<&str>) -> Sorted {
    match classify(&v) {
        Err(reason) => Sorted::Skip(reason),
        Ok(Kind::Hound) => match hound::unwrap(v) {
            // An ARM object AzureHound wraps reads as the ARM export of it would.
            Ok(Unwrapped::Arm(v)) => match classify(&v) {
                Ok(
                    k @ (Kind::Resource
                    | Kind::Subscription
                    | Kind::ResourceGroup
                    | Kind::ManagementGroup),
                ) => Sorted::Hound(Kept::new(k, v)),
                Ok(_) => {
                    Sorted::Skip("an AzureHound item whose data is not an Azure resource".into())
                }
                Err(reason) => Sorted::Skip(format!("AzureHound data: {reason}")),
            },
            Ok(Unwrapped::Hound(v)) => Sorted::Hound(Kept::new(Kind::Hound, v)),
            Err(reason) => Sorted::Skip(reason),
        },
        Ok(kind) => {
            let decoded =
                matches!(kind, Kind::Alert | Kind::RecommendationRow) && decode_nested(&mut v);
            // Decoded rows are no longer what their text says.
            let text = text.filter(|_| !decoded);
            match make_alone(kind, &v, text) {
                Some(m) => Sorted::Made(kind, Box::new(m)),
                None => Sorted::Entry(Kept::new(kind, v)),
            }
        }
    }
}

/// The items of every file, classified, in file and item order.
pub(crate) struct Model {
    pub entries: Vec<Entry>,
    /// The group each file of group members lists, by file index: `az ad group member
    /// list` output names no group, so the id is read from the file's path.
    pub member_group: HashMap<u32, String>,
}

/// The principal kind a directory object's `@odata.type` names, if it is one that can be
/// given roles (devices, contacts and app registrations cannot).
pub(crate) fn directory_kind(v: &Value) -> Option<&'static str> {
    let t = str_at(v, &["@odata.type"])?.trim().to_ascii_lowercase();
    match t.strip_prefix('#').unwrap_or(&t) {
        "microsoft.graph.user" => Some("user"),
        "microsoft.graph.group" => Some("group"),
        "microsoft.graph.serviceprincipal" => Some(principal_kind_of_sp(v)),
        _ => None,
    }
}

/// Managed identities are service principals to Microsoft Graph; their
/// `servicePrincipalType` tells them apart (AzureHound's enum spells it `ManagedIdentities`,
/// Graph `ManagedIdentity`).
pub(crate) fn principal_kind_of_sp(v: &Value) -> &'static str {
    match str_at(v, &["servicePrincipalType"]) {
        Some(t)
            if t.eq_ignore_ascii_case("ManagedIdentity")
                || t.eq_ignore_ascii_case("ManagedIdentities") =>
        {
            "managed_identity"
        }
        _ => "service_principal",
    }
}

/// The last GUID in `s` that stands on its own (not inside a longer run of letters or
/// digits).
fn last_guid(s: &str) -> Option<&str> {
    let b = s.as_bytes();
    let alnum = |i: Option<&u8>| i.is_some_and(|c| c.is_ascii_alphanumeric());
    (0..b.len().saturating_sub(35)).rev().find_map(|i| {
        let w = b.get(i..i + 36)?;
        let whole = !alnum(i.checked_sub(1).and_then(|j| b.get(j))) && !alnum(b.get(i + 36));
        // A window of ASCII bytes starts and ends on character boundaries.
        (whole && crate::ids::is_guid(std::str::from_utf8(w).ok()?)).then(|| &s[i..i + 36])
    })
}

/// The group a file of group members belongs to: the last GUID in the file's name, else
/// in its folder's name; with where it was found, for `--explain-skipped`.
pub(crate) fn group_of_path(path: &str) -> Option<(String, &'static str)> {
    let p = Path::new(path);
    let name = |q: Option<&Path>| {
        q.and_then(Path::file_name)
            .and_then(|n| n.to_str())
            .and_then(last_guid)
            .map(str::to_string)
    };
    name(Some(p))
        .map(|g| (g, "file name"))
        .or_else(|| name(p.parent()).map(|g| (g, "folder name")))
}

fn classify(v: &Value) -> Result<Kind, String> {
    if !v.is_object() {
        return Err("not a JSON object".into());
    }
    if let (Some(k), Some(d)) = (get(v, "kind").and_then(Value::as_str), get(v, "data")) {
        if k.starts_with("AZ") && d.is_object() {
            return Ok(Kind::Hound);
        }
    }
    if get(v, "$schema").is_some() {
        return Err("a JSON Schema, not export data".into());
    }
    if let Some(t) = get(v, "type").and_then(Value::as_str) {
        let t = t.to_ascii_lowercase();
        return Ok(match t.as_str() {
            "microsoft.resources/subscriptions" => Kind::Subscription,
            "microsoft.resources/subscriptions/resourcegroups"
            | "microsoft.resources/resourcegroups" => Kind::ResourceGroup,
            "microsoft.management/managementgroups" => Kind::ManagementGroup,
            "microsoft.authorization/roleassignments" => Kind::RoleAssignment,
            "microsoft.authorization/roledefinitions" => Kind::RoleDefinition,
            "microsoft.security/assessments" => Kind::Assessment,
            "microsoft.security/assessmentmetadata" => Kind::AssessmentMetadata,
            t if t.starts_with("microsoft.security/") && t.ends_with("/alerts") => Kind::Alert,
            "microsoft.security/securescores" | "microsoft.security/securescorecontrols" => {
                return Err("a secure score: a summary with no per-resource facts".into())
            }
            "microsoft.security/automations" | "microsoft.security/securityautomations" => {
                return Err("a continuous-export configuration, not estate data".into())
            }
            _ if get(v, "id").is_some() => Kind::Resource,
            _ if get(v, "effectiveSecurityRules").is_some() => Kind::EffectiveNsg,
            _ => return Err(format!("a `{t}` item without an `id`")),
        });
    }
    if get(v, "effectiveSecurityRules").is_some() {
        return Ok(Kind::EffectiveNsg);
    }
    if prop(v, "principalId").is_some() && prop(v, "roleDefinitionId").is_some() {
        return Ok(Kind::RoleAssignment);
    }
    if prop(v, "roleName").is_some() && prop(v, "permissions").is_some() {
        return Ok(Kind::RoleDefinition);
    }
    if ["AlertDisplayName", "AlertName", "SystemAlertId"]
        .iter()
        .any(|k| get(v, k).is_some())
    {
        return Ok(Kind::Alert);
    }
    if ["RecommendationName", "RecommendationId"]
        .iter()
        .any(|k| get(v, k).is_some())
    {
        return Ok(Kind::RecommendationRow);
    }
    if get(v, "@odata.type").is_some() && get(v, "id").is_some() {
        return match directory_kind(v) {
            Some(_) => Ok(Kind::Principal),
            None => Err(format!(
                "a directory object of type `{}`: not a user, group or service principal, so it holds no Azure role",
                str_at(v, &["@odata.type"]).unwrap_or("")
            )),
        };
    }
    if get(v, "securityRules").is_some() {
        return Err(
            "security rules without the NSG they belong to (no `id`), so nothing to attach them to"
                .into(),
        );
    }
    Err("not a shape toxgraph reads (no ARM `type`, and no field of a known export)".into())
}

pub(crate) fn collect(items: Vec<Item>, files: &[String], report: &mut ImportReport) -> Model {
    let mut entries = Vec::with_capacity(items.len());
    // Per file: whether its directory objects are a group's members (its path names the
    // group; the group itself goes into `member_group`).
    let mut groups: HashMap<u32, bool> = HashMap::new();
    let mut member_group = HashMap::new();
    for it in items {
        let origin = Origin {
            file: it.file,
            line: it.index,
        };
        let (kept, made, hound) = match it.value {
            Sorted::Skip(reason) => {
                report.skipped.push(Skipped {
                    file: files.get(it.file as usize).cloned().unwrap_or_default(),
                    item: it.index as usize,
                    reason,
                });
                continue;
            }
            Sorted::Made(kind, made) => (
                Kept {
                    kind,
                    arm: Arm::Other,
                    key: None,
                    value: Value::Null,
                },
                Some(made),
                false,
            ),
            Sorted::Hound(kept) => (kept, None, true),
            Sorted::Entry(mut kept) => {
                if kept.kind == Kind::Principal {
                    let members = *groups.entry(it.file).or_insert_with(|| {
                        let found = files.get(it.file as usize).and_then(|f| group_of_path(f));
                        let Some((g, from)) = found else {
                            return false;
                        };
                        if let Some(fr) = report.files.get_mut(it.file as usize) {
                            fr.shape = format!(
                                "{}, group members of {g} (group id from the {from})",
                                fr.shape
                            );
                        }
                        member_group.insert(it.file, g);
                        true
                    });
                    if members {
                        kept.kind = Kind::GroupMember;
                    }
                }
                (kept, None, false)
            }
        };
        entries.push(Entry {
            origin,
            kind: kept.kind,
            arm: kept.arm,
            key: kept.key,
            value: kept.value,
            made,
            hound,
        });
    }
    Model {
        entries,
        member_group,
    }
}

/// Log Analytics rows carry nested fields (`Entities`, `ExtendedProperties`, `Properties`,
/// `Techniques`) as JSON text inside strings; they are decoded in place.
/// Says whether anything was decoded.
fn decode_nested(v: &mut Value) -> bool {
    let mut decoded = false;
    let Some(obj) = v.as_object_mut() else {
        return false;
    };
    for val in obj.values_mut() {
        let Some(text) = val.as_str() else { continue };
        let t = text.trim();
        let looks =
            (t.starts_with('{') && t.ends_with('}')) || (t.starts_with('[') && t.ends_with(']'));
        if looks {
            if let Ok(parsed) = serde_json::from_str::<Value>(t) {
                *val = parsed;
                decoded = true;
            }
        }
    }
    decoded
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: &str = "0f3c2a1b-9d8e-4c7b-a6f5-e4d3c2b1a098";

    #[test]
    fn group_id_is_the_last_guid_of_the_file_name_else_of_its_folder() {
        let other = "11111111-2222-3333-4444-555555555555";
        assert_eq!(
            group_of_path(&format!("exports/{other}/group-members-{G}.json")),
            Some((G.to_string(), "file name"))
        );
        assert_eq!(
            group_of_path(&format!("exports/tenant-{other}-members-{G}.json")),
            Some((G.to_string(), "file name"))
        );
        assert_eq!(
            group_of_path(&format!("exports/groups/{G}/members.json")),
            Some((G.to_string(), "folder name"))
        );
        // Only the parent folder counts, and a GUID inside a longer run is no GUID.
        assert_eq!(group_of_path(&format!("{G}/entra/users.json")), None);
        assert_eq!(group_of_path(&format!("members-{G}0.json")), None);
        assert_eq!(group_of_path("users.json"), None);
        assert_eq!(
            group_of_path(&format!("membres-équipe-{G}.json")),
            Some((G.to_string(), "file name"))
        );
    }

    #[test]
    fn directory_kinds() {
        let kind = |v: serde_json::Value| directory_kind(&v);
        assert_eq!(
            kind(serde_json::json!({"@odata.type": "#microsoft.graph.user"})),
            Some("user")
        );
        assert_eq!(
            kind(
                serde_json::json!({"@odata.type": "#microsoft.graph.servicePrincipal", "servicePrincipalType": "ManagedIdentity"})
            ),
            Some("managed_identity")
        );
        assert_eq!(
            kind(serde_json::json!({"@odata.type": "#microsoft.graph.servicePrincipal"})),
            Some("service_principal")
        );
        assert_eq!(
            kind(serde_json::json!({"@odata.type": "#microsoft.graph.device"})),
            None
        );
        assert_eq!(kind(serde_json::json!({"@odata.type": 3})), None);
    }
}
