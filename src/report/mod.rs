//! Scan and query outputs: a terminal table, JSON (versioned schema, documented in
//! `docs/output.md`), JSON Lines and Markdown. Everything is computed once into
//! [`ScanDoc`]; each format only renders it, so formats cannot disagree.

mod import;
pub mod quarterly;
pub mod quarterly_out;
mod rulesdoc;
mod text;

pub use import::import_explanation;

pub use rulesdoc::{rule_doc, rules_list};
pub use text::{markdown, plural, query_text, table, walk_line};

use crate::diag::Diagnostic;
use crate::graph::{Category, EdgeKind, Graph, GraphStats};
use crate::ingest::{Level, Meta};
use crate::rules::{Attack, RulePack};
use crate::scan::{Combination, Outcome};
use indexmap::IndexMap;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

/// Version of the JSON document; bumped on any incompatible change.
pub const SCAN_SCHEMA: &str = "toxgraph.scan/v1";

#[derive(Debug, Serialize)]
pub struct ScanDoc {
    pub schema: &'static str,
    pub tool: Tool,
    pub input: String,
    pub snapshot: Meta,
    pub counts: Counts,
    pub by_rule: Vec<RuleCount>,
    pub by_owner: Vec<OwnerCount>,
    /// Empty in a document from [`scan_doc_unlisted`].
    pub combinations: Vec<ComboDoc>,
    pub warnings: Vec<WarningDoc>,
    /// Set when the listing was cut by `--max-combinations`: never a silent truncation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
    /// How many combinations the listing has (the first of the scan's, in its order).
    #[serde(skip)]
    pub listed: usize,
}

#[derive(Debug, Serialize)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

