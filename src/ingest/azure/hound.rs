//! AzureHound output (`azurehound list`: `{"data": [{"kind": "AZ...", "data": {...}}],
//! "meta": {"type": "azure"}}`), read as the exports it mirrors.
//!
//! Kinds and shapes follow the AzureHound source (SpecterOps/AzureHound): `enums/kind.go`
//! names the kinds, `models/*.go` the wrappers, `models/azure/*.go` the ARM and Graph
//! objects inside. Resources, subscriptions, resource groups and management groups are
//! wrapped ARM objects: [`unwrap`] hands them to the ARM code, so an AzureHound folder gives
//! the graph its ARM exports would. What has no ARM counterpart (directory principals,
//! group members, per-scope role assignment lists, management group descendants, the
//! tenant) is read by [`emit`]. AzureHound v3 upper-cases ids; ids are compared
//! case-insensitively anyway.

use super::collect::{at, get, str_at, Entry, Kind, Model};
use super::emit::{assignment, fold, principal, Ctx, Principal};
use crate::ingest::Record;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// What an AzureHound kind holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// An ARM object, with the ARM type it has (AzureHound omits an empty `type`).
    Arm(&'static str),
    User,
    Group,
    ServicePrincipal,
    /// `{"groupId", "members": [{"groupId", "member": directoryObject}]}`.
    Members,
    /// `{"id": "/tenants/T", "tenantId", "collected"}`.
    Tenant,
    /// A management group descendant: `{"id", "type", "properties": {"parent": {"id"}}}`.
    Descendant,
    /// Role assignments of one scope: `{list: [{inner: ARM roleAssignment, ...}]}`.
    Assignments {
        list: &'static str,
        inner: &'static str,
    },
    /// Nothing this model uses, and why.
    NotRead(&'static str),
}

fn shape(kind: &str) -> Option<Shape> {
    use Shape::*;
    let assignments = |list, inner| Assignments { list, inner };
    Some(match kind {
        "AZVM" => Arm("Microsoft.Compute/virtualMachines"),
        "AZVMScaleSet" => Arm("Microsoft.Compute/virtualMachineScaleSets"),
        "AZKeyVault" => Arm("Microsoft.KeyVault/vaults"),
        "AZStorageAccount" => Arm("Microsoft.Storage/storageAccounts"),
        "AZStorageContainer" => Arm("Microsoft.Storage/storageAccounts/blobServices/containers"),
        "AZWebApp" | "AZFunctionApp" => Arm("Microsoft.Web/sites"),
        "AZLogicApp" => Arm("Microsoft.Logic/workflows"),
        "AZAutomationAccount" => Arm("Microsoft.Automation/automationAccounts"),
        "AZContainerRegistry" => Arm("Microsoft.ContainerRegistry/registries"),
        "AZManagedCluster" => Arm("Microsoft.ContainerService/managedClusters"),
        "AZSubscription" => Arm("Microsoft.Resources/subscriptions"),
        "AZResourceGroup" => Arm("Microsoft.Resources/resourceGroups"),
        "AZManagementGroup" => Arm("Microsoft.Management/managementGroups"),
        "AZUser" => User,
        "AZGroup" => Group,
        "AZServicePrincipal" => ServicePrincipal,
        "AZGroupMember" => Members,
        "AZTenant" => Tenant,
        "AZManagementGroupDescendant" => Descendant,
        // models/{subscription,resource-group,management-group,key-vault,virtual-machine}-role-assignment.go
        "AZSubscriptionRoleAssignment"
        | "AZResourceGroupRoleAssignment"
        | "AZManagementGroupRoleAssignment"
        | "AZKeyVaultRoleAssignment"
        | "AZVMRoleAssignment" => assignments("roleAssignments", "roleAssignment"),
        // models/azure-role-assignment.go (AzureRoleAssignments)
        "AZStorageAccountRoleAssignment"
        | "AZWebAppRoleAssignment"
        | "AZFunctionAppRoleAssignment"
        | "AZLogicAppRoleAssignment"
        | "AZAutomationAccountRoleAssignment"
        | "AZContainerRegistryRoleAssignment"
        | "AZManagedClusterRoleAssignment"
        | "AZVMScaleSetRoleAssignment" => assignments("assignees", "assignee"),
        // What `azurehound list` writes for these scopes: the assignments of one role each.
        "AZSubscriptionOwner"
        | "AZResourceGroupOwner"
        | "AZManagementGroupOwner"
        | "AZKeyVaultOwner"
        | "AZVMOwner" => assignments("owners", "owner"),
        "AZSubscriptionContributor"
        | "AZResourceGroupContributor"
        | "AZManagementGroupContributor"
        | "AZKeyVaultContributor"
        | "AZVMContributor" => assignments("contributors", "contributor"),
        "AZSubscriptionUserAccessAdmin"
        | "AZResourceGroupUserAccessAdmin"
        | "AZManagementGroupUserAccessAdmin"
        | "AZKeyVaultUserAccessAdmin"
        | "AZVMUserAccessAdmin" => assignments("userAccessAdmins", "userAccessAdmin"),
        "AZKeyVaultKVContributor" => assignments("kvContributors", "kvContributor"),
        "AZVMAvereContributor" => assignments("avereContributors", "avereContributor"),
        "AZVMVMContributor" => assignments("vmContributors", "vmContributor"),
        "AZVMAdminLogin" => assignments("adminLogins", "adminLogin"),
        "AZApp" => NotRead("an app registration; the roles are held by its service principal (AZServicePrincipal), which is read"),
        "AZAppOwner" | "AZAppMember" | "AZGroupOwner" | "AZServicePrincipalOwner" => NotRead("owners of a directory object; this model has no edge for owning an app, group or service principal"),
        "AZFederatedIdentityCredential" => NotRead("a federated credential of an app; this model has no edge for signing in as an app from outside the tenant"),
        "AZDevice" => NotRead("a device, not a principal that holds Azure roles"),
        "AZKeyVaultAccessPolicy" => NotRead("key vault access policies are data-plane permissions outside Azure RBAC, which this model does not read"),
        "AZRole" => NotRead("an Entra ID directory role definition, not an Azure RBAC role"),
        "AZRoleAssignment" => NotRead("Entra ID directory role assignments (directory roles such as Global Administrator), not Azure RBAC roles on a scope"),
        "AZAppRoleAssignment" => NotRead("app role assignments (API permissions); this model has no edge for them"),
        "AZRoleEligibilityScheduleInstance" => NotRead("a PIM eligibility for a directory role, not held until activated"),
        "AZRoleManagementPolicyAssignment" => NotRead("a PIM policy for a directory role: a rule, not a grant"),
        _ => return None,
    })
}

pub(crate) enum Unwrapped {
    /// The ARM object inside, to be read as ARM output.
    Arm(Value),
    /// The whole item, read by [`emit`].
    Hound(Value),
}

/// Sorts one AzureHound item; `Err` says why it is not read.
pub(crate) fn unwrap(item: Value) -> Result<Unwrapped, String> {
    let kind = str_at(&item, &["kind"]).unwrap_or("").to_string();
    match shape(&kind) {
        None => Err(format!(
            "AzureHound kind `{kind}` is not read (not a kind this version knows)"
        )),
        Some(Shape::NotRead(why)) => Err(format!("AzureHound kind `{kind}` is not read: {why}")),
        Some(Shape::Tenant) => {
            let collected = get(&item, "data")
                .and_then(|d| get(d, "collected"))
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if collected {
                Ok(Unwrapped::Hound(item))
            } else {
                Err("AzureHound tenant other than the one collected (a tenant the account can see): not part of this estate".into())
            }
        }
        Some(Shape::Arm(arm_type)) => {
            let Value::Object(map) = item else {
                return Err("not a JSON object".into());
            };
            let Some(mut data) = map
                .into_iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("data"))
                .map(|(_, v)| v)
            else {
                return Err(format!("AzureHound `{kind}` item without `data`"));
            };
            if str_at(&data, &["id"]).is_none() {
                return Err(format!("AzureHound `{kind}` item without an `id`"));
            }
            let typed = str_at(&data, &["type"]).is_some();
            // AzureHound's storage account model writes `publicNetworkAccess` under the JSON
            // name `availabilitySet` (models/azure/storage_account_props.go).
            let public_access = (arm_type == "Microsoft.Storage/storageAccounts"
                && at(&data, &["properties", "publicNetworkAccess"]).is_none())
            .then(|| str_at(&data, &["properties", "availabilitySet"]).map(str::to_string))
            .flatten();
            if let Value::Object(obj) = &mut data {
                if !typed {
                    obj.insert("type".into(), Value::String(arm_type.into()));
                }
                if let (Some(p), Some(Value::Object(props))) =
                    (public_access, obj.get_mut("properties"))
                {
                    props.insert("publicNetworkAccess".into(), Value::String(p));
                }
            }
            Ok(Unwrapped::Arm(data))
        }
        Some(_) => Ok(Unwrapped::Hound(item)),
    }
}

