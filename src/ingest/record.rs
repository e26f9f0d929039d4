//! The in-memory model every importer produces: the records of the snapshot format, typed,
//! with enumerated values already normalised. The graph is built from these alone, so the
//! native reader and the Azure importers cannot disagree about meaning.

use serde_json::value::RawValue;
use std::borrow::Cow;

/// A record's text: borrowed from the line it was read from where the native reader can
/// (a plain string, no escapes), owned otherwise. Records are made and taken by the
/// million and the graph keeps little of their text, so most of it is never copied.
pub type Text<'a> = Cow<'a, str>;

/// A definition's tags, in the order their keys first appear.
pub type Tags<'a> = Vec<(Text<'a>, Text<'a>)>;

/// Where a record came from, for warnings that name the file and line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Origin {
    /// Index into [`Snapshot::files`](super::Snapshot::files).
    pub file: u32,
    /// 1-based line (or record number, for sources without lines).
    pub line: u32,
}

/// The snapshot's own header record.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Meta {
    pub taken_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// Which of the three node-defining record types a definition came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DefType {
    Scope,
    Resource,
    Identity,
}

/// A `scope`, `resource` or `identity` record. Fields the type does not have stay `None`.
#[derive(Debug, Clone)]
pub struct Definition<'a> {
    pub def_type: DefType,
    pub id: Text<'a>,
    /// Lowercased for scopes and identities (enumerations); as written for resources.
    pub kind: Option<Text<'a>>,
    pub name: Option<Text<'a>>,
    pub parent: Option<Text<'a>>,
    pub tags: Option<Tags<'a>>,
    pub props: Option<Cow<'a, RawValue>>,
    pub attached_to: Option<Vec<String>>,
}

impl Definition<'_> {
    /// The definition with every text its own.
    pub fn into_owned(self) -> Definition<'static> {
        Definition {
            def_type: self.def_type,
            id: owned(self.id),
            kind: self.kind.map(owned),
            name: self.name.map(owned),
            parent: self.parent.map(owned),
            tags: self
                .tags
                .map(|t| t.into_iter().map(|(k, v)| (owned(k), owned(v))).collect()),
            props: self.props.map(|p| Cow::Owned(p.into_owned())),
            attached_to: self.attached_to,
        }
    }
}

/// `t`, owned.
pub fn owned(t: Text<'_>) -> Text<'static> {
    Cow::Owned(t.into_owned())
}

/// Tags read as owned pairs (by serde, or by an importer), as a record holds them.
pub fn owned_tags(tags: impl IntoIterator<Item = (String, String)>) -> Tags<'static> {
    tags.into_iter()
        .map(|(k, v)| (Cow::Owned(k), Cow::Owned(v)))
        .collect()
}

impl PartialEq for Definition<'_> {
    fn eq(&self, o: &Self) -> bool {
        self.def_type == o.def_type
            && self.id == o.id
            && self.kind == o.kind
            && self.name == o.name
            && self.parent == o.parent
            && self.tags == o.tags
            && self.props.as_ref().map(|p| p.get()) == o.props.as_ref().map(|p| p.get())
            && self.attached_to == o.attached_to
    }
}

/// An inclusive port range; a single port is `lo == hi`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PortRange {
    pub lo: u16,
    pub hi: u16,
}

impl PortRange {
    pub const ALL: PortRange = PortRange { lo: 0, hi: 65535 };
}

/// As the format writes a range: `443`, or `8000-8080`.
impl std::fmt::Display for PortRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.lo == self.hi {
            write!(f, "{}", self.lo)
        } else {
            write!(f, "{}-{}", self.lo, self.hi)
        }
    }
}

/// Finding class: posture (recommendation) or detected activity (alert). The distinction
/// is what keeps posture from being reported as detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FindingClass {
    Recommendation,
    Alert,
}

/// Ordered so that `severity >= high` is a plain comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Low,
    Medium,
    High,
    Critical,
}

