//! Role resolution: a role assignment names a role by name or by role definition GUID; the
//! graph needs its display name and whether it is privileged.

use crate::ids;
use std::collections::HashMap;

/// Azure built-in roles the format knows, with their definition GUIDs and privilege.
pub const BUILTIN: &[(&str, &str, bool)] = &[
    ("Owner", "8e3af657-a8ff-443c-a75c-2fe8c4bcb635", true),
    ("Contributor", "b24988ac-6180-42a0-ab88-20f7382dd24c", true),
    (
        "User Access Administrator",
        "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9",
        true,
    ),
    (
        "Role Based Access Control Administrator",
        "f58310d9-a9f6-439a-9e8d-f62e7b41a168",
        true,
    ),
    (
        "Storage Blob Data Owner",
        "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
        true,
    ),
    (
        "Storage Blob Data Contributor",
        "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
        true,
    ),
    (
        "Key Vault Administrator",
        "00482a5a-887f-4fb3-b363-3b7fe8e74483",
        true,
    ),
    (
        "Key Vault Secrets Officer",
        "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
        true,
    ),
    (
        "Key Vault Data Access Administrator",
        "8b54135c-b56d-4d72-a534-26097cfdc8d8",
        true,
    ),
    ("Reader", "acdd72a7-3385-48ef-bd42-f606fba81ae7", false),
    (
        "Storage Blob Data Reader",
        "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
        false,
    ),
    (
        "Key Vault Secrets User",
        "4633458b-17de-408a-b874-0445c86b69e6",
        false,
    ),
    (
        "Virtual Machine Contributor",
        "9980e02c-c2be-4d73-94e8-173b1dc7cf3c",
        false,
    ),
];

/// A resolved role, as carried by a `has_role` edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleInfo {
    pub name: String,
    pub privileged: bool,
}

/// Built from the snapshot's `role` records on top of the built-in table.
#[derive(Debug, Default)]
pub struct RoleTable {
    /// GUID (lowercase) -> role name, from `role` records.
    by_guid: HashMap<String, String>,
    /// Folded name -> (display name, privileged override if set).
    records: HashMap<String, (String, Option<bool>)>,
}

/// Why an assignment's role could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownGuid(pub String);

impl RoleTable {
    /// Adds a `role` record. Returns true when it overrides the privilege of a name that an
    /// earlier record had already set (a warning: the later line wins).
    pub fn add(&mut self, name: &str, id: Option<&str>, privileged: Option<bool>) -> bool {
        let name = name.trim();
        if let Some(guid) = id.and_then(ids::role_guid) {
            self.by_guid.insert(guid, name.to_string());
        }
        let key = name.to_ascii_lowercase();
        let entry = self
            .records
            .entry(key)
            .or_insert_with(|| (name.to_string(), None));
        let overridden = privileged.is_some() && entry.1.is_some() && entry.1 != privileged;
        if privileged.is_some() {
            entry.1 = privileged;
        }
        overridden
    }

    /// Resolves a role reference to its name and privilege, as the format specifies.
    pub fn resolve(&self, reference: &str) -> Result<RoleInfo, UnknownGuid> {
        let name = match ids::role_guid(reference) {
            Some(guid) => match self.by_guid.get(&guid) {
                Some(n) => n.clone(),
                None => match BUILTIN.iter().find(|(_, g, _)| *g == guid) {
                    Some((n, _, _)) => (*n).to_string(),
                    None => return Err(UnknownGuid(guid)),
                },
            },
            None => reference.trim().to_string(),
        };
        let builtin = BUILTIN
            .iter()
            .find(|(n, _, _)| n.eq_ignore_ascii_case(&name));
        let record = self.records.get(&name.to_ascii_lowercase());
        let privileged = match (record.and_then(|r| r.1), builtin) {
            (Some(p), _) => p,
            (None, Some((_, _, p))) => *p,
            (None, None) => false,
        };
        let display = match (builtin, record) {
            (Some((n, _, _)), _) => (*n).to_string(),
            (None, Some((n, _))) => n.clone(),
            (None, None) => name,
        };
        Ok(RoleInfo {
            name: display,
            privileged,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_names_guids_and_overrides() {
        let mut t = RoleTable::default();
        assert_eq!(
            t.resolve(" owner ").unwrap(),
            RoleInfo {
                name: "Owner".into(),
                privileged: true
            }
        );
        assert_eq!(
            t.resolve("/subscriptions/x/providers/Microsoft.Authorization/roleDefinitions/ACDD72A7-3385-48EF-BD42-F606FBA81AE7")
                .unwrap(),
            RoleInfo { name: "Reader".into(), privileged: false }
        );
        assert!(t.resolve("00000000-0000-0000-0000-000000000000").is_err());
        t.add(
            "Deploy Operator",
            Some("11111111-1111-1111-1111-111111111111"),
            Some(true),
        );
        assert_eq!(
            t.resolve("11111111-1111-1111-1111-111111111111").unwrap(),
            RoleInfo {
                name: "Deploy Operator".into(),
                privileged: true
            }
        );
        assert!(!t.add("Reader", None, None));
        assert!(!t.resolve("Reader").unwrap().privileged);
        t.add("reader", None, Some(true));
        assert!(t.resolve("Reader").unwrap().privileged);
        assert!(t.add("Reader", None, Some(false)));
        assert!(!t.resolve("custom thing").unwrap().privileged);
    }
}