fn descendants(model: &Model) -> impl Iterator<Item = (&Entry, &Value)> {
    model.entries.iter().filter_map(|e| {
        let is = e.kind == Kind::Hound
            && str_at(&e.value, &["kind"]) == Some("AZManagementGroupDescendant");
        is.then(|| get(&e.value, "data").map(|d| (e, d))).flatten()
    })
}

/// The parent of each subscription and management group that AzureHound lists as a
/// management group descendant (its management group objects carry no parent), by folded id.
pub(crate) fn parents(model: &Model) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for (_, d) in descendants(model) {
        if let (Some(id), Some(parent)) = (
            str_at(d, &["id"]),
            str_at(d, &["properties", "parent", "id"]),
        ) {
            if fold(id) != fold(parent) {
                out.entry(fold(id)).or_insert_with(|| parent.to_string());
            }
        }
    }
    out
}

/// Scopes known only as management group descendants (no subscription or management group
/// object for them in the folder) are defined from the descendant entry, once each.
pub(crate) fn descendant_scopes(
    cx: &mut Ctx,
    model: &Model,
    by_id: &super::emit::ById,
    parents: &HashMap<String, String>,
) {
    let mut done: HashSet<String> = HashSet::new();
    for (e, d) in descendants(model) {
        let Some(id) = str_at(d, &["id"]) else {
            cx.warn(
                e.origin,
                "AzureHound management group descendant without an `id`; skipped".into(),
            );
            continue;
        };
        let key = fold(id);
        if by_id.contains_key(key.as_str()) || !done.insert(key.clone()) {
            continue;
        }
        let Some(kind) = crate::ids::shape(id)
            .scope_kind()
            .filter(|k| *k != "resource_group")
        else {
            cx.warn(e.origin, format!("AzureHound management group descendant `{id}` is neither a subscription nor a management group; skipped"));
            continue;
        };
        // AzureHound's struct names the display name `display_name`, which ARM does not
        // send, so it is usually absent.
        let name = str_at(d, &["properties", "display_name"])
            .or_else(|| str_at(d, &["properties", "displayName"]))
            .or_else(|| str_at(d, &["name"]))
            .map(str::to_string);
        cx.push(
            super::emit::scope(id, kind, name, parents.get(&key).cloned(), None),
            e.origin,
        );
    }
}

