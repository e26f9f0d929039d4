//! Sorting export items into a typed model, by what each item is (its ARM `type`, or the
//! fields that identify `az` CLI, Defender export and Log Analytics shapes).

use super::emit::{make_alone, Made};
use super::{ImportReport, Item, Skipped};
use crate::ingest::Origin;
use serde_json::Value;

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
}

pub(crate) struct Entry {
    pub origin: Origin,
    pub kind: Kind,
    /// `Null` once the item's finding is made.
    pub value: Value,
    pub made: Option<Box<Made>>,
}

/// An item as sorted right after parsing.
pub(crate) enum Sorted {
    Entry(Kind, Value),
    /// A finding made from the item alone; its tree is gone.
    Made(Kind, Box<Made>),
    Skip(String),
}

/// Classifies an item and, where it needs nothing from other items, makes its finding at
/// once: called on each item as it is parsed, in parallel.
pub(crate) fn sort(mut v: Value) -> Sorted {
    match classify(&v) {
        Err(reason) => Sorted::Skip(reason),
        Ok(kind) => {
            if matches!(kind, Kind::Alert | Kind::RecommendationRow) {
                decode_nested(&mut v);
            }
            match make_alone(kind, &v) {
                Some(m) => Sorted::Made(kind, Box::new(m)),
                None => Sorted::Entry(kind, v),
            }
        }
    }
}

/// The items of every file, classified, in file and item order.
pub(crate) struct Model {
    pub entries: Vec<Entry>,
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
        return Ok(Kind::Principal);
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
    for it in items {
        let origin = Origin {
            file: it.file,
            line: it.index,
        };
        let (kind, value, made) = match it.value {
            Sorted::Entry(kind, value) => (kind, value, None),
            Sorted::Made(kind, made) => (kind, Value::Null, Some(made)),
            Sorted::Skip(reason) => {
                report.skipped.push(Skipped {
                    file: files.get(it.file as usize).cloned().unwrap_or_default(),
                    item: it.index as usize,
                    reason,
                });
                continue;
            }
        };
        entries.push(Entry {
            origin,
            kind,
            value,
            made,
        });
    }
    Model { entries }
}

/// Log Analytics rows carry nested fields (`Entities`, `ExtendedProperties`, `Properties`,
/// `Techniques`) as JSON text inside strings; they are decoded in place.
fn decode_nested(v: &mut Value) {
    let Some(obj) = v.as_object_mut() else { return };
    for val in obj.values_mut() {
        let Some(text) = val.as_str() else { continue };
        let t = text.trim();
        let looks =
            (t.starts_with('{') && t.ends_with('}')) || (t.starts_with('[') && t.ends_with(']'));
        if looks {
            if let Ok(parsed) = serde_json::from_str::<Value>(t) {
                *val = parsed;
            }
        }
    }
}