impl Level {
    pub const NAMES: &'static str = "low, medium, high, critical";

    pub fn parse(s: &str) -> Option<Level> {
        let s = s.trim();
        [Level::Low, Level::Medium, Level::High, Level::Critical]
            .into_iter()
            .find(|l| s.eq_ignore_ascii_case(l.as_str()))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Finding<'a> {
    pub id: Text<'a>,
    pub resource: Text<'a>,
    pub class: FindingClass,
    pub title: Text<'a>,
    pub severity: Level,
    /// Normalised: lowercase, with the spec's default for an absent state filled in.
    pub state: Text<'a>,
    pub category: Option<Text<'a>>,
    pub techniques: Vec<String>,
    pub first_seen: Option<Text<'a>>,
    pub last_seen: Option<Text<'a>>,
    pub source_id: Option<Text<'a>>,
    /// Every field of the source record, as raw JSON text, so a report can show it.
    pub props: Option<Text<'a>>,
}

impl Finding<'_> {
    /// The finding with every text its own.
    pub fn into_owned(self) -> Finding<'static> {
        Finding {
            id: owned(self.id),
            resource: owned(self.resource),
            class: self.class,
            title: owned(self.title),
            severity: self.severity,
            state: owned(self.state),
            category: self.category.map(owned),
            techniques: self.techniques,
            first_seen: self.first_seen.map(owned),
            last_seen: self.last_seen.map(owned),
            source_id: self.source_id.map(owned),
            props: self.props.map(owned),
        }
    }
}