/// Records from one AzureHound item that has no ARM counterpart.
pub(crate) fn emit(
    cx: &mut Ctx,
    e: &Entry,
    principals: &mut BTreeMap<String, Principal>,
    known_roles: &BTreeSet<String>,
) {
    let v = &e.value;
    let kind = str_at(v, &["kind"]).unwrap_or("");
    let Some(data) = get(v, "data") else { return };
    match shape(kind) {
        Some(s @ (Shape::User | Shape::Group | Shape::ServicePrincipal)) => {
            let Some(id) = str_at(data, &["id"]) else {
                cx.warn(
                    e.origin,
                    format!("AzureHound `{kind}` without an `id`; skipped"),
                );
                return;
            };
            let k = match s {
                Shape::User => "user",
                Shape::Group => "group",
                _ => super::collect::principal_kind_of_sp(data),
            };
            let name = str_at(data, &["displayName"])
                .or_else(|| str_at(data, &["userPrincipalName"]))
                .map(str::to_string);
            principal(principals, id, k, name, e.origin);
            cx.used(e.origin);
        }
        Some(Shape::Members) => {
            let Some(members) = list(data, "members") else {
                cx.warn(
                    e.origin,
                    "AzureHound `AZGroupMember` whose `members` is not a list; skipped".into(),
                );
                return;
            };
            let mut not_principals = 0;
            for (i, m) in members.iter().enumerate() {
                let group = str_at(m, &["groupId"]).or_else(|| str_at(data, &["groupId"]));
                let member = get(m, "member");
                let (Some(g), Some(mid)) = (group, member.and_then(|x| str_at(x, &["id"]))) else {
                    cx.warn(e.origin, format!("AzureHound `AZGroupMember`: member {} has no `groupId` or `member.id`; skipped", i + 1));
                    continue;
                };
                principal(principals, g, "group", None, e.origin);
                // A member's `@odata.type` says what it is. Devices and contacts hold no
                // Azure role through a group, so they are left out.
                match member.map(|x| (get(x, "@odata.type"), super::collect::directory_kind(x))) {
                    Some((_, Some(k))) => {
                        let name = member
                            .and_then(|x| str_at(x, &["displayName"]))
                            .map(str::to_string);
                        principal(principals, mid, k, name, e.origin);
                    }
                    Some((Some(_), None)) => {
                        not_principals += 1;
                        continue;
                    }
                    _ => {}
                }
                cx.push(
                    Record::Membership {
                        group: g.to_string().into(),
                        member: mid.to_string().into(),
                    },
                    e.origin,
                );
            }
            if not_principals > 0 {
                cx.warn(e.origin, format!("AzureHound `AZGroupMember`: {not_principals} members are not users, groups or service principals (devices, contacts) and are left out"));
            }
            cx.used(e.origin);
        }
        Some(Shape::Tenant) => {
            if let Some(t) = str_at(data, &["tenantId"]) {
                cx.tenants.insert(t.trim().to_ascii_lowercase());
            }
            cx.used(e.origin);
        }
        Some(Shape::Descendant) => cx.used(e.origin),
        Some(Shape::Assignments { list, inner }) => {
            let Some(entries) = self::list(data, list) else {
                cx.warn(
                    e.origin,
                    format!("AzureHound `{kind}` whose `{list}` is not a list; skipped"),
                );
                return;
            };
            for (i, x) in entries.iter().enumerate() {
                match get(x, inner).filter(|r| r.is_object()) {
                    Some(ra) => {
                        assignment(cx, ra, e.origin, principals, known_roles);
                    }
                    None => cx.warn(
                        e.origin,
                        format!("AzureHound `{kind}`: entry {} of `{list}` has no `{inner}` role assignment; skipped", i + 1),
                    ),
                }
            }
            cx.used(e.origin);
        }
        // Sorted out in `unwrap`.
        Some(Shape::Arm(_) | Shape::NotRead(_)) | None => {}
    }
}

