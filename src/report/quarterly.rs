//! Quarterly figures: toxic resources and combinations per owner and period, reduction %
//! against the previous and the first period, status, tier targets, the environment
//! breakdown, denominators, movement by fingerprint and the ATT&CK register.
//!
//! Reduction is computed exactly in integers (tenths of a percent, rounded half away from
//! zero), as the snapshot format requires: 80 → 29 is −63.75 %, shown −63.8 %.

use crate::graph::{Category, EdgeKind, Graph, UNOWNED};
use crate::ingest::Level;
use crate::lineage::Lineage;
use crate::rules::{Evidence, RulePack};
use crate::scan::Combination;
use indexmap::IndexMap;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// Version of the report's JSON document.
pub const REPORT_SCHEMA: &str = "toxgraph.report/v1";

/// One period's estate and what the pack found in it.
pub struct Period {
    pub file: String,
    pub graph: Graph,
    pub combinations: Vec<Combination>,
}

/// Reduction of one figure against an earlier one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduction {
    /// In tenths of a percent (−638 is −63.8 %).
    Tenths(i64),
    /// The earlier figure was 0 and this one is not.
    New,
    /// Both are 0.
    NotApplicable,
}

impl Reduction {
    pub fn between(before: usize, now: usize) -> Reduction {
        match (before, now) {
            (0, 0) => Reduction::NotApplicable,
            (0, _) => Reduction::New,
            (b, n) => {
                let num = (n as i128 - b as i128) * 1000;
                let den = b as i128;
                let q = (2 * num.abs() + den) / (2 * den);
                Reduction::Tenths((num.signum() * q) as i64)
            }
        }
    }

    /// `-63.8`, `new`, `n/a`.
    pub fn text(self) -> String {
        match self {
            Reduction::Tenths(t) => {
                let sign = if t < 0 { "-" } else { "" };
                format!("{sign}{}.{}", t.abs() / 10, t.abs() % 10)
            }
            Reduction::New => "new".into(),
            Reduction::NotApplicable => "n/a".into(),
        }
    }
}

impl Serialize for Reduction {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Green,
    Amber,
    Red,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Green => "green",
            Status::Amber => "amber",
            Status::Red => "red",
        }
    }
}

/// Status thresholds on the rounded reduction, in tenths of a percent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Thresholds {
    /// At or below: green (default −40.0 %).
    pub green: i64,
    /// Above green, at or below: amber (default −20.0 %); above: red.
    pub amber: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            green: -400,
            amber: -200,
        }
    }
}

impl Thresholds {
    pub fn status(self, r: Reduction) -> Status {
        match r {
            Reduction::NotApplicable => Status::Green,
            Reduction::New => Status::Red,
            Reduction::Tenths(t) if t <= self.green => Status::Green,
            Reduction::Tenths(t) if t <= self.amber => Status::Amber,
            Reduction::Tenths(_) => Status::Red,
        }
    }

    /// `--thresholds -40,-20`.
    pub fn parse(s: &str) -> Option<Thresholds> {
        let (g, a) = s.split_once(',')?;
        let tenths = |x: &str| -> Option<i64> {
            let v: f64 = x.trim().trim_end_matches('%').parse().ok()?;
            Some((v * 10.0).round() as i64)
        };
        let (green, amber) = (tenths(g)?, tenths(a)?);
        (green <= amber).then_some(Thresholds { green, amber })
    }
}

/// Reduction targets per period by organisation tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tier {
    Startup,
    ScaleUp,
    Enterprise,
    Regulated,
}

impl Tier {
    pub fn parse(s: &str) -> Option<Tier> {
        Some(match s {
            "startup" => Tier::Startup,
            "scale-up" => Tier::ScaleUp,
            "enterprise" => Tier::Enterprise,
            "regulated" => Tier::Regulated,
            _ => return None,
        })
    }

    /// The target reduction per period, in tenths of a percent.
    pub fn target(self) -> i64 {
        match self {
            Tier::Startup => -200,
            Tier::ScaleUp => -300,
            Tier::Enterprise => -400,
            Tier::Regulated => -500,
        }
    }
}

/// The `[report]` table of a config file (`--config toxgraph.toml`); flags given on the
/// command line win over it.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportConfig {
    /// `"-40,-20"`: green at or below the first, amber up to the second.
    pub thresholds: Option<String>,
    pub tier: Option<String>,
    pub env_tag: Option<String>,
}

