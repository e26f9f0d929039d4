//! When a custom role is privileged. Built-in roles follow the snapshot format's table; a
//! custom role's permissions are read instead:
//!
//! 1. its `actions` contain `*` (control of every resource in scope), or
//! 2. its `actions`, minus `notActions`, grant `Microsoft.Authorization/roleAssignments/write`
//!    or `Microsoft.Authorization/roleDefinitions/write` (it can grant itself more), or
//! 3. its `dataActions`, minus `notDataActions`, grant a write to a data store: blob, file,
//!    queue or table data in storage, or setting key vault secrets, keys or certificates.

use super::collect::{at, get};
use serde_json::Value;

const AUTHZ: [&str; 2] = [
    "Microsoft.Authorization/roleAssignments/write",
    "Microsoft.Authorization/roleDefinitions/write",
];

const DATA_WRITES: [&str; 7] = [
    "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write",
    "Microsoft.Storage/storageAccounts/fileServices/fileshares/files/write",
    "Microsoft.Storage/storageAccounts/queueServices/queues/messages/write",
    "Microsoft.Storage/storageAccounts/tableServices/tables/entities/write",
    "Microsoft.KeyVault/vaults/secrets/setSecret/action",
    "Microsoft.KeyVault/vaults/keys/write",
    "Microsoft.KeyVault/vaults/certificates/import/action",
];

/// `*` stands for any run of characters; comparison is case-insensitive, as in Azure.
pub fn wildcard(pattern: &str, action: &str) -> bool {
    let p = pattern.to_ascii_lowercase();
    let a = action.to_ascii_lowercase();
    let parts: Vec<&str> = p.split('*').collect();
    if parts.len() == 1 {
        return p == a;
    }
    let mut rest = a.as_str();
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(j) => rest = &rest[j + part.len()..],
                None => return false,
            }
        }
    }
    true
}

fn list(v: &Value, key: &str) -> Vec<String> {
    get(v, key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn grants(allow: &[String], deny: &[String], action: &str) -> bool {
    allow.iter().any(|p| wildcard(p, action)) && !deny.iter().any(|p| wildcard(p, action))
}

/// Which rule (1, 2 or 3 above) makes a role definition privileged, if any.
pub fn privileged_by(def: &Value) -> Option<&'static str> {
    let perms = get(def, "permissions").or_else(|| at(def, &["properties", "permissions"]))?;
    for block in perms.as_array()? {
        let (actions, not_actions) = (list(block, "actions"), list(block, "notActions"));
        let (data, not_data) = (list(block, "dataActions"), list(block, "notDataActions"));
        if actions.iter().any(|a| a.trim() == "*") {
            return Some("actions include *");
        }
        if AUTHZ.iter().any(|a| grants(&actions, &not_actions, a)) {
            return Some(
                "actions grant Microsoft.Authorization role assignment or definition writes",
            );
        }
        if DATA_WRITES.iter().any(|a| grants(&data, &not_data, a)) {
            return Some("dataActions grant writes to a data store");
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wildcards() {
        assert!(wildcard(
            "Microsoft.Authorization/*/write",
            "microsoft.authorization/roleAssignments/write"
        ));
        assert!(wildcard("*", "anything"));
        assert!(!wildcard(
            "Microsoft.Authorization/*/read",
            "Microsoft.Authorization/roleAssignments/write"
        ));
        assert!(wildcard(
            "Microsoft.KeyVault/vaults/secrets/*",
            "Microsoft.KeyVault/vaults/secrets/setSecret/action"
        ));
    }

    #[test]
    fn custom_roles() {
        let contributor_like = json!({"permissions": [{"actions": ["*"], "notActions": ["Microsoft.Authorization/*/Write"]}]});
        assert_eq!(privileged_by(&contributor_like), Some("actions include *"));
        let rbac = json!({"properties": {"permissions": [{"actions": ["Microsoft.Authorization/*/write"], "notActions": []}]}});
        assert!(privileged_by(&rbac).is_some());
        let denied = json!({"permissions": [{"actions": ["Microsoft.Authorization/*"], "notActions": ["Microsoft.Authorization/*/write"]}]});
        assert_eq!(privileged_by(&denied), None);
        let secrets = json!({"permissions": [{"actions": [], "dataActions": ["Microsoft.KeyVault/vaults/secrets/*"]}]});
        assert!(privileged_by(&secrets).is_some());
        let reader = json!({"permissions": [{"actions": ["*/read"], "dataActions": ["Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"]}]});
        assert_eq!(privileged_by(&reader), None);
    }
}
