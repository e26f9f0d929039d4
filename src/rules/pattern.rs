//! The path-pattern language: a Cypher-like chain of node and edge patterns.
//!
//! ```text
//! (internet)-[:exposes]->(entry:resource)-[:reaches*1..3]->(target:resource {sensitivity: "high"})
//! ```
//!
//! Parsing checks every name against the graph's schema (node labels, edge kinds, property
//! keys, which predicates fit which edge kinds), so a pattern that parses can be compiled
//! without further checks. Positions in errors are byte offsets into the pattern text.
//! The full language is documented in `docs/rules.md`.

use crate::graph::EdgeKind;
use crate::ingest::{native::parse_port_range, Level, PortRange};

/// A parse or check error at a byte range of the pattern text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    pub start: usize,
    pub end: usize,
    pub message: String,
    pub expected: Option<String>,
}

/// A parsed, checked pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern {
    pub nodes: Vec<NodePat>,
    /// `edges[j]` joins `nodes[j]` and `nodes[j + 1]`.
    pub edges: Vec<EdgePat>,
    /// Index into `nodes` of the entry (named `entry`, else the first node after `internet`).
    pub entry: usize,
    /// Index into `nodes` of the target (named `target`, else the last node).
    pub target: usize,
    /// `where entry <> target`.
    pub distinct_entry_target: bool,
}