impl ReportConfig {
    /// These settings, each filled from `file` where not given: flags win over the file.
    pub fn or(self, file: ReportConfig) -> ReportConfig {
        ReportConfig {
            thresholds: self.thresholds.or(file.thresholds),
            tier: self.tier.or(file.tier),
            env_tag: self.env_tag.or(file.env_tag),
        }
    }

    /// The options these settings give, with the defaults for what none gives.
    pub fn options(self) -> crate::Result<ReportOptions> {
        let mut opts = ReportOptions::default();
        if let Some(t) = self.thresholds {
            opts.thresholds = Thresholds::parse(&t).ok_or_else(|| {
                crate::Error::Usage(format!(
                    "--thresholds `{t}`: expected two percentages, green first, like -40,-20"
                ))
            })?;
        }
        if let Some(t) = self.tier {
            opts.tier = Some(Tier::parse(&t).ok_or_else(|| {
                crate::Error::Usage(format!(
                    "--tier `{t}`: expected startup, scale-up, enterprise or regulated"
                ))
            })?);
        }
        if let Some(e) = self.env_tag {
            opts.env_key = e;
        }
        Ok(opts)
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    report: ReportConfig,
}

/// Reads a config file; problems point at the line with a caret.
pub fn read_config(path: &std::path::Path) -> crate::Result<ReportConfig> {
    let text = crate::error::read_text(path)?;
    let file: ConfigFile = toml::from_str(&text).map_err(|e| {
        crate::diag::toml_error(path.display().to_string(), &text, &e).expected(
            "[report] with thresholds = \"-40,-20\", tier = \"enterprise\", env_tag = \"env\"",
        )
    })?;
    Ok(file.report)
}

#[derive(Debug, Clone)]
pub struct ReportOptions {
    pub thresholds: Thresholds,
    pub tier: Option<Tier>,
    /// Tag key for the environment breakdown (inherited like the owner).
    pub env_key: String,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            thresholds: Thresholds::default(),
            tier: None,
            env_key: "env".into(),
        }
    }
}

/// One bucket's figures in one period.
#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    /// Defined resources.
    pub resources: usize,
    pub exposed_resources: usize,
    pub toxic_resources: usize,
    pub toxic_combinations: usize,
    pub by_severity: IndexMap<Level, usize>,
}