impl Tool {
    pub fn current() -> Tool {
        Tool {
            name: "toxgraph",
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Counts {
    #[serde(flatten)]
    pub graph: GraphStats,
    pub rules: usize,
    pub combinations: usize,
    pub toxic_resources: usize,
    /// Combinations by severity, most severe first.
    pub by_severity: IndexMap<Level, usize>,
    pub warnings: usize,
}

#[derive(Debug, Serialize)]
pub struct RuleCount {
    pub rule: String,
    pub name: String,
    pub title: String,
    pub severity: Level,
    pub combinations: usize,
    /// Distinct entries of this rule's combinations.
    pub entries: usize,
}

#[derive(Debug, Serialize)]
pub struct OwnerCount {
    pub owner: String,
    pub combinations: usize,
    pub toxic_resources: usize,
    /// Combinations by severity, most severe first.
    pub by_severity: IndexMap<Level, usize>,
}

#[derive(Debug, Serialize)]
pub struct ComboDoc {
    pub rule: String,
    pub name: String,
    pub severity: Level,
    pub title: String,
    pub entry: String,
    pub target: String,
    pub owner: String,
    pub fingerprint: String,
    pub attack: Vec<Attack>,
    pub walk: Vec<StepDoc>,
}

/// One step of a witness walk. `via` is the edge taken into this node (absent on the first).
#[derive(Debug, Serialize)]
pub struct StepDoc {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub via: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<String>>,
    pub node: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub category: &'static str,
    pub kind: String,
}

#[derive(Debug, Serialize)]
pub struct WarningDoc {
    pub file: String,
    pub line: usize,
    pub message: String,
}

const SEVERITIES: [Level; 4] = [Level::Critical, Level::High, Level::Medium, Level::Low];

/// Counts by severity, from (severity, how many) pairs.
fn by_severity(levels: impl Iterator<Item = (Level, usize)>) -> IndexMap<Level, usize> {
    let mut counts: IndexMap<Level, usize> = SEVERITIES.iter().map(|l| (*l, 0)).collect();
    for (l, n) in levels {
        counts[&l] += n;
    }
    counts
}

/// Renders a walk step for people and documents.
pub fn step_doc(g: &Graph, s: &crate::engine::Step) -> StepDoc {
    let n = g.node(s.node);
    let mut doc = StepDoc {
        via: None,
        role: None,
        privileged: None,
        ports: None,
        node: g.id(s.node).to_string(),
        name: g.name(s.node).map(String::from),
        category: n.category.as_str(),
        kind: g.kind(s.node).to_string(),
    };
    if let Some(e) = s.edge {
        let w = g.edge(e);
        doc.via = Some(w.kind.as_str());
        if let Some(r) = g.role_of(e) {
            doc.role = Some(r.name.clone());
            doc.privileged = Some(r.privileged);
        }
        if let Some(net) = g.net_of(e) {
            doc.ports = net
                .ports
                .as_ref()
                .map(|ps| ps.iter().map(ToString::to_string).collect());
        }
        debug_assert!(EdgeKind::ALL.contains(&w.kind));
    }
    doc
}

/// Gathers everything the scan outputs show.
pub fn scan_doc(
    input: &str,
    g: &Graph,
    pack: &RulePack,
    outcome: &Outcome,
    warnings: &[Diagnostic],
    max_listed: Option<usize>,
) -> ScanDoc {
    let mut doc = scan_doc_unlisted(input, g, pack, outcome, warnings, max_listed);
    doc.combinations = outcome.combinations[..doc.listed]
        .iter()
        .map(|c| combo_doc(g, pack, c))
        .collect();
    doc
}

/// [`scan_doc`] without the listing's documents, for [`write_json_listing`] to make them a
/// batch at a time as it writes: at a million resources they would be 0.3 GB held at once.
/// The counts come from the outcome's tallies, so they cover every combination however
/// few the outcome holds.
pub fn scan_doc_unlisted(
    input: &str,
    g: &Graph,
    pack: &RulePack,
    outcome: &Outcome,
    warnings: &[Diagnostic],
    max_listed: Option<usize>,
) -> ScanDoc {
    let rules = &pack.rules;
    let tallies = &outcome.tallies;
    let total = outcome.total();
    // Only the listed combinations are ever turned into documents (a walk of every step
    // with its ids and payloads is many times the size of the combination), so a cap
    // bounds the report's memory, not only its length; the counts below still cover all.
    // The outcome holds at least the first `max_listed` combinations, or all of them.
    let listed = max_listed
        .unwrap_or(usize::MAX)
        .min(outcome.combinations.len());
    let notice = (listed < total).then(|| {
        format!(
            "listing cut to the first {listed} of {total} combinations by --max-combinations; counts cover all {total}"
        )
    });
    let is_resource = |v: u32| g.node(v).category == Category::Resource;
    let toxic: BTreeSet<u32> = tallies
        .iter()
        .map(|t| t.entry)
        .filter(|&v| is_resource(v))
        .collect();

    let by_rule = rules
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mine = tallies.iter().filter(|t| t.rule == i);
            RuleCount {
                rule: r.id.clone(),
                name: r.name.clone(),
                title: r.title.clone(),
                severity: r.severity,
                combinations: mine.clone().map(|t| t.combinations).sum(),
                entries: mine.map(|t| t.entry).collect::<BTreeSet<_>>().len(),
            }
        })
        .collect();

    // Per owner: combinations by severity, and the toxic resources. Owners are found in
    // parallel, beside the graph's counts: both read from all over the graph (at a million
    // resources, 12,000 tallies climb their ancestries for a tag).
    let (graph_counts, owner_of) = rayon::join(
        || g.stats(),
        || {
            use rayon::prelude::*;
            tallies
                .par_iter()
                .map(|t| g.owner(t.entry))
                .collect::<Vec<&str>>()
        },
    );
    let mut owners: BTreeMap<&str, (IndexMap<Level, usize>, BTreeSet<u32>)> = BTreeMap::new();
    for (t, owner) in tallies.iter().zip(owner_of) {
        let (levels, toxic) = owners
            .entry(owner)
            .or_insert_with(|| (by_severity(std::iter::empty()), BTreeSet::new()));
        levels[&rules[t.rule].severity] += t.combinations;
        if is_resource(t.entry) {
            toxic.insert(t.entry);
        }
    }
    let mut by_owner: Vec<OwnerCount> = owners
        .into_iter()
        .map(|(owner, (levels, toxic))| OwnerCount {
            owner: owner.to_string(),
            combinations: levels.values().sum(),
            toxic_resources: toxic.len(),
            by_severity: levels,
        })
        .collect();
    by_owner.sort_by(|a, b| {
        b.combinations
            .cmp(&a.combinations)
            .then_with(|| a.owner.cmp(&b.owner))
    });

    let mut warning_docs: Vec<WarningDoc> = warnings
        .iter()
        .map(|d| WarningDoc {
            file: d.file.clone(),
            line: d.line,
            message: d.message.clone(),
        })
        .collect();
    warning_docs.sort_by(|a, b| (&a.file, a.line, &a.message).cmp(&(&b.file, b.line, &b.message)));

    ScanDoc {
        schema: SCAN_SCHEMA,
        tool: Tool::current(),
        input: input.to_string(),
        snapshot: g.meta.clone(),
        counts: Counts {
            graph: graph_counts,
            rules: rules.len(),
            combinations: total,
            toxic_resources: toxic.len(),
            by_severity: by_severity(
                tallies
                    .iter()
                    .map(|t| (rules[t.rule].severity, t.combinations)),
            ),
            warnings: warnings.len(),
        },
        by_rule,
        by_owner,
        combinations: Vec::new(),
        warnings: warning_docs,
        notice,
        listed,
    }
}

/// The report document of one combination.
pub fn combo_doc(g: &Graph, pack: &RulePack, c: &Combination) -> ComboDoc {
    ComboDoc {
        entry: g.id(c.entry).to_string(),
        target: g.id(c.target).to_string(),
        owner: g.owner(c.entry).to_string(),
        fingerprint: c.fingerprint.clone(),
        walk: c.walk.iter().map(|s| step_doc(g, s)).collect(),
        ..rule_fields(&pack.rules[c.rule])
    }
}

/// A combination's document with only its rule's fields filled in: the same in every
/// combination of the rule.
fn rule_fields(r: &crate::rules::Rule) -> ComboDoc {
    ComboDoc {
        rule: r.id.clone(),
        name: r.name.clone(),
        severity: r.severity,
        title: r.title.clone(),
        entry: String::new(),
        target: String::new(),
        owner: String::new(),
        fingerprint: String::new(),
        attack: r.attack.clone(),
        walk: Vec::new(),
    }
}

/// Escapes text for HTML and XML element content and attribute values.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Pretty JSON with a trailing newline: how every JSON document toxgraph writes ends.
pub fn pretty_json<T: Serialize + ?Sized>(value: &T) -> String {
    let mut s = serde_json::to_string_pretty(value).unwrap_or_default();
    s.push('\n');
    s
}

/// The scan document as pretty JSON. The combinations, most of the text at scale, are
/// written in parallel and spliced in where the document has them; the text is the same
/// byte for byte as writing the document in one piece.
pub fn json(doc: &ScanDoc) -> String {
    let mut out = Vec::new();
    // Writing to memory cannot fail, and the text is UTF-8 throughout.
    let _ = write_json(doc, &mut out);
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Writes [`json`]'s text as it is made: the listing, which can run to hundreds of
/// megabytes, is formatted in parallel pieces and never held whole (see [`crate::stream`]).
pub fn write_json(doc: &ScanDoc, out: &mut (dyn std::io::Write + Send)) -> std::io::Result<()> {
    write_listing(doc, &doc.combinations, &indented, &|_, _| {}, out)
}

/// [`write_json`] of a document from [`scan_doc_unlisted`], the listing's text made from
/// `outcome` (the one the document was made from) a batch at a time: the same text.
pub fn write_json_listing(
    doc: &ScanDoc,
    g: &Graph,
    pack: &RulePack,
    outcome: &Outcome,
    out: &mut (dyn std::io::Write + Send),
) -> std::io::Result<()> {
    let combos = &outcome.combinations;
    let listed = &combos[..doc.listed.min(combos.len())];
    let listing = Listing::new(g, pack);
    write_listing(
        doc,
        listed,
        &|c, text| listing.write(c, text),
        &|c, step| listing.ahead(c, step),
        out,
    )
}

/// Appends `c`'s document as pretty JSON, indented to sit in the listing.
fn indented(c: &ComboDoc, text: &mut Vec<u8>) {
    let pretty = serde_json::to_string_pretty(c).unwrap_or_default();
    for (j, line) in pretty.lines().enumerate() {
        if j > 0 {
            text.push(b'\n');
        }
        text.extend_from_slice(b"    ");
        text.extend_from_slice(line.as_bytes());
    }
}

/// Writes a listed combination's JSON straight from the graph, as [`indented`] writes its
/// [`ComboDoc`]: at scale the listing is most of a scan's output (320 MB at a million
/// resources), and making a document of owned strings, printing it and indenting the
/// print took most of the write. Each rule's own fields, the same in all its
/// combinations, are printed once, by serde_json, and cut where the per-combination
/// values go; the rest is written here, with serde_json escaping every string.
struct Listing<'a> {
    g: &'a Graph,
    /// Per rule: the text before the entry's value, between the entry's, target's,
    /// owner's and fingerprint's values, before the walk and after it.
    rules: Vec<[String; 6]>,
}

impl<'a> Listing<'a> {
    fn new(g: &'a Graph, pack: &RulePack) -> Listing<'a> {
        let rules = pack
            .rules
            .iter()
            .map(|r| {
                let mut text = Vec::new();
                indented(&rule_fields(r), &mut text);
                let text = String::from_utf8_lossy(&text);
                // A value is never split by a newline, so each key is found at its line.
                let mut pieces: [String; 6] = Default::default();
                let mut rest = &*text;
                for (i, key) in ["entry", "target", "owner", "fingerprint", "walk"]
                    .iter()
                    .enumerate()
                {
                    let empty = if *key == "walk" { "[]" } else { "\"\"" };
                    let marker = format!("\n      \"{key}\": {empty}");
                    let at = rest
                        .find(&marker)
                        .map_or(rest.len(), |at| at + marker.len() - empty.len());
                    pieces[i] = rest[..at].to_string();
                    rest = rest.get(at + empty.len()..).unwrap_or("");
                }
                pieces[5] = rest.to_string();
                pieces
            })
            .collect();
        Listing { g, rules }
    }

    /// Step `step` of asking for what writing `c` reads, before its turn: its walk and
    /// fingerprint, then its nodes' data and edges' weights, then its nodes' ids. Walks
    /// lead all over the graph, and formatting the listing waited on those loads (a third
    /// of its samples were in reading ids).
    fn ahead(&self, c: &Combination, step: usize) {
        let g = self.g;
        match step {
            0 => {
                if let (Some(first), Some(last)) = (c.walk.first(), c.walk.last()) {
                    crate::prefetch::prefetch(first);
                    crate::prefetch::prefetch(last);
                }
                crate::prefetch::prefetch_text(&c.fingerprint);
            }
            1 => {
                for s in &c.walk {
                    g.prefetch_node(s.node);
                    if let Some(e) = s.edge {
                        g.prefetch_edge(e);
                    }
                }
            }
            _ => {
                for s in &c.walk {
                    g.prefetch_id(s.node);
                }
            }
        }
    }

    fn write(&self, c: &Combination, out: &mut Vec<u8>) {
        let g = self.g;
        let [head, after_entry, after_target, after_owner, after_print, tail] = &self.rules[c.rule];
        let text = |out: &mut Vec<u8>, s: &str| out.extend_from_slice(s.as_bytes());
        // `s`, after the comma that separates it from the item before unless it is first.
        let item = |out: &mut Vec<u8>, first: bool, s: &str| {
            if !first {
                out.push(b',');
            }
            text(out, s);
        };
        // A step's field: its key and a string value.
        let field = |out: &mut Vec<u8>, first: bool, key: &str, value: &str| {
            item(out, first, "\n          \"");
            text(out, key);
            text(out, "\": ");
            json_str(out, value);
        };
        text(out, head);
        json_str(out, g.id(c.entry));
        text(out, after_entry);
        json_str(out, g.id(c.target));
        text(out, after_target);
        json_str(out, g.owner(c.entry));
        text(out, after_owner);
        json_str(out, &c.fingerprint);
        text(out, after_print);
        out.push(b'[');
        for (i, s) in c.walk.iter().enumerate() {
            item(out, i == 0, "\n        {");
            if let Some(e) = s.edge {
                field(out, true, "via", g.edge(e).kind.as_str());
                if let Some(r) = g.role_of(e) {
                    field(out, false, "role", &r.name);
                    text(out, ",\n          \"privileged\": ");
                    text(out, if r.privileged { "true" } else { "false" });
                }
                if let Some(ports) = g.net_of(e).and_then(|n| n.ports.as_ref()) {
                    text(out, ",\n          \"ports\": [");
                    for (j, p) in ports.iter().enumerate() {
                        item(out, j == 0, "\n            \"");
                        let _ = write!(out, "{p}\"");
                    }
                    text(
                        out,
                        if ports.is_empty() {
                            "]"
                        } else {
                            "\n          ]"
                        },
                    );
                }
            }
            let n = g.node(s.node);
            field(out, s.edge.is_none(), "node", g.id(s.node));
            if let Some(name) = g.name(s.node) {
                field(out, false, "name", name);
            }
            field(out, false, "category", n.category.as_str());
            field(out, false, "kind", g.kind(s.node));
            text(out, "\n        }");
        }
        text(out, "\n      ]");
        text(out, tail);
    }
}

/// Appends `s` as a JSON string (see [`crate::text::json_quoted`]): escaping every string
/// through serde_json was a twentieth of a one-thread scan.
fn json_str(out: &mut Vec<u8>, s: &str) {
    crate::text::json_quoted(s, |piece| out.extend_from_slice(piece.as_bytes()));
}

/// The document's text with `all` as its listing, each element appended by `one`; `ahead`
/// asks for what an element will read, steps before its turn (see [`Listing::ahead`]).
fn write_listing<T: Sync>(
    doc: &ScanDoc,
    all: &[T],
    one: &(dyn Fn(&T, &mut Vec<u8>) + Sync),
    ahead: &(dyn Fn(&T, usize) + Sync),
    out: &mut (dyn std::io::Write + Send),
) -> std::io::Result<()> {
    const EMPTY: &str = "\n  \"combinations\": [],\n";
    let shell = serde_json::to_string_pretty(&ScanDocShell(doc)).unwrap_or_default();
    let at = match shell.find(EMPTY) {
        Some(at) if !all.is_empty() => at,
        _ => {
            out.write_all(shell.as_bytes())?;
            return out.write_all(b"\n");
        }
    };
    out.write_all(&shell.as_bytes()[..at])?;
    out.write_all(b"\n  \"combinations\": [\n")?;
    // 256 combinations a piece (about 0.75 MB of text), so a batch is a few MB: the
    // first batch's formatting and the last one's writing, which nothing overlaps, stay
    // short.
    crate::stream::write_batched(all, 256, out, &|cs, text| {
        for (i, c) in cs.iter().enumerate() {
            crate::prefetch::ahead(|k| cs.get(k), i, &[12, 8, 4], ahead);
            // Elements are separated by `,` and a newline; the listing's first has none.
            if i > 0 || !std::ptr::eq(cs.as_ptr(), all.as_ptr()) {
                text.extend_from_slice(b",\n");
            }
            one(c, text);
        }
    })?;
    out.write_all(b"\n  ],\n")?;
    out.write_all(&shell.as_bytes()[at + EMPTY.len()..])?;
    out.write_all(b"\n")
}

/// The scan document with an empty listing, for [`json`] to splice the listing into.
struct ScanDocShell<'a>(&'a ScanDoc);

impl Serialize for ScanDocShell<'_> {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let d = self.0;
        let none: &[ComboDoc] = &[];
        let mut st = ser.serialize_struct("ScanDoc", 10)?;
        st.serialize_field("schema", d.schema)?;
        st.serialize_field("tool", &d.tool)?;
        st.serialize_field("input", &d.input)?;
        st.serialize_field("snapshot", &d.snapshot)?;
        st.serialize_field("counts", &d.counts)?;
        st.serialize_field("by_rule", &d.by_rule)?;
        st.serialize_field("by_owner", &d.by_owner)?;
        st.serialize_field("combinations", none)?;
        st.serialize_field("warnings", &d.warnings)?;
        if let Some(n) = &d.notice {
            st.serialize_field("notice", n)?;
        }
        st.end()
    }
}

/// One combination per line.
pub fn jsonl(doc: &ScanDoc) -> String {
    let mut s = String::new();
    for c in &doc.combinations {
        s.push_str(&serde_json::to_string(c).unwrap_or_default());
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]
        /// Byte for byte what serde_json writes, whether the string is copied whole or
        /// escaped.
        #[test]
        fn json_str_writes_what_serde_json_writes(s in "[a/\"\\\\\u{0}\n\u{1f}\u{7f}é]{0,40}") {
            let mut out = b"[".to_vec();
            super::json_str(&mut out, &s);
            prop_assert_eq!(out, [b"[".to_vec(), serde_json::to_vec(&s).unwrap()].concat());
        }
    }
}