impl Pattern {
    /// Does any node test read `props.KEY`? A graph built only for patterns that do not
    /// need not keep resources' props.
    pub fn reads_props(&self) -> bool {
        self.nodes.iter().flat_map(|n| &n.preds).any(|p| {
            matches!(
                p,
                NodePred::Prop {
                    key: NodeKey::Prop(_),
                    ..
                }
            )
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NodePat {
    pub var: Option<String>,
    /// Alternatives: the node must match at least one (none = any node).
    pub labels: Vec<Label>,
    /// All must hold.
    pub preds: Vec<NodePred>,
}

/// What `(x:LABEL)` can name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Label {
    Internet,
    Scope,
    Resource,
    Identity,
    /// A scope or identity kind, e.g. `subscription`, `service_principal`.
    Kind(&'static str),
}

pub const LABELS: &[&str] = &[
    "internet",
    "scope",
    "resource",
    "identity",
    "management_group",
    "subscription",
    "resource_group",
    "user",
    "group",
    "service_principal",
    "managed_identity",
];

#[derive(Debug, Clone, PartialEq)]
pub enum NodePred {
    Prop {
        key: NodeKey,
        test: Test,
        negated: bool,
    },
    /// The node has at least one finding meeting every test (or, negated, none does).
    Finding {
        tests: Vec<(FindingKey, Test)>,
        negated: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKey {
    Id,
    Name,
    Kind,
    Owner,
    Sensitivity,
    Defined,
    /// `tags.KEY`, inherited from ancestors.
    Tag(String),
    /// `props.KEY`, a top-level property of the resource.
    Prop(String),
}

pub const NODE_KEYS: &str =
    "id, name, kind, owner, sensitivity, defined, tags.KEY, props.KEY, finding";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindingKey {
    Class,
    State,
    Severity,
    Category,
    Technique,
    Title,
    Id,
}

pub const FINDING_KEYS: &str = "class, state, severity, category, technique, title, id";

/// A test on one value.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    /// The key is present (for booleans: true).
    Exists,
    Eq(Value),
    In(Vec<Value>),
    /// Ordered comparison; only on severity.
    Cmp(CmpOp, Level),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Ge,
    Gt,
    Le,
    Lt,
}

impl CmpOp {
    pub fn holds(self, a: Level, b: Level) -> bool {
        match self {
            CmpOp::Ge => a >= b,
            CmpOp::Gt => a > b,
            CmpOp::Le => a <= b,
            CmpOp::Lt => a < b,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Num(f64),
    Bool(bool),
}

impl Value {
    /// Strings compare ASCII case-insensitively (cloud ids and enumerations differ in
    /// casing between sources); numbers and booleans exactly.
    pub fn matches_str(&self, s: &str) -> bool {
        match self {
            Value::Str(v) => v.eq_ignore_ascii_case(s),
            Value::Num(n) => s.trim().parse::<f64>().is_ok_and(|x| x == *n),
            Value::Bool(b) => s
                .trim()
                .eq_ignore_ascii_case(if *b { "true" } else { "false" }),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct EdgePat {
    /// Alternatives; empty = any kind.
    pub kinds: Vec<EdgeKind>,
    pub min: u32,
    /// `None` = unbounded.
    pub max: Option<u32>,
    pub preds: Vec<EdgePred>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EdgePred {
    /// `has_role` edges: the role is (or is not) privileged.
    Privileged(bool),
    /// `has_role` edges: the role's resolved name.
    Role(Test, bool),
    /// `exposes`/`reaches` edges: traffic to any of these ports passes.
    Port(Vec<PortRange>, bool),
    /// `exposes`/`reaches` edges: the protocol (an absent protocol matches any).
    Protocol(Test, bool),
}

// ---------------------------------------------------------------- lexer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LParen,
    RParen,
    LBrack,
    RBrack,
    LBrace,
    RBrace,
    Colon,
    Comma,
    Pipe,
    Star,
    Plus,
    DotDot,
    Dash,
    Arrow,     // ->
    BackArrow, // <-
    Cmp(CmpOp),
    Ne,
    Eq,
    Ident(String),
    Str(String),
    Num(f64),
    Eof,
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::LParen => "`(`".into(),
        Tok::RParen => "`)`".into(),
        Tok::LBrack => "`[`".into(),
        Tok::RBrack => "`]`".into(),
        Tok::LBrace => "`{`".into(),
        Tok::RBrace => "`}`".into(),
        Tok::Colon => "`:`".into(),
        Tok::Comma => "`,`".into(),
        Tok::Pipe => "`|`".into(),
        Tok::Star => "`*`".into(),
        Tok::Plus => "`+`".into(),
        Tok::DotDot => "`..`".into(),
        Tok::Dash => "`-`".into(),
        Tok::Arrow => "`->`".into(),
        Tok::BackArrow => "`<-`".into(),
        Tok::Cmp(_) => "a comparison".into(),
        Tok::Ne => "`<>`".into(),
        Tok::Eq => "`=`".into(),
        Tok::Ident(s) => format!("`{s}`"),
        Tok::Str(s) => format!("\"{s}\""),
        Tok::Num(n) => format!("`{n}`"),
        Tok::Eof => "end of pattern".into(),
    }
}

struct Lexed {
    toks: Vec<(Tok, usize, usize)>,
}

fn err(
    start: usize,
    end: usize,
    message: impl Into<String>,
    expected: Option<&str>,
) -> PatternError {
    PatternError {
        start,
        end: end.max(start + 1),
        message: message.into(),
        expected: expected.map(str::to_string),
    }
}

fn lex(src: &str) -> Result<Lexed, PatternError> {
    let b = src.as_bytes();
    let mut i = 0;
    let mut toks = Vec::new();
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        let two = |s: &str| src[i..].starts_with(s);
        let (tok, len) = if two("->") {
            (Tok::Arrow, 2)
        } else if two("<-") {
            (Tok::BackArrow, 2)
        } else if two("<>") || two("!=") {
            (Tok::Ne, 2)
        } else if two(">=") {
            (Tok::Cmp(CmpOp::Ge), 2)
        } else if two("<=") {
            (Tok::Cmp(CmpOp::Le), 2)
        } else if two("..") {
            (Tok::DotDot, 2)
        } else {
            match c {
                b'(' => (Tok::LParen, 1),
                b')' => (Tok::RParen, 1),
                b'[' => (Tok::LBrack, 1),
                b']' => (Tok::RBrack, 1),
                b'{' => (Tok::LBrace, 1),
                b'}' => (Tok::RBrace, 1),
                b':' => (Tok::Colon, 1),
                b',' => (Tok::Comma, 1),
                b'|' => (Tok::Pipe, 1),
                b'*' => (Tok::Star, 1),
                b'+' => (Tok::Plus, 1),
                b'-' => (Tok::Dash, 1),
                b'>' => (Tok::Cmp(CmpOp::Gt), 1),
                b'<' => (Tok::Cmp(CmpOp::Lt), 1),
                b'=' => (Tok::Eq, 1),
                b'"' | b'\'' => {
                    let q = c;
                    let mut j = i + 1;
                    let mut s = String::new();
                    loop {
                        if j >= b.len() {
                            return Err(err(
                                start,
                                b.len(),
                                "unterminated string",
                                Some("a closing quote"),
                            ));
                        }
                        if b[j] == b'\\' && j + 1 < b.len() {
                            let ch = src[j + 1..].chars().next().unwrap_or('\\');
                            s.push(ch);
                            j += 1 + ch.len_utf8();
                            continue;
                        }
                        if b[j] == q {
                            break;
                        }
                        let ch = src[j..].chars().next().unwrap_or(' ');
                        s.push(ch);
                        j += ch.len_utf8();
                    }
                    toks.push((Tok::Str(s), start, j + 1));
                    i = j + 1;
                    continue;
                }
                b'0'..=b'9' => {
                    let mut j = i;
                    while j < b.len() && b[j].is_ascii_digit() {
                        j += 1;
                    }
                    // A fraction, but not the `..` of a range.
                    if j + 1 < b.len() && b[j] == b'.' && b[j + 1].is_ascii_digit() {
                        j += 1;
                        while j < b.len() && b[j].is_ascii_digit() {
                            j += 1;
                        }
                    }
                    let n: f64 = src[i..j]
                        .parse()
                        .map_err(|_| err(i, j, "invalid number", None))?;
                    toks.push((Tok::Num(n), i, j));
                    i = j;
                    continue;
                }
                c if c.is_ascii_alphabetic() || c == b'_' => {
                    let mut j = i;
                    while j < b.len()
                        && (b[j].is_ascii_alphanumeric()
                            || b[j] == b'_'
                            || (b[j] == b'.'
                                && b.get(j + 1).is_some_and(|n| n.is_ascii_alphanumeric())))
                    {
                        j += 1;
                    }
                    toks.push((Tok::Ident(src[i..j].to_string()), i, j));
                    i = j;
                    continue;
                }
                _ => {
                    let ch = src[i..].chars().next().unwrap_or('?');
                    return Err(err(
                        i,
                        i + ch.len_utf8(),
                        format!("unexpected character `{ch}`"),
                        Some("a node `(...)`, an edge `-[...]->`, a name, a string or a number"),
                    ));
                }
            }
        };
        toks.push((tok, start, start + len));
        i += len;
    }
    toks.push((Tok::Eof, src.len(), src.len()));
    Ok(Lexed { toks })
}

// ---------------------------------------------------------------- parser

struct Parser {
    toks: Vec<(Tok, usize, usize)>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.pos].0
    }
    fn span(&self) -> (usize, usize) {
        (self.toks[self.pos].1, self.toks[self.pos].2)
    }
    fn bump(&mut self) -> (Tok, usize, usize) {
        let t = self.toks[self.pos].clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }
    fn eat(&mut self, t: &Tok) -> bool {
        if self.peek() == t {
            self.bump();
            true
        } else {
            false
        }
    }
    fn unexpected(&self, expected: &str) -> PatternError {
        let (s, e) = self.span();
        err(
            s,
            e,
            format!("unexpected {}", describe(self.peek())),
            Some(expected),
        )
    }
    fn expect(&mut self, t: Tok, expected: &str) -> Result<(), PatternError> {
        if self.eat(&t) {
            Ok(())
        } else {
            Err(self.unexpected(expected))
        }
    }
    fn ident(&mut self, expected: &str) -> Result<(String, usize, usize), PatternError> {
        match self.peek().clone() {
            Tok::Ident(s) => {
                let (_, a, b) = self.bump();
                Ok((s, a, b))
            }
            _ => Err(self.unexpected(expected)),
        }
    }
}

/// Automaton states are `u16`; far fewer than that keeps evaluation memory small.
const MAX_STATES: usize = 4096;

/// Parses and checks a pattern.
pub fn parse(src: &str) -> Result<Pattern, PatternError> {
    let Lexed { toks } = lex(src)?;
    let mut p = Parser { toks, pos: 0 };
    let mut nodes = Vec::new();
    let mut edges = Vec::new();
    let mut vars: Vec<(String, usize, usize)> = Vec::new();
    nodes.push(node(&mut p, &mut vars)?);
    loop {
        match p.peek() {
            Tok::Dash => {
                edges.push(edge(&mut p)?);
                nodes.push(node(&mut p, &mut vars)?);
            }
            Tok::BackArrow => {
                let (s, e) = p.span();
                return Err(err(
                    s,
                    e,
                    "edges pointing backwards (`<-`) are not supported",
                    Some("the path written in the direction of its edges, `-[...]->`"),
                ));
            }
            _ => break,
        }
    }
    let states: usize = nodes.len()
        + edges
            .iter()
            .map(|e: &EdgePat| e.max.unwrap_or(e.min.max(1)) as usize)
            .sum::<usize>();
    if states > MAX_STATES {
        return Err(err(
            0,
            src.len(),
            format!(
                "the pattern needs {states} automaton states; at most {MAX_STATES} are supported"
            ),
            Some("fewer nodes or smaller repetition bounds"),
        ));
    }
    let var_index = |name: &str| {
        nodes
            .iter()
            .position(|n: &NodePat| n.var.as_deref() == Some(name))
    };
    let entry =
        var_index("entry").unwrap_or(if nodes.len() > 1 && nodes[0].labels == [Label::Internet] {
            1
        } else {
            0
        });
    let target = nodes.len() - 1;
    if let Some(t) = var_index("target").filter(|&t| t != target) {
        let (_, s, e) = vars
            .iter()
            .find(|v| v.0 == "target")
            .cloned()
            .unwrap_or_default();
        let _ = t;
        return Err(err(
            s,
            e,
            "`target` must name the last node: a walk ends at its target",
            Some("`target` on the last node, or no name (the last node is the target)"),
        ));
    }
    if entry > target {
        let (_, s, e) = vars
            .iter()
            .find(|v| v.0 == "entry" || v.0 == "target")
            .cloned()
            .unwrap_or_default();
        return Err(err(
            s,
            e,
            "the entry comes after the target",
            Some("`entry` on a node before (or at) `target`"),
        ));
    }
    let mut distinct = false;
    if let Tok::Ident(w) = p.peek().clone() {
        if w.eq_ignore_ascii_case("where") {
            p.bump();
            loop {
                let (a, sa, ea) = p.ident("a node name")?;
                let (s, e) = p.span();
                if !p.eat(&Tok::Ne) {
                    return Err(err(
                        s,
                        e,
                        format!("unexpected {}", describe(p.peek())),
                        Some("`<>` (the only condition a `where` clause takes)"),
                    ));
                }
                let (b, sb, eb) = p.ident("a node name")?;
                // `entry` and `target` name their nodes even when defaulted.
                let resolve = |name: &str| match name {
                    "entry" => Some(entry),
                    "target" => Some(target),
                    _ => var_index(name),
                };
                let ia = resolve(&a)
                    .ok_or_else(|| err(sa, ea, format!("no node is named `{a}`"), None))?;
                let ib = resolve(&b)
                    .ok_or_else(|| err(sb, eb, format!("no node is named `{b}`"), None))?;
                let pair = (ia.min(ib), ia.max(ib));
                if pair != (entry.min(target), entry.max(target)) {
                    return Err(err(
                        sa,
                        eb,
                        "only the entry and the target can be compared",
                        Some("`where entry <> target`"),
                    ));
                }
                if entry == target {
                    return Err(err(
                        sa,
                        eb,
                        "the entry and the target are the same node, so this can never hold",
                        Some("an entry before the last node (the target)"),
                    ));
                }
                distinct = true;
                match p.peek() {
                    Tok::Ident(w) if w.eq_ignore_ascii_case("and") => {
                        p.bump();
                    }
                    _ => break,
                }
            }
        }
    }
    if *p.peek() != Tok::Eof {
        return Err(p.unexpected("`-[...]->` and another node, `where`, or the end of the pattern"));
    }
    Ok(Pattern {
        nodes,
        edges,
        entry,
        target,
        distinct_entry_target: distinct,
    })
}

fn node(p: &mut Parser, vars: &mut Vec<(String, usize, usize)>) -> Result<NodePat, PatternError> {
    p.expect(Tok::LParen, "`(` to start a node pattern")?;
    let mut var = None;
    let mut labels = Vec::new();
    if let Tok::Ident(name) = p.peek().clone() {
        let (_, s, e) = p.bump();
        if vars.iter().any(|v| v.0 == name) {
            return Err(err(
                s,
                e,
                format!("the name `{name}` is used twice"),
                Some("a name used once"),
            ));
        }
        vars.push((name.clone(), s, e));
        var = Some(name);
    }
    if p.eat(&Tok::Colon) {
        loop {
            let (l, s, e) = p.ident("a label")?;
            labels.push(label(&l).ok_or_else(|| {
                err(
                    s,
                    e,
                    format!("unknown node label `{l}`"),
                    Some(&format!("one of {}", LABELS.join(", "))),
                )
            })?);
            if !p.eat(&Tok::Pipe) {
                break;
            }
        }
    } else if var.as_deref() == Some("internet") {
        // `(internet)` is the internet node, as BloodHound-style paths write it.
        var = None;
        labels.push(Label::Internet);
    }
    let mut preds = Vec::new();
    if *p.peek() == Tok::LBrace {
        preds = node_preds(p)?;
    }
    p.expect(
        Tok::RParen,
        "`)` to close the node pattern, or `{` for properties",
    )?;
    Ok(NodePat { var, labels, preds })
}

fn label(l: &str) -> Option<Label> {
    let l = l.to_ascii_lowercase();
    Some(match l.as_str() {
        "internet" => Label::Internet,
        "scope" => Label::Scope,
        "resource" => Label::Resource,
        "identity" => Label::Identity,
        _ => Label::Kind(LABELS.iter().find(|x| **x == l)?),
    })
}

/// `{ item, item, ... }`: the shape every property map shares.
fn braced<T>(
    p: &mut Parser,
    what: &str,
    mut item: impl FnMut(&mut Parser) -> Result<T, PatternError>,
) -> Result<Vec<T>, PatternError> {
    p.expect(Tok::LBrace, &format!("`{{` to start {what}"))?;
    let mut out = Vec::new();
    if p.eat(&Tok::RBrace) {
        return Ok(out);
    }
    loop {
        out.push(item(p)?);
        if !p.eat(&Tok::Comma) {
            break;
        }
    }
    p.expect(Tok::RBrace, &format!("`,` or `}}` after {what}"))?;
    Ok(out)
}

fn node_preds(p: &mut Parser) -> Result<Vec<NodePred>, PatternError> {
    braced(p, "a property test", |p| {
        let negated = eat_not(p);
        let (k, s, e) = p.ident(&format!("a property: {NODE_KEYS}"))?;
        if k.eq_ignore_ascii_case("finding") {
            p.expect(
                Tok::Colon,
                "`:` and a map of finding tests, e.g. finding: {class: alert}",
            )?;
            let tests = braced(p, "a finding test", |p| {
                let (fk, fs, fe) = p.ident(&format!("a finding property: {FINDING_KEYS}"))?;
                let key = finding_key(&fk).ok_or_else(|| {
                    err(
                        fs,
                        fe,
                        format!("unknown finding property `{fk}`"),
                        Some(&format!("one of {FINDING_KEYS}")),
                    )
                })?;
                let test = test(p, key == FindingKey::Severity, fs, fe)?;
                check_finding_value(key, &test, fs, fe)?;
                Ok((key, test))
            })?;
            return Ok(NodePred::Finding { tests, negated });
        }
        let key = node_key(&k).ok_or_else(|| {
            err(
                s,
                e,
                format!("unknown node property `{k}`"),
                Some(&format!("one of {NODE_KEYS}")),
            )
        })?;
        let test = test(p, false, s, e)?;
        Ok(NodePred::Prop { key, test, negated })
    })
}

fn eat_not(p: &mut Parser) -> bool {
    if let Tok::Ident(w) = p.peek() {
        if w.eq_ignore_ascii_case("not")
            && matches!(p.toks.get(p.pos + 1), Some((Tok::Ident(_), _, _)))
        {
            p.bump();
            return true;
        }
    }
    false
}

fn node_key(k: &str) -> Option<NodeKey> {
    let lower = k.to_ascii_lowercase();
    if let Some(t) = lower.strip_prefix("tags.") {
        return (!t.is_empty()).then(|| NodeKey::Tag(t.to_string()));
    }
    if let Some(t) = (lower.starts_with("props.")).then(|| &k["props.".len()..]) {
        return (!t.is_empty()).then(|| NodeKey::Prop(t.to_string()));
    }
    Some(match lower.as_str() {
        "id" => NodeKey::Id,
        "name" => NodeKey::Name,
        "kind" => NodeKey::Kind,
        "owner" => NodeKey::Owner,
        "sensitivity" => NodeKey::Sensitivity,
        "defined" => NodeKey::Defined,
        _ => return None,
    })
}

fn finding_key(k: &str) -> Option<FindingKey> {
    Some(match k.to_ascii_lowercase().as_str() {
        "class" => FindingKey::Class,
        "state" => FindingKey::State,
        "severity" => FindingKey::Severity,
        "category" => FindingKey::Category,
        "technique" | "techniques" => FindingKey::Technique,
        "title" => FindingKey::Title,
        "id" => FindingKey::Id,
        _ => return None,
    })
}

/// Enumerated finding values are checked here, so a typo like `class: alrt` is an error
/// rather than a rule that silently never matches.
fn check_finding_value(key: FindingKey, t: &Test, s: usize, e: usize) -> Result<(), PatternError> {
    let allowed: &[&str] = match key {
        FindingKey::Class => &["recommendation", "alert"],
        FindingKey::State => &[
            "unhealthy",
            "healthy",
            "notapplicable",
            "active",
            "resolved",
            "dismissed",
        ],
        FindingKey::Severity => &["low", "medium", "high", "critical"],
        _ => return Ok(()),
    };
    let values: Vec<&Value> = match t {
        Test::Eq(v) => vec![v],
        Test::In(vs) => vs.iter().collect(),
        _ => vec![],
    };
    for v in values {
        let ok = matches!(v, Value::Str(x) if allowed.iter().any(|a| a.eq_ignore_ascii_case(x)));
        if !ok {
            let shown = match v {
                Value::Str(x) => x.clone(),
                Value::Num(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
            };
            return Err(err(
                s,
                e,
                format!(
                    "`{shown}` is not a finding {}",
                    format!("{key:?}").to_ascii_lowercase()
                ),
                Some(&format!("one of {}", allowed.join(", "))),
            ));
        }
    }
    Ok(())
}

/// After a key: `: v`, `in [..]`, a comparison, or nothing (existence).
fn test(p: &mut Parser, ordered_ok: bool, ks: usize, ke: usize) -> Result<Test, PatternError> {
    match p.peek().clone() {
        Tok::Colon | Tok::Eq => {
            p.bump();
            Ok(Test::Eq(value(p)?))
        }
        Tok::Ident(w) if w.eq_ignore_ascii_case("in") => {
            p.bump();
            p.expect(Tok::LBrack, "`[` to start a list of values")?;
            let mut vs = vec![value(p)?];
            while p.eat(&Tok::Comma) {
                vs.push(value(p)?);
            }
            p.expect(Tok::RBrack, "`,` or `]` in a list of values")?;
            Ok(Test::In(vs))
        }
        Tok::Cmp(op) => {
            let (_, s, e) = p.bump();
            if !ordered_ok {
                return Err(err(
                    s,
                    e,
                    "ordered comparisons are only defined on severity",
                    Some("`:` or `in [...]`"),
                ));
            }
            let (v, vs, ve) = {
                let (a, b) = p.span();
                (value(p)?, a, b)
            };
            let level = match &v {
                Value::Str(x) => Level::parse(x),
                _ => None,
            }
            .ok_or_else(|| {
                err(
                    vs,
                    ve,
                    "not a severity",
                    Some(&format!("one of {}", Level::NAMES)),
                )
            })?;
            Ok(Test::Cmp(op, level))
        }
        Tok::Comma | Tok::RBrace => {
            let _ = (ks, ke);
            Ok(Test::Exists)
        }
        _ => Err(p.unexpected("`:`, `in [...]`, a comparison, `,` or `}`")),
    }
}

fn value(p: &mut Parser) -> Result<Value, PatternError> {
    match p.peek().clone() {
        Tok::Str(s) => {
            p.bump();
            Ok(Value::Str(s))
        }
        Tok::Num(n) => {
            p.bump();
            Ok(Value::Num(n))
        }
        Tok::Ident(w) => {
            p.bump();
            Ok(match w.to_ascii_lowercase().as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => Value::Str(w),
            })
        }
        _ => Err(p.unexpected("a value: a \"string\", a number, true/false or a bare word")),
    }
}

fn edge(p: &mut Parser) -> Result<EdgePat, PatternError> {
    let (_, dash_s, _) = p.bump(); // `-`
    if p.eat(&Tok::Arrow) {
        // `-->`: written `-`, `->`.
        return Ok(EdgePat {
            kinds: vec![],
            min: 1,
            max: Some(1),
            preds: vec![],
        });
    }
    p.expect(Tok::LBrack, "`[` to start an edge pattern, or `->`")?;
    if let (Tok::Ident(_), Some((Tok::Colon, _, _))) = (p.peek().clone(), p.toks.get(p.pos + 1)) {
        p.bump(); // an edge variable: allowed and ignored
    }
    let mut kinds = Vec::new();
    if p.eat(&Tok::Colon) {
        loop {
            let (k, s, e) = p.ident("an edge kind")?;
            let kind = EdgeKind::parse(&k).ok_or_else(|| {
                let all: Vec<&str> = EdgeKind::ALL.iter().map(|k| k.as_str()).collect();
                err(
                    s,
                    e,
                    format!("unknown edge kind `{k}`"),
                    Some(&format!("one of {}", all.join(", "))),
                )
            })?;
            kinds.push(kind);
            if !p.eat(&Tok::Pipe) {
                break;
            }
        }
    }
    let (mut min, mut max) = (1, Some(1));
    let (rs, _) = p.span();
    if p.eat(&Tok::Plus) {
        max = None;
    } else if p.eat(&Tok::Star) {
        min = 0;
        max = None;
        if let Tok::Num(n) = p.peek().clone() {
            let n = whole(p, n)?;
            min = n;
            max = Some(n);
        }
        if p.eat(&Tok::DotDot) {
            max = None;
            if let Tok::Num(n) = p.peek().clone() {
                max = Some(whole(p, n)?);
            }
        }
        let (_, re) = (0, p.toks[p.pos.saturating_sub(1)].2);
        if let Some(m) = max {
            if m < min {
                return Err(err(
                    rs,
                    re,
                    format!("repetition *{min}..{m} has its bounds the wrong way round"),
                    Some("*m..n with m <= n"),
                ));
            }
            if m > 64 {
                return Err(err(
                    rs,
                    re,
                    "repetition bound above 64",
                    Some("a bound of at most 64, or `*`/`+` for unbounded"),
                ));
            }
        }
        if min > 64 {
            return Err(err(
                rs,
                re,
                "repetition bound above 64",
                Some("a bound of at most 64"),
            ));
        }
    }
    let mut preds = Vec::new();
    if *p.peek() == Tok::LBrace {
        preds = edge_preds(p, &kinds)?;
    }
    p.expect(
        Tok::RBrack,
        "`]` to close the edge pattern (after kinds, `*`/`+` repetition and `{...}` properties)",
    )?;
    if p.eat(&Tok::Dash) {
        let (s, e) = p.span();
        if *p.peek() == Tok::Cmp(CmpOp::Gt) {
            p.bump();
        } else {
            return Err(err(
                s,
                e,
                "edges must point forwards",
                Some("`->` after `]`"),
            ));
        }
    } else if !p.eat(&Tok::Arrow) {
        let _ = dash_s;
        return Err(p.unexpected("`->` after `]` (undirected edges are not supported)"));
    }
    Ok(EdgePat {
        kinds,
        min,
        max,
        preds,
    })
}

/// `role` and `protocol` compare against values; alone they would always hold.
fn valued(t: Test, key: &str, s: usize, e: usize) -> Result<Test, PatternError> {
    match t {
        Test::Exists => Err(err(
            s,
            e,
            format!("`{key}` needs a value"),
            Some(&format!("`{key}: \"...\"` or `{key} in [...]`")),
        )),
        t => Ok(t),
    }
}

/// Takes a repetition bound, which must be a whole number.
fn whole(p: &mut Parser, n: f64) -> Result<u32, PatternError> {
    let (_, s, e) = p.bump();
    if n.fract() != 0.0 || n < 0.0 {
        return Err(err(
            s,
            e,
            format!("repetition bound `{n}` is not a whole number"),
            Some("a whole number, e.g. *1..3"),
        ));
    }
    Ok(n.min(u32::MAX as f64) as u32)
}

fn edge_preds(p: &mut Parser, kinds: &[EdgeKind]) -> Result<Vec<EdgePred>, PatternError> {
    braced(p, "an edge property", |p| {
        let negated = eat_not(p);
        let (k, s, e) = p.ident("an edge property: privileged, role, port, protocol")?;
        let lower = k.to_ascii_lowercase();
        let need = |allowed: &[EdgeKind], what: &str| -> Result<(), PatternError> {
            if kinds.is_empty() || kinds.iter().any(|k| !allowed.contains(k)) {
                Err(err(
                    s,
                    e,
                    format!("`{lower}` applies only to {what} edges"),
                    Some(&format!(
                        "an edge written [:{} {{{lower} ...}}]",
                        allowed[0].as_str()
                    )),
                ))
            } else {
                Ok(())
            }
        };
        let pred = match lower.as_str() {
            "privileged" => {
                need(&[EdgeKind::HasRole], "has_role")?;
                let v = match test(p, false, s, e)? {
                    Test::Exists => true,
                    Test::Eq(Value::Bool(b)) => b,
                    _ => {
                        return Err(err(
                            s,
                            e,
                            "`privileged` is true or false",
                            Some("`privileged`, `privileged: true` or `privileged: false`"),
                        ))
                    }
                };
                EdgePred::Privileged(v != negated)
            }
            "role" => {
                need(&[EdgeKind::HasRole], "has_role")?;
                EdgePred::Role(valued(test(p, false, s, e)?, "role", s, e)?, negated)
            }
            "protocol" => {
                need(
                    &[EdgeKind::Exposes, EdgeKind::Reaches],
                    "exposes or reaches",
                )?;
                EdgePred::Protocol(valued(test(p, false, s, e)?, "protocol", s, e)?, negated)
            }
            "port" | "ports" => {
                need(
                    &[EdgeKind::Exposes, EdgeKind::Reaches],
                    "exposes or reaches",
                )?;
                let (vs, _) = p.span();
                let t = test(p, false, s, e)?;
                let ve = p.toks[p.pos.saturating_sub(1)].2;
                let values = match t {
                    Test::Eq(v) => vec![v],
                    Test::In(vs) => vs,
                    _ => {
                        return Err(err(
                            s,
                            e,
                            "`port` needs a value",
                            Some("`port: 22` or `port in [22, 3389, \"5985-5986\"]`"),
                        ))
                    }
                };
                let mut ranges = Vec::new();
                for v in values {
                    let r = match &v {
                        Value::Num(n) if *n >= 0.0 && *n <= 65535.0 && n.fract() == 0.0 => {
                            Some(PortRange {
                                lo: *n as u16,
                                hi: *n as u16,
                            })
                        }
                        Value::Str(s) => parse_port_range(s),
                        _ => None,
                    };
                    ranges.push(r.ok_or_else(|| {
                        err(
                            vs,
                            ve,
                            "invalid port",
                            Some("a port 0-65535 or a range \"a-b\""),
                        )
                    })?);
                }
                EdgePred::Port(ranges, negated)
            }
            _ => {
                return Err(err(
                    s,
                    e,
                    format!("unknown edge property `{k}`"),
                    Some("one of privileged, role, port, protocol"),
                ));
            }
        };
        Ok(pred)
    })
}

impl Pattern {
    /// Does some node pattern require an active alert (for `technique`, when given)?
    /// Only then may a rule label that technique `direct-detection`: posture is not detection.
    pub fn requires_alert(&self, technique: Option<&str>) -> bool {
        let only = |t: &Test, want: &[&str]| match t {
            Test::Eq(v) => want.iter().any(|w| v.matches_str(w)),
            Test::In(vs) => {
                !vs.is_empty() && vs.iter().all(|v| want.iter().any(|w| v.matches_str(w)))
            }
            _ => false,
        };
        let names_technique = |t: &Test, tech: &str| {
            let covers = |v: &Value| match v {
                Value::Str(w) => {
                    let w = w.to_ascii_uppercase();
                    let tech = tech.to_ascii_uppercase();
                    tech == w || tech.starts_with(&format!("{w}."))
                }
                _ => false,
            };
            match t {
                Test::Eq(v) => covers(v),
                Test::In(vs) => !vs.is_empty() && vs.iter().all(covers),
                _ => false,
            }
        };
        self.nodes.iter().any(|n| {
            n.preds.iter().any(|p| match p {
                NodePred::Finding {
                    tests,
                    negated: false,
                } => {
                    let is_alert = tests
                        .iter()
                        .any(|(k, t)| *k == FindingKey::Class && only(t, &["alert"]));
                    let active = tests
                        .iter()
                        .any(|(k, t)| *k == FindingKey::State && only(t, &["active"]));
                    let tech_ok = technique.is_none_or(|tech| {
                        tests
                            .iter()
                            .any(|(k, t)| *k == FindingKey::Technique && names_technique(t, tech))
                    });
                    is_alert && active && tech_ok
                }
                _ => false,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tc001_shape() {
        let p = parse(r#"(internet)-[:exposes]->(entry)-[:uses_identity]->(:identity)-[:member_of*]->(:identity)-[:has_role {privileged}]->()-[:contains*]->(target:resource {sensitivity: "high"})"#).unwrap();
        assert_eq!(p.nodes.len(), 6);
        assert_eq!(p.entry, 1);
        assert_eq!(p.target, 5);
        assert_eq!(
            p.edges[2],
            EdgePat {
                kinds: vec![EdgeKind::MemberOf],
                min: 0,
                max: None,
                preds: vec![]
            }
        );
        assert_eq!(p.edges[3].preds, vec![EdgePred::Privileged(true)]);
    }

    #[test]
    fn repetition_forms() {
        let rep = |s: &str| {
            let p = parse(&format!("(a)-[:reaches{s}]->(b)")).unwrap();
            (p.edges[0].min, p.edges[0].max)
        };
        assert_eq!(rep(""), (1, Some(1)));
        assert_eq!(rep("*"), (0, None));
        assert_eq!(rep("+"), (1, None));
        assert_eq!(rep("*1..3"), (1, Some(3)));
        assert_eq!(rep("*2"), (2, Some(2)));
        assert_eq!(rep("*..2"), (0, Some(2)));
        assert_eq!(rep("*2.."), (2, None));
    }

    #[test]
    fn errors_point_at_the_problem() {
        let src = "(a)-[:reachs]->(b)";
        let e = parse(src).unwrap_err();
        assert_eq!(&src[e.start..e.end], "reachs");
        assert!(e.expected.unwrap().contains("reaches"));
        let src = "(a:resource {sensitivty: \"high\"})";
        let e = parse(src).unwrap_err();
        assert_eq!(&src[e.start..e.end], "sensitivty");
        let src = "(a)-[:exposes {privileged}]->(b)";
        let e = parse(src).unwrap_err();
        assert!(e.message.contains("only to has_role"), "{}", e.message);
        let e = parse("(a {finding: {class: alrt}})").unwrap_err();
        assert!(e.expected.unwrap().contains("recommendation, alert"));
        let e = parse("(a)-[:reaches*3..1]->(b)").unwrap_err();
        assert!(e.message.contains("wrong way"));
        assert!(parse("(a)<-[:reaches]-(b)").is_err());
        assert!(parse("(a").is_err());
        // Regressions from review: none of these may panic or pass silently.
        assert!(parse("(a {name: \"\\é\"})").is_ok());
        assert!(parse(
            "(internet)-[:exposes]->(entry)-[:uses_identity]->(target)-[:member_of]->(g)"
        )
        .unwrap_err()
        .message
        .contains("must name the last node"));
        assert!(parse("(a)-[:reaches*1.5]->(b)")
            .unwrap_err()
            .message
            .contains("whole number"));
        assert!(parse("(a)-[:has_role {role}]->(b)")
            .unwrap_err()
            .message
            .contains("needs a value"));
        assert!(parse("(internet)-[:exposes]->(entry) where entry <> target").is_err());
        assert!(parse("(a {PROPS.publicNetworkAccess: Enabled})").is_ok());
        let long = format!(
            "(a){}",
            "-[:reaches*64]->(b)".repeat(70).replace("(b)", "()")
        );
        assert!(parse(&long)
            .unwrap_err()
            .message
            .contains("automaton states"));
        assert!(parse("(a)-[:reaches]->(a)").is_err());
    }

    #[test]
    fn findings_and_where() {
        let p = parse("(internet)-[:exposes {port in [22, \"5985-5986\"]}]->(e:resource {finding: {class: alert, severity >= high, technique: T1190}})-[:reaches*1..3]->(t) where e <> t").unwrap();
        assert!(p.distinct_entry_target);
        assert!(!p.requires_alert(None), "a resolved alert would match too");
        let q = parse("(e {finding: {class: alert, state: active, technique: T1190}})").unwrap();
        assert!(q.requires_alert(None) && q.requires_alert(Some("T1190.001")));
        assert!(!q.requires_alert(Some("T1110")));
        assert_eq!(
            p.edges[0].preds,
            vec![EdgePred::Port(
                vec![
                    PortRange { lo: 22, hi: 22 },
                    PortRange { lo: 5985, hi: 5986 }
                ],
                false
            )]
        );
    }
}