impl Default for Figures {
    /// Zero of everything, every severity listed.
    fn default() -> Self {
        Figures {
            resources: 0,
            exposed_resources: 0,
            toxic_resources: 0,
            toxic_combinations: 0,
            by_severity: super::by_severity(std::iter::empty()),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PeriodFigures {
    pub period: String,
    #[serde(flatten)]
    pub figures: Figures,
    /// Against the previous period (absent for the first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reduction_pct: Option<Reduction>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reduction_vs_first_pct: Option<Reduction>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// Tier target minus achieved, in percentage points (positive: short of target).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gap_to_target_pts: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Owner, `(unowned)`, `(total)`, or an environment value.
    pub name: String,
    pub periods: Vec<PeriodFigures>,
}

impl Row {
    /// Toxic resources in the last period: what rows are ranked by.
    pub fn last_toxic(&self) -> usize {
        self.periods.last().map_or(0, |p| p.figures.toxic_resources)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PeriodInfo {
    pub label: String,
    pub taken_at: String,
    pub file: String,
    pub resources: usize,
    pub owned_resources: usize,
    /// owned ÷ all, in percent, one decimal.
    pub coverage_pct: String,
    pub identities: usize,
    pub exposed_resources: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct Movement {
    pub from: String,
    pub to: String,
    pub new: usize,
    pub resolved: usize,
    pub persisting: usize,
    pub by_owner: Vec<OwnerMovement>,
    /// The most severe combinations still open, with their walks.
    pub top_open: Vec<OpenCombination>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OwnerMovement {
    pub owner: String,
    pub new: usize,
    pub resolved: usize,
    pub persisting: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct OpenCombination {
    pub rule: String,
    pub severity: Level,
    pub owner: String,
    pub entry: String,
    pub target: String,
    pub fingerprint: String,
    pub since_first_period: bool,
    pub walk: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AttackRow {
    pub technique: String,
    pub name: String,
    /// Combinations in the last period, by evidence label.
    pub by_evidence: BTreeMap<Evidence, usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub periods: Vec<PeriodInfo>,
    pub thresholds: Thresholds,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier: Option<Tier>,
    /// Every owner of a defined resource in any period, then `(unowned)`; sorted by toxic
    /// resources in the last period, most first.
    pub owners: Vec<Row>,
    pub total: Row,
    pub env_key: String,
    pub by_env: Vec<Row>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub movement: Option<Movement>,
    pub attack: Vec<AttackRow>,
    pub lineage: Lineage,
}

fn pct_one_decimal(part: usize, whole: usize) -> String {
    if whole == 0 {
        return "n/a".into();
    }
    let t = (part as u128 * 2000 + whole as u128) / (2 * whole as u128);
    format!("{}.{}", t / 10, t % 10)
}

/// Figures of one period by a bucketing of resources (owner or environment).
fn bucket_figures(
    p: &Period,
    pack: &RulePack,
    bucket: &dyn Fn(&Graph, u32) -> String,
) -> BTreeMap<String, Figures> {
    let g = &p.graph;
    let mut out: BTreeMap<String, Figures> = BTreeMap::new();
    let exposes = &g.bwd[EdgeKind::Exposes.index()];
    for (v, n) in g.nodes.iter().enumerate() {
        if n.category == Category::Resource && n.defined {
            let f = out.entry(bucket(g, v as u32)).or_default();
            f.resources += 1;
            if !exposes.range(v as u32).is_empty() {
                f.exposed_resources += 1;
            }
        }
    }
    let mut toxic: BTreeMap<String, BTreeSet<u32>> = BTreeMap::new();
    for c in &p.combinations {
        let b = bucket(g, c.entry);
        let f = out.entry(b.clone()).or_default();
        f.toxic_combinations += 1;
        f.by_severity[&pack.rules[c.rule].severity] += 1;
        if g.node(c.entry).category == Category::Resource {
            toxic.entry(b).or_default().insert(c.entry);
        }
    }
    for (b, set) in toxic {
        out.entry(b).or_default().toxic_resources = set.len();
    }
    out
}

fn row(
    name: &str,
    per_period: &[&BTreeMap<String, Figures>],
    labels: &[String],
    opts: &ReportOptions,
) -> Row {
    let mut periods = Vec::new();
    for (i, m) in per_period.iter().enumerate() {
        let figures = m.get(name).cloned().unwrap_or_default();
        let prev = i
            .checked_sub(1)
            .map(|j| per_period[j].get(name).map_or(0, |f| f.toxic_resources));
        let first = per_period[0].get(name).map_or(0, |f| f.toxic_resources);
        let reduction = prev.map(|b| Reduction::between(b, figures.toxic_resources));
        let gap = match (reduction, opts.tier) {
            (Some(Reduction::Tenths(t)), Some(tier)) => {
                Some(Reduction::Tenths(t - tier.target()).text())
            }
            _ => None,
        };
        periods.push(PeriodFigures {
            period: labels[i].clone(),
            reduction_vs_first_pct: (i > 0)
                .then(|| Reduction::between(first, figures.toxic_resources)),
            status: reduction.map(|r| opts.thresholds.status(r)),
            reduction_pct: reduction,
            gap_to_target_pts: gap,
            figures,
        });
    }
    Row {
        name: name.to_string(),
        periods,
    }
}

/// What is kept of a period once it is summarised: its figures, and the fingerprints and
/// per-rule counts that movement and the ATT&CK register need. Only the last two periods'
/// graphs are kept whole, so reports over many large periods stay within memory.
pub struct Summary {
    pub label: String,
    pub info: PeriodInfo,
    pub by_owner: BTreeMap<String, Figures>,
    pub by_env: BTreeMap<String, Figures>,
    pub total: BTreeMap<String, Figures>,
    pub rule_counts: BTreeMap<usize, usize>,
    pub fingerprints: BTreeSet<String>,
}

pub fn summarise(p: &Period, pack: &RulePack, opts: &ReportOptions) -> Summary {
    let g = &p.graph;
    let label = g
        .meta
        .label
        .clone()
        .unwrap_or_else(|| g.meta.taken_at.clone());
    let by_owner = bucket_figures(p, pack, &|g, v| g.owner(v).to_string());
    let total = bucket_figures(p, pack, &|_, _| "(total)".to_string());
    // Every defined resource is in the total and under exactly one owner.
    let all = total.get("(total)").cloned().unwrap_or_default();
    let unowned = by_owner.get(UNOWNED).map_or(0, |f| f.resources);
    let owned = all.resources - unowned;
    let info = PeriodInfo {
        label: label.clone(),
        taken_at: g.meta.taken_at.clone(),
        file: p.file.clone(),
        resources: all.resources,
        owned_resources: owned,
        coverage_pct: pct_one_decimal(owned, all.resources),
        identities: g
            .nodes
            .iter()
            .filter(|n| n.category == Category::Identity)
            .count(),
        exposed_resources: all.exposed_resources,
    };
    let env_key = opts.env_key.clone();
    let mut rule_counts = BTreeMap::new();
    for c in &p.combinations {
        *rule_counts.entry(c.rule).or_insert(0) += 1;
    }
    Summary {
        label,
        info,
        by_owner,
        by_env: bucket_figures(p, pack, &|g, v| {
            g.inherited_tag(v, &env_key).unwrap_or("(none)").to_string()
        }),
        total,
        rule_counts,
        fingerprints: p
            .combinations
            .iter()
            .map(|c| c.fingerprint.clone())
            .collect(),
    }
}

/// Computes the report from period summaries (oldest first) and, for movement, the last
/// two periods in full.
pub fn compute(
    summaries: &[Summary],
    last_two: Option<(&Period, &Period)>,
    pack: &RulePack,
    opts: &ReportOptions,
    lineage: Lineage,
) -> Report {
    let labels: Vec<String> = summaries.iter().map(|s| s.label.clone()).collect();
    let by_owner: Vec<&BTreeMap<String, Figures>> = summaries.iter().map(|s| &s.by_owner).collect();
    let by_env_maps: Vec<&BTreeMap<String, Figures>> =
        summaries.iter().map(|s| &s.by_env).collect();
    let totals: Vec<&BTreeMap<String, Figures>> = summaries.iter().map(|s| &s.total).collect();

    // Owners of at least one defined resource in any period, plus (unowned) always.
    let mut names: BTreeSet<String> = by_owner
        .iter()
        .flat_map(|m| {
            m.iter()
                .filter(|(_, f)| f.resources > 0)
                .map(|(k, _)| k.clone())
        })
        .collect();
    names.insert(UNOWNED.to_string());
    let mut owners: Vec<Row> = names
        .iter()
        .map(|n| row(n, &by_owner, &labels, opts))
        .collect();
    owners.sort_by(|a, b| {
        b.last_toxic()
            .cmp(&a.last_toxic())
            .then_with(|| a.name.cmp(&b.name))
    });
    let env_names: BTreeSet<String> = by_env_maps.iter().flat_map(|m| m.keys().cloned()).collect();
    let by_env = env_names
        .iter()
        .map(|n| row(n, &by_env_maps, &labels, opts))
        .collect();

    let first = summaries.first().map(|s| &s.fingerprints);
    Report {
        schema: REPORT_SCHEMA,
        periods: summaries.iter().map(|s| s.info.clone()).collect(),
        thresholds: opts.thresholds,
        tier: opts.tier,
        owners,
        total: row("(total)", &totals, &labels, opts),
        env_key: opts.env_key.clone(),
        by_env,
        movement: last_two.map(|(b, a)| movement(b, a, first, pack, &labels)),
        attack: attack(summaries.last().map(|s| &s.rule_counts), pack),
        lineage,
    }
}

fn movement(
    before: &Period,
    now: &Period,
    first: Option<&BTreeSet<String>>,
    pack: &RulePack,
    labels: &[String],
) -> Movement {
    let n = labels.len();
    fn fps(p: &Period) -> BTreeMap<String, &Combination> {
        p.combinations
            .iter()
            .map(|c| (c.fingerprint.clone(), c))
            .collect()
    }
    let (b, a) = (fps(before), fps(now));
    let mut owners: BTreeMap<String, OwnerMovement> = BTreeMap::new();
    let mut bump = |owner: &str, f: &dyn Fn(&mut OwnerMovement)| {
        f(owners.entry(owner.to_string()).or_insert(OwnerMovement {
            owner: owner.to_string(),
            new: 0,
            resolved: 0,
            persisting: 0,
        }))
    };
    let (mut new, mut resolved, mut persisting) = (0, 0, 0);
    for (fp, c) in &a {
        let owner = now.graph.owner(c.entry);
        if b.contains_key(fp) {
            persisting += 1;
            bump(owner, &|m| m.persisting += 1);
        } else {
            new += 1;
            bump(owner, &|m| m.new += 1);
        }
    }
    for (fp, c) in &b {
        if !a.contains_key(fp) {
            resolved += 1;
            bump(before.graph.owner(c.entry), &|m| m.resolved += 1);
        }
    }
    let mut open: Vec<&Combination> = a.values().copied().collect();
    open.sort_by(|x, y| {
        pack.rules[y.rule]
            .severity
            .cmp(&pack.rules[x.rule].severity)
            .then_with(|| pack.rules[x.rule].id.cmp(&pack.rules[y.rule].id))
            .then_with(|| x.fingerprint.cmp(&y.fingerprint))
    });
    let g = &now.graph;
    let top_open = open
        .iter()
        .take(10)
        .map(|c| {
            let steps: Vec<_> = c.walk.iter().map(|s| super::step_doc(g, s)).collect();
            OpenCombination {
                rule: pack.rules[c.rule].id.clone(),
                severity: pack.rules[c.rule].severity,
                owner: g.owner(c.entry).to_string(),
                entry: g.id(c.entry).to_string(),
                target: g.id(c.target).to_string(),
                fingerprint: c.fingerprint.clone(),
                since_first_period: first.is_some_and(|f| f.contains(&c.fingerprint)),
                walk: super::walk_line(&steps),
            }
        })
        .collect();
    Movement {
        from: labels[n - 2].clone(),
        to: labels[n - 1].clone(),
        new,
        resolved,
        persisting,
        by_owner: owners.into_values().collect(),
        top_open,
    }
}

fn attack(counts: Option<&BTreeMap<usize, usize>>, pack: &RulePack) -> Vec<AttackRow> {
    let mut rows: BTreeMap<String, AttackRow> = BTreeMap::new();
    let empty = BTreeMap::new();
    let counts = counts.unwrap_or(&empty);
    for (i, r) in pack.rules.iter().enumerate() {
        for a in &r.attack {
            let Some(t) = &a.technique else { continue };
            let row = rows.entry(t.clone()).or_insert_with(|| AttackRow {
                technique: t.clone(),
                name: a.name.clone().unwrap_or_default(),
                by_evidence: BTreeMap::new(),
            });
            *row.by_evidence.entry(a.evidence).or_insert(0) += counts.get(&i).copied().unwrap_or(0);
        }
    }
    rows.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduction_is_exact_and_rounds_half_away_from_zero() {
        assert_eq!(Reduction::between(80, 29), Reduction::Tenths(-638));
        assert_eq!(Reduction::between(80, 29).text(), "-63.8");
        assert_eq!(Reduction::between(3, 2).text(), "-33.3");
        assert_eq!(Reduction::between(8, 9).text(), "12.5");
        assert_eq!(Reduction::between(0, 5), Reduction::New);
        assert_eq!(Reduction::between(0, 0), Reduction::NotApplicable);
        assert_eq!(Reduction::between(5, 0).text(), "-100.0");
        assert_eq!(Reduction::between(10, 10).text(), "0.0");
    }

    #[test]
    fn status_thresholds_are_the_specs() {
        let t = Thresholds::default();
        assert_eq!(t.status(Reduction::Tenths(-400)), Status::Green);
        assert_eq!(t.status(Reduction::Tenths(-399)), Status::Amber);
        assert_eq!(t.status(Reduction::Tenths(-200)), Status::Amber);
        assert_eq!(t.status(Reduction::Tenths(-199)), Status::Red);
        assert_eq!(t.status(Reduction::New), Status::Red);
        assert_eq!(t.status(Reduction::NotApplicable), Status::Green);
        assert_eq!(
            Thresholds::parse("-50,-25"),
            Some(Thresholds {
                green: -500,
                amber: -250
            })
        );
        assert_eq!(Thresholds::parse("-20,-40"), None);
    }
}