/// A list field of an item; absent or `null` is an empty list (Go writes an empty list as
/// `null`: a group without members, a scope where nobody holds the role). `None` when it
/// is something else.
fn list<'v>(data: &'v Value, key: &str) -> Option<&'v [Value]> {
    match get(data, key) {
        None => Some(&[]),
        Some(Value::Array(a)) => Some(a),
        Some(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn arm(v: Value) -> Value {
        match unwrap(v) {
            Ok(Unwrapped::Arm(d)) => d,
            Ok(Unwrapped::Hound(_)) => panic!("not unwrapped"),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn wrapped_arm_objects_are_unwrapped_with_their_type() {
        let d = arm(json!({"kind": "AZFunctionApp", "data": {"id": "/S/x", "name": "f"}}));
        assert_eq!(d["type"], "Microsoft.Web/sites");
        let d = arm(
            json!({"kind": "AZVM", "data": {"id": "/S/x", "type": "microsoft.compute/virtualmachines"}}),
        );
        assert_eq!(
            d["type"], "microsoft.compute/virtualmachines",
            "kept as given"
        );
        let d = arm(
            json!({"kind": "AZStorageAccount", "data": {"id": "/S/x", "properties": {"availabilitySet": "Disabled"}}}),
        );
        assert_eq!(d["properties"]["publicNetworkAccess"], "Disabled");
    }

    #[test]
    fn kinds_not_read_say_why() {
        let why = |k: &str| match unwrap(json!({"kind": k, "data": {}})) {
            Err(e) => e,
            Ok(_) => String::new(),
        };
        assert!(why("AZDevice").contains("not a principal"));
        assert!(why("AZRoleAssignment").contains("Entra ID directory role"));
        assert!(why("AZNew").contains("not a kind this version knows"));
        assert!(why("AZTenant").contains("other than the one collected"));
        assert!(matches!(
            unwrap(json!({"kind": "AZTenant", "data": {"tenantId": "t", "collected": true}})),
            Ok(Unwrapped::Hound(_))
        ));
    }
}