/// One record of the snapshot format. Its texts may borrow from the text it was read
/// from (see [`Text`]); [`Record::into_owned`] makes one that outlives it.
#[derive(Debug, Clone, PartialEq)]
pub enum Record<'a> {
    Define(Definition<'a>),
    Membership {
        group: Text<'a>,
        member: Text<'a>,
    },
    Role {
        name: Text<'a>,
        id: Option<Text<'a>>,
        privileged: Option<bool>,
        actions: Option<Vec<String>>,
    },
    RoleAssignment {
        principal: Text<'a>,
        role: Text<'a>,
        scope: Text<'a>,
        condition: Option<Text<'a>>,
    },
    Exposure {
        resource: Text<'a>,
        from: Text<'a>,
        /// `None` = all ports.
        ports: Option<Vec<PortRange>>,
        protocol: Option<Text<'a>>,
        via: Option<Text<'a>>,
    },
    Reach {
        from: Text<'a>,
        to: Text<'a>,
        ports: Option<Vec<PortRange>>,
        protocol: Option<Text<'a>>,
        via: Option<Text<'a>>,
    },
    Finding(Finding<'a>),
}

/// Records by type, for lineage.
#[derive(Debug, Clone, Copy, Default)]
pub struct TypeCounts([usize; 9]);

impl TypeCounts {
    const NAMES: [&'static str; 9] = [
        "scope",
        "resource",
        "identity",
        "membership",
        "role",
        "role_assignment",
        "exposure",
        "reach",
        "finding",
    ];

    pub fn add(&mut self, r: &Record<'_>) {
        let i = match r {
            Record::Define(d) => match d.def_type {
                DefType::Scope => 0,
                DefType::Resource => 1,
                DefType::Identity => 2,
            },
            Record::Membership { .. } => 3,
            Record::Role { .. } => 4,
            Record::RoleAssignment { .. } => 5,
            Record::Exposure { .. } => 6,
            Record::Reach { .. } => 7,
            Record::Finding(_) => 8,
        };
        self.0[i] += 1;
    }

    /// The counts by type name, leaving out types with none.
    pub fn named(&self) -> std::collections::BTreeMap<String, usize> {
        Self::NAMES
            .iter()
            .zip(self.0)
            .filter(|(_, n)| *n > 0)
            .map(|(t, n)| (t.to_string(), n))
            .collect()
    }
}

/// True when an `exposure.from` means the public internet.
pub fn is_internet_source(from: &str) -> bool {
    let f = from.trim();
    ["internet", "*", "any", "0.0.0.0/0", "::/0"]
        .iter()
        .any(|s| f.eq_ignore_ascii_case(s))
}

impl<'a> Record<'a> {
    /// The record moved out of a list it was lent from (see
    /// [`Sink::take`](super::native::Sink::take)), leaving in its place an empty
    /// membership, which allocates nothing.
    pub fn take(&mut self) -> Record<'a> {
        std::mem::replace(
            self,
            Record::Membership {
                group: Text::Borrowed(""),
                member: Text::Borrowed(""),
            },
        )
    }

    /// The record with every text its own, to outlive what it was read from.
    pub fn into_owned(self) -> Record<'static> {
        match self {
            Record::Define(d) => Record::Define(d.into_owned()),
            Record::Membership { group, member } => Record::Membership {
                group: owned(group),
                member: owned(member),
            },
            Record::Role {
                name,
                id,
                privileged,
                actions,
            } => Record::Role {
                name: owned(name),
                id: id.map(owned),
                privileged,
                actions,
            },
            Record::RoleAssignment {
                principal,
                role,
                scope,
                condition,
            } => Record::RoleAssignment {
                principal: owned(principal),
                role: owned(role),
                scope: owned(scope),
                condition: condition.map(owned),
            },
            Record::Exposure {
                resource,
                from,
                ports,
                protocol,
                via,
            } => Record::Exposure {
                resource: owned(resource),
                from: owned(from),
                ports,
                protocol: protocol.map(owned),
                via: via.map(owned),
            },
            Record::Reach {
                from,
                to,
                ports,
                protocol,
                via,
            } => Record::Reach {
                from: owned(from),
                to: owned(to),
                ports,
                protocol: protocol.map(owned),
                via: via.map(owned),
            },
            Record::Finding(f) => Record::Finding(f.into_owned()),
        }
    }

    /// A fast, fixed-seed hash of a relation record or finding, for spotting exact duplicates without
    /// keeping a second copy of every record; `None` for definitions, which are merged
    /// field by field instead.
    pub fn relation_hash(&self) -> Option<u64> {
        self.relation_hash_with(&foldhash::fast::FixedState::default())
    }

    /// A 128-bit hash of a relation record or finding: two records with the same one are
    /// taken as exact duplicates without the earlier record being kept to compare. Two
    /// different records share one with odds of about n²/2¹²⁹ (below 10⁻²⁵ at ten million
    /// records). As two words (low, high): a `u128` would be aligned to 16 bytes wherever
    /// it is kept.
    pub fn relation_hash128(&self) -> Option<[u64; 2]> {
        let lo = self.relation_hash()?;
        let hi = self.relation_hash_with(&foldhash::fast::FixedState::with_seed(
            0x9e37_79b9_7f4a_7c15,
        ))?;
        Some([lo, hi])
    }

    fn relation_hash_with(&self, state: &impl std::hash::BuildHasher) -> Option<u64> {
        Some(match self {
            Record::Define(_) => return None,
            Record::Membership { group, member } => state.hash_one((0u8, group, member)),
            Record::Role {
                name,
                id,
                privileged,
                actions,
            } => state.hash_one((1u8, name, id, privileged, actions)),
            Record::RoleAssignment {
                principal,
                role,
                scope,
                condition,
            } => state.hash_one((2u8, principal, role, scope, condition)),
            Record::Exposure {
                resource,
                from,
                ports,
                protocol,
                via,
            } => state.hash_one((3u8, resource, from, ports, protocol, via)),
            Record::Reach {
                from,
                to,
                ports,
                protocol,
                via,
            } => state.hash_one((4u8, from, to, ports, protocol, via)),
            Record::Finding(f) => state.hash_one((5u8, f)),
        })
    }
}
