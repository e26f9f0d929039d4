//! A deterministic, realistic Azure-like estate for benchmarks, reports and trying the
//! tool at scale: `toxgraph generate --resources N --seed S -o DIR` writes two snapshots a
//! quarter apart (`q1.jsonl`, `q2.jsonl`). With `--shape`, [`adversarial`] writes one
//! snapshot of a shape built to stress the analyser instead.
//!
//! Everything is a pure function of (seed, index), so the two quarters share one
//! structure, both files stream to disk in one pass, and memory stays flat at any size.
//! Q2 differs by remediation whose rate depends on the owning team, plus a few new
//! exposures and alerts, so reduction differs by owner. The PRNG is written here (a
//! splitmix64 hash) so output never changes with a dependency upgrade.

pub mod adversarial;

use crate::graph::roles::BUILTIN;
use std::fmt::Write as _;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

pub struct GenerateOptions {
    pub resources: usize,
    pub seed: u64,
}

#[derive(Debug)]
pub struct GenerateSummary {
    pub files: Vec<PathBuf>,
    /// Records written per file.
    pub records: Vec<usize>,
}

const TEAMS: &[&str] = &[
    "payments",
    "checkout",
    "identity-platform",
    "data-science",
    "crm",
    "marketing",
    "loyalty",
    "stores",
    "supply-chain",
    "logistics",
    "finance",
    "hr",
    "legal",
    "security-ops",
    "platform",
    "devops",
    "web-frontend",
    "mobile",
    "search",
    "recommendations",
    "analytics",
    "billing",
    "pricing",
    "inventory",
    "warehouse",
    "customer-care",
    "partner-api",
    "media",
    "content",
    "localization",
    "fraud",
    "risk",
    "treasury",
    "erp",
    "iot-edge",
    "ml-platform",
];

/// (Azure type, weight, is compute, is data store)
const KINDS: &[(&str, u32, bool, bool)] = &[
    ("Microsoft.Compute/virtualMachines", 14, true, false),
    ("Microsoft.Network/networkInterfaces", 14, false, false),
    ("Microsoft.Compute/disks", 13, false, false),
    ("Microsoft.Network/publicIPAddresses", 5, false, false),
    ("Microsoft.Network/virtualNetworks", 3, false, false),
    ("Microsoft.Web/sites", 10, true, false),
    ("Microsoft.Storage/storageAccounts", 8, false, true),
    ("Microsoft.KeyVault/vaults", 5, false, true),
    ("Microsoft.Sql/servers", 4, false, true),
    ("Microsoft.DocumentDB/databaseAccounts", 2, false, true),
    ("Microsoft.ContainerService/managedClusters", 2, true, false),
    ("Microsoft.App/containerApps", 3, true, false),
    ("Microsoft.Compute/virtualMachineScaleSets", 3, true, false),
    ("Microsoft.Insights/components", 14, false, false),
];

const RECOMMENDATIONS: &[(&str, &str, &str)] = &[
    (
        "Machines should have vulnerability findings resolved",
        "high",
        "Compute",
    ),
    (
        "Management ports should be closed on your virtual machines",
        "medium",
        "Networking",
    ),
    (
        "System updates should be installed on your machines",
        "high",
        "Compute",
    ),
    (
        "Storage account public access should be disallowed",
        "medium",
        "Data",
    ),
    (
        "Azure SQL Database should have Microsoft Entra-only authentication enabled",
        "medium",
        "Data",
    ),
    (
        "Key vaults should have purge protection enabled",
        "medium",
        "Data",
    ),
    (
        "Web apps should only be accessible over HTTPS",
        "medium",
        "Compute",
    ),
    (
        "Container images should have vulnerability findings resolved",
        "high",
        "Compute",
    ),
    (
        "Endpoint protection should be installed on your machines",
        "low",
        "Compute",
    ),
    (
        "Internet-facing virtual machines should be protected with network security groups",
        "critical",
        "Networking",
    ),
];

const SUB_RECOMMENDATIONS: &[(&str, &str)] = &[
    (
        "Accounts with owner permissions on Azure resources should be MFA enabled",
        "high",
    ),
    (
        "Guest accounts with owner permissions on Azure resources should be removed",
        "high",
    ),
    (
        "A maximum of 3 owners should be designated for your subscription",
        "medium",
    ),
];

const ALERTS: &[(&str, &str, &str)] = &[
    (
        "Suspicious exploitation of a public-facing web application",
        "high",
        "T1190",
    ),
    ("Successful brute force attack", "high", "T1110"),
    (
        "Suspicious use of a managed identity token",
        "medium",
        "T1078.004",
    ),
    ("Anomalous data exfiltration from storage", "high", "T1530"),
];

/// splitmix64 of (seed, stream, index): every decision is a pure function of its inputs.
fn h(seed: u64, stream: u64, i: u64) -> u64 {
    let mut z = seed
        .wrapping_add(stream.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(i.wrapping_mul(0xD1B5_4A32_D192_ED03))
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A probability draw in [0, 1).
fn p(seed: u64, stream: u64, i: u64) -> f64 {
    (h(seed, stream, i) >> 11) as f64 / (1u64 << 53) as f64
}

fn guid(seed: u64, stream: u64, i: u64) -> String {
    let a = h(seed, stream, i);
    let b = h(seed, stream ^ 0x5555, i);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        (a >> 32) as u32,
        (a >> 16) as u16,
        (a & 0xfff) as u16,
        (0x8000 | (b >> 48) as u16 & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

// Streams (one per kind of decision) keep decisions independent of each other.
const S_KIND: u64 = 1;
const S_TEAM: u64 = 2;
const S_MI: u64 = 3;
const S_EXPOSE: u64 = 4;
const S_PORTS: u64 = 5;
const S_REACH: u64 = 6;
const S_FINDING: u64 = 7;
const S_ROLE: u64 = 8;
const S_Q2: u64 = 9;
const S_SENS: u64 = 10;
const S_GROUP: u64 = 11;
const S_ALERT: u64 = 12;
const S_GUID: u64 = 13;

struct Estate {
    seed: u64,
    n: usize,
    subs: usize,
    rgs: usize,
    users: usize,
    groups: usize,
    sps: usize,
}

impl Estate {
    fn kind(&self, i: usize) -> usize {
        let total: u32 = KINDS.iter().map(|k| k.1).sum();
        let mut x = (h(self.seed, S_KIND, i as u64) % total as u64) as u32;
        for (k, kind) in KINDS.iter().enumerate() {
            if x < kind.1 {
                return k;
            }
            x -= kind.1;
        }
        0
    }
    fn rg_of(&self, i: usize) -> usize {
        i % self.rgs
    }
    fn sub_of_rg(&self, r: usize) -> usize {
        r % self.subs
    }
    fn sub_id(&self, s: usize) -> String {
        format!("/subscriptions/{}", guid(self.seed, S_GUID, s as u64))
    }
    /// Teams are skewed: a few own much of the estate.
    fn team_of_rg(&self, r: usize) -> Option<usize> {
        let x = p(self.seed, S_TEAM, r as u64);
        if x < 0.05 {
            return None;
        }
        let t = ((x * x) * TEAMS.len() as f64) as usize;
        Some(t.min(TEAMS.len() - 1))
    }
    fn env_of_sub(&self, s: usize) -> &'static str {
        if s % 3 == 2 {
            "non-prod"
        } else {
            "prod"
        }
    }
    fn rg_name(&self, r: usize) -> String {
        let team = self.team_of_rg(r).map_or("shared", |t| TEAMS[t]);
        let env = if self.env_of_sub(self.sub_of_rg(r)) == "prod" {
            "prod"
        } else {
            "dev"
        };
        format!("rg-{team}-app{r:05}-{env}")
    }
    fn rg_id(&self, r: usize, quirk: bool) -> String {
        let seg = if quirk {
            "resourcegroups"
        } else {
            "resourceGroups"
        };
        format!(
            "{}/{seg}/{}",
            self.sub_id(self.sub_of_rg(r)),
            self.rg_name(r)
        )
    }
    fn res_name(&self, i: usize) -> String {
        let short = KINDS[self.kind(i)].0.rsplit('/').next().unwrap_or("res");
        let prefix: String = short
            .chars()
            .filter(|c| c.is_ascii_uppercase())
            .collect::<String>()
            .to_ascii_lowercase();
        let prefix = if prefix.is_empty() {
            short[..2].to_string()
        } else {
            format!("{}{}", &short[..1], prefix)
        };
        format!("{}-{:06}", prefix.to_ascii_lowercase(), i)
    }
    fn res_id(&self, i: usize) -> String {
        let kind = KINDS[self.kind(i)].0;
        format!(
            "{}/providers/{kind}/{}",
            self.rg_id(self.rg_of(i), false),
            self.res_name(i)
        )
    }
    fn is_compute(&self, i: usize) -> bool {
        KINDS[self.kind(i)].2
    }
    fn is_data(&self, i: usize) -> bool {
        KINDS[self.kind(i)].3
    }
    fn has_mi(&self, i: usize) -> bool {
        self.is_compute(i) && p(self.seed, S_MI, i as u64) < 0.7
    }
    fn mi_id(&self, i: usize) -> String {
        guid(self.seed, S_MI, i as u64)
    }
    /// The `k`th resource of resource group `r`, if it exists.
    fn in_rg(&self, r: usize, k: usize) -> Option<usize> {
        let i = r + k * self.rgs;
        (i < self.n).then_some(i)
    }
    fn rg_size(&self, r: usize) -> usize {
        if r >= self.n {
            0
        } else {
            (self.n - r).div_ceil(self.rgs)
        }
    }
    /// How likely a team is to fix a toxic condition within the quarter.
    fn fix_rate(&self, team: Option<usize>) -> f64 {
        match team {
            None => 0.1,
            Some(t) => [0.8, 0.6, 0.35, 0.15, 0.05]
                [(h(self.seed, S_Q2, 1_000_000 + t as u64) % 5) as usize],
        }
    }
    fn remediated(&self, stream: u64, i: usize, team: Option<usize>) -> bool {
        p(self.seed, S_Q2 ^ stream.wrapping_mul(31), i as u64) < self.fix_rate(team)
    }
    fn user_id(&self, u: usize) -> String {
        guid(self.seed, 100, u as u64)
    }
    fn group_id(&self, g: usize) -> String {
        guid(self.seed, 101, g as u64)
    }
    fn sp_id(&self, s: usize) -> String {
        guid(self.seed, 102, s as u64)
    }
}

/// Writes to both quarters, or to one.
struct Out<W: Write> {
    q1: W,
    q2: W,
    counts: [usize; 2],
    line: String,
}

impl<W: Write> Out<W> {
    fn both(&mut self) -> io::Result<()> {
        self.line.push('\n');
        self.q1.write_all(self.line.as_bytes())?;
        self.q2.write_all(self.line.as_bytes())?;
        self.counts[0] += 1;
        self.counts[1] += 1;
        self.line.clear();
        Ok(())
    }
    fn only(&mut self, q: usize) -> io::Result<()> {
        self.line.push('\n');
        if q == 0 {
            self.q1.write_all(self.line.as_bytes())?;
        } else {
            self.q2.write_all(self.line.as_bytes())?;
        }
        self.counts[q] += 1;
        self.line.clear();
        Ok(())
    }
    /// Written to q1; to q2 only if not remediated.
    fn fixable(&mut self, remediated: bool) -> io::Result<()> {
        if remediated {
            self.only(0)
        } else {
            self.both()
        }
    }
}

/// Writes `q1.jsonl` and `q2.jsonl` into `out_dir` (created if missing), each through a
/// temporary file renamed into place, so a failure leaves no half-written snapshot.
pub fn generate(opts: &GenerateOptions, out_dir: &Path) -> io::Result<GenerateSummary> {
    let (files, counts) = into_place(out_dir, &["q1.jsonl", "q2.jsonl"], |ws| {
        let (q1, q2) = ws.split_at_mut(1);
        let mut out = Out {
            q1: &mut q1[0],
            q2: &mut q2[0],
            counts: [0, 0],
            line: String::with_capacity(512),
        };
        write_estate(opts, &mut out)?;
        Ok(out.counts)
    })?;
    Ok(GenerateSummary {
        files,
        records: counts.to_vec(),
    })
}

/// Writes the files `names` under `dir`, each as a temporary file beside it, renamed into
/// place once all are written and synced: an interrupted run leaves no half-written
/// snapshot.
fn into_place<T>(
    dir: &Path,
    names: &[&str],
    body: impl FnOnce(&mut [BufWriter<std::fs::File>]) -> io::Result<T>,
) -> io::Result<(Vec<PathBuf>, T)> {
    std::fs::create_dir_all(dir)?;
    let files: Vec<PathBuf> = names.iter().map(|n| dir.join(n)).collect();
    let tmps: Vec<PathBuf> = names
        .iter()
        .map(|n| dir.join(format!(".{n}.tmp")))
        .collect();
    let result = (|| {
        let mut ws = tmps
            .iter()
            .map(|t| Ok(BufWriter::with_capacity(1 << 20, std::fs::File::create(t)?)))
            .collect::<io::Result<Vec<_>>>()?;
        let out = body(&mut ws)?;
        for w in &mut ws {
            w.flush()?;
            w.get_ref().sync_all()?;
        }
        Ok(out)
    })();
    let out = match result {
        Ok(out) => out,
        Err(e) => {
            for t in &tmps {
                let _ = std::fs::remove_file(t);
            }
            return Err(e);
        }
    };
    for (t, f) in tmps.iter().zip(&files) {
        std::fs::rename(t, f)?;
    }
    Ok((files, out))
}

fn write_estate<W: Write>(opts: &GenerateOptions, o: &mut Out<W>) -> io::Result<()> {
    let n = opts.resources.max(1);
    let e = Estate {
        seed: opts.seed,
        n,
        subs: (n / 5000).max(2),
        rgs: (n / 40).max(4),
        users: (n / 50).max(8),
        groups: (n / 100).max(6),
        sps: (n / 200).max(4),
    };
    let seed = e.seed;
    let tenant = guid(seed, 200, 0);
    let source = format!("toxgraph generate --resources {n} --seed {seed}");
    let _ = write!(
        o.line,
        r#"{{"type":"snapshot","taken_at":"2026-03-31T00:00:00Z","label":"2026-Q1","tenant":"{tenant}","source":"{source}"}}"#
    );
    o.only(0)?;
    let _ = write!(
        o.line,
        r#"{{"type":"snapshot","taken_at":"2026-06-30T00:00:00Z","label":"2026-Q2","tenant":"{tenant}","source":"{source}"}}"#
    );
    o.only(1)?;

    // Management groups and subscriptions.
    let mg = |name: &str| format!("/providers/Microsoft.Management/managementGroups/{name}");
    let mgs = [
        ("contoso-root", None),
        ("platform", Some("contoso-root")),
        ("landing-zones", Some("contoso-root")),
        ("prod", Some("landing-zones")),
        ("non-prod", Some("landing-zones")),
        ("sandbox", Some("contoso-root")),
    ];
    for (name, parent) in mgs {
        let parent = parent
            .map(|p| format!(r#","parent":"{}""#, mg(p)))
            .unwrap_or_default();
        let _ = write!(
            o.line,
            r#"{{"type":"scope","id":"{}","kind":"management_group","name":"{name}"{parent}}}"#,
            mg(name)
        );
        o.both()?;
    }
    for s in 0..e.subs {
        let env = e.env_of_sub(s);
        let parent = if s == e.subs - 1 {
            mg("sandbox")
        } else if env == "prod" {
            mg("prod")
        } else {
            mg("non-prod")
        };
        let _ = write!(
            o.line,
            r#"{{"type":"scope","id":"{}","kind":"subscription","name":"contoso-{env}-{s:03}","parent":"{parent}","tags":{{"env":"{env}"}}}}"#,
            e.sub_id(s)
        );
        o.both()?;
        if p(seed, S_FINDING, 10_000_000 + s as u64) < 0.5 {
            let (title, sev) = SUB_RECOMMENDATIONS[s % SUB_RECOMMENDATIONS.len()];
            let fid = format!(
                "{}/providers/Microsoft.Security/assessments/{}",
                e.sub_id(s),
                guid(seed, S_FINDING, 10_000_000 + s as u64)
            );
            let _ = write!(
                o.line,
                r#"{{"type":"finding","id":"{fid}","resource":"{}","class":"recommendation","title":"{title}","severity":"{sev}","state":"unhealthy","category":"IdentityAndAccess","first_seen":"2026-01-12T08:00:00Z"}}"#,
                e.sub_id(s)
            );
            o.fixable(e.remediated(S_FINDING, 10_000_000 + s, Some(s % TEAMS.len())))?;
        }
    }
    for r in 0..e.rgs {
        let owner = e
            .team_of_rg(r)
            .map(|t| format!(r#""owner":"{}","#, TEAMS[t]))
            .unwrap_or_default();
        let env = e.env_of_sub(e.sub_of_rg(r));
        let _ = write!(
            o.line,
            r#"{{"type":"scope","id":"{}","kind":"resource_group","name":"{}","tags":{{{owner}"env":"{env}","cost-center":"cc-{}"}}}}"#,
            e.rg_id(r, false),
            e.rg_name(r),
            1000 + r % 97
        );
        o.both()?;
    }

    // A custom privileged role.
    let custom = guid(seed, 201, 0);
    let _ = write!(
        o.line,
        r#"{{"type":"role","name":"Contoso Deployment Operator","id":"/providers/Microsoft.Authorization/roleDefinitions/{custom}","privileged":true,"actions":["Microsoft.Resources/deployments/*","Microsoft.Authorization/roleAssignments/write"]}}"#
    );
    o.both()?;

    // Resources, their identities, exposure, reach and findings.
    for i in 0..n {
        resource(&e, i, o)?;
    }

    // Users, groups (nested, with one three-group cycle), service principals.
    for u in 0..e.users {
        let _ = write!(
            o.line,
            r#"{{"type":"identity","id":"{}","kind":"user","name":"user{u:05}@contoso.example"}}"#,
            e.user_id(u)
        );
        o.both()?;
        let g = (h(seed, S_GROUP, u as u64) % e.groups as u64) as usize;
        let _ = write!(
            o.line,
            r#"{{"type":"membership","group":"{}","member":"{}"}}"#,
            e.group_id(g),
            e.user_id(u)
        );
        o.both()?;
        let scope = e.sub_id(u % e.subs);
        role_assignment(&e, o, &e.user_id(u), "Reader", &scope, 300 + u as u64)?;
        if p(seed, S_ROLE, 50_000_000 + u as u64) < 0.01 {
            let scope = e.sub_id((u / 7) % e.subs);
            role_assignment(&e, o, &e.user_id(u), "Owner", &scope, 400 + u as u64)?;
        }
    }
    for g in 0..e.groups {
        let team = g % TEAMS.len();
        let _ = write!(
            o.line,
            r#"{{"type":"identity","id":"{}","kind":"group","name":"grp-{}-{g}"}}"#,
            e.group_id(g),
            TEAMS[team]
        );
        o.both()?;
        // Groups 0..3 form the membership cycle below instead.
        if g >= 3 && p(seed, S_GROUP, 1_000_000 + g as u64) < 0.3 {
            let parent = (h(seed, S_GROUP, 2_000_000 + g as u64) % g as u64) as usize;
            let _ = write!(
                o.line,
                r#"{{"type":"membership","group":"{}","member":"{}"}}"#,
                e.group_id(parent),
                e.group_id(g)
            );
            o.both()?;
        }
        // Each group holds a role on one resource group of its team's estate.
        let r = (h(seed, S_GROUP, 3_000_000 + g as u64) % e.rgs as u64) as usize;
        let x = p(seed, S_ROLE, 60_000_000 + g as u64);
        let role = if x < 0.03 {
            "Contributor"
        } else if x < 0.15 {
            "Key Vault Secrets User"
        } else if x < 0.25 {
            "Storage Blob Data Reader"
        } else {
            "Reader"
        };
        role_assignment(
            &e,
            o,
            &e.group_id(g),
            role,
            &e.rg_id(r, false),
            500 + g as u64,
        )?;
    }
    if e.groups >= 3 {
        for (a, b) in [(0, 1), (1, 2), (2, 0)] {
            let _ = write!(
                o.line,
                r#"{{"type":"membership","group":"{}","member":"{}"}}"#,
                e.group_id(a),
                e.group_id(b)
            );
            o.both()?;
        }
    }
    for s in 0..e.sps {
        let _ = write!(
            o.line,
            r#"{{"type":"identity","id":"{}","kind":"service_principal","name":"sp-{}-deploy-{s}"}}"#,
            e.sp_id(s),
            TEAMS[s % TEAMS.len()]
        );
        o.both()?;
        let x = p(seed, S_ROLE, 70_000_000 + s as u64);
        let sub = e.sub_id(s % e.subs);
        if x < 0.04 {
            role_assignment(&e, o, &e.sp_id(s), "Owner", &sub, 600 + s as u64)?;
        } else if x < 0.12 {
            role_assignment(
                &e,
                o,
                &e.sp_id(s),
                &format!("/providers/Microsoft.Authorization/roleDefinitions/{custom}"),
                &sub,
                600 + s as u64,
            )?;
        } else {
            let r = (h(seed, S_ROLE, 71_000_000 + s as u64) % e.rgs as u64) as usize;
            role_assignment(
                &e,
                o,
                &e.sp_id(s),
                "Contributor",
                &e.rg_id(r, false),
                600 + s as u64,
            )?;
        }
    }
    // A backup principal with Contributor at the prod management group.
    let _ = write!(
        o.line,
        r#"{{"type":"role_assignment","principal":"{}","role":"Contributor","scope":"{}"}}"#,
        e.sp_id(0),
        mg("prod")
    );
    o.both()?;
    Ok(())
}

/// A role assignment, naming the role by name, GUID or full id in the mix real exports have.
fn role_assignment<W: Write>(
    e: &Estate,
    o: &mut Out<W>,
    principal: &str,
    role: &str,
    scope: &str,
    k: u64,
) -> io::Result<()> {
    let form = h(e.seed, S_ROLE, k) % 20;
    let guid = BUILTIN
        .iter()
        .find(|(n, _, _)| *n == role)
        .map(|(_, g, _)| *g);
    let reference = match (form, guid) {
        (0..=4, Some(g)) => g.to_string(),
        (5..=7, Some(g)) => {
            format!("{scope}/providers/Microsoft.Authorization/roleDefinitions/{g}")
        }
        _ => role.to_string(),
    };
    let _ = write!(
        o.line,
        r#"{{"type":"role_assignment","principal":"{principal}","role":"{reference}","scope":"{scope}"}}"#
    );
    o.both()
}

fn resource<W: Write>(e: &Estate, i: usize, o: &mut Out<W>) -> io::Result<()> {
    let seed = e.seed;
    let (kind, _, compute, data) = KINDS[e.kind(i)];
    let r = e.rg_of(i);
    let team = e.team_of_rg(r);
    let id = e.res_id(i);
    let name = e.res_name(i);
    let x = i as u64;
    let override_owner = p(seed, S_TEAM, 5_000_000 + x) < 0.05;
    let tags = if override_owner {
        format!(
            r#","tags":{{"owner":"{}"}}"#,
            TEAMS[(h(seed, S_TEAM, 6_000_000 + x) % TEAMS.len() as u64) as usize]
        )
    } else {
        String::new()
    };
    let sensitive = data && p(seed, S_SENS, x) < 0.2;
    let props = if sensitive {
        r#","props":{"sensitivity":"high","location":"westeurope"}"#
    } else {
        r#","props":{"location":"westeurope"}"#
    };
    let _ = write!(
        o.line,
        r#"{{"type":"resource","id":"{id}","kind":"{kind}","name":"{name}"{tags}{props}}}"#
    );
    o.both()?;
    // Some references spell the resource group in lowercase, as Azure sources do.
    let ref_id = if p(seed, S_KIND, 7_000_000 + x) < 0.1 {
        format!("{}/providers/{kind}/{name}", e.rg_id(r, true))
    } else {
        id.clone()
    };

    if e.has_mi(i) {
        let _ = write!(
            o.line,
            r#"{{"type":"identity","id":"{}","kind":"managed_identity","name":"{name}","attached_to":["{ref_id}"]}}"#,
            e.mi_id(i)
        );
        o.both()?;
        // Mostly least privilege; sometimes far more.
        let y = p(seed, S_ROLE, x);
        let (role, scope, privileged) = if y < 0.008 {
            ("Owner", e.sub_id(e.sub_of_rg(r)), true)
        } else if y < 0.012 {
            ("User Access Administrator", e.sub_id(e.sub_of_rg(r)), true)
        } else if y < 0.07 {
            ("Contributor", e.rg_id(r, false), true)
        } else if y < 0.12 {
            ("Storage Blob Data Owner", e.rg_id(r, false), true)
        } else if y < 0.22 {
            ("Key Vault Secrets User", e.rg_id(r, false), false)
        } else {
            ("Reader", e.rg_id(r, false), false)
        };
        if privileged {
            let fixed = e.remediated(S_ROLE, i, team);
            let form = h(seed, S_ROLE, 9_000_000 + x) % 3;
            let reference = match (form, BUILTIN.iter().find(|(n, _, _)| *n == role)) {
                (0, Some((_, g, _))) => g.to_string(),
                _ => role.to_string(),
            };
            let _ = write!(
                o.line,
                r#"{{"type":"role_assignment","principal":"{}","role":"{reference}","scope":"{scope}"}}"#,
                e.mi_id(i)
            );
            o.fixable(fixed)?;
        } else {
            role_assignment(e, o, &e.mi_id(i), role, &scope, 8_000_000 + x)?;
        }
    }

    // Internet exposure.
    let exposed_rate = if compute {
        0.08
    } else if kind == "Microsoft.Storage/storageAccounts" {
        0.05
    } else {
        0.0
    };
    if p(seed, S_EXPOSE, x) < exposed_rate {
        let ports = match h(seed, S_PORTS, x) % 10 {
            0..=3 => r#","ports":[443]"#,
            4..=5 => r#","ports":[80,443]"#,
            6 => r#","ports":[22]"#,
            7 => r#","ports":[3389]"#,
            8 => r#","ports":["5985-5986"]"#,
            _ => "",
        };
        let _ = write!(
            o.line,
            r#"{{"type":"exposure","resource":"{ref_id}","from":"internet"{ports},"protocol":"tcp"}}"#
        );
        o.fixable(e.remediated(S_EXPOSE, i, team))?;
    } else if compute && p(seed, S_EXPOSE, 20_000_000 + x) < 0.05 {
        let _ = write!(
            o.line,
            r#"{{"type":"exposure","resource":"{ref_id}","from":"10.0.0.0/8","ports":[443]}}"#
        );
        o.both()?;
    } else if compute && p(seed, S_EXPOSE, 30_000_000 + x) < 0.01 {
        // New in Q2.
        let _ = write!(
            o.line,
            r#"{{"type":"exposure","resource":"{ref_id}","from":"internet","ports":[443],"protocol":"tcp"}}"#
        );
        o.only(1)?;
    }

    // Lateral reach within the resource group and its neighbour (a vnet-like cluster).
    if compute {
        let fan = 1 + h(seed, S_REACH, x) % 3;
        let mut picked: Vec<usize> = Vec::with_capacity(3);
        for k in 0..fan {
            let rr = if k == 2 { (r + 1) % e.rgs } else { r };
            let size = e.rg_size(rr).max(1);
            let j = e.in_rg(
                rr,
                (h(seed, S_REACH, 1_000_000 * (k + 1) + x) % size as u64) as usize,
            );
            if let Some(j) =
                j.filter(|&j| j != i && !picked.contains(&j) && (e.is_data(j) || e.is_compute(j)))
            {
                picked.push(j);
                let port = if e.is_data(j) { 443 } else { 8080 };
                let _ = write!(
                    o.line,
                    r#"{{"type":"reach","from":"{id}","to":"{}","ports":[{port}],"protocol":"tcp"}}"#,
                    e.res_id(j)
                );
                o.both()?;
            }
        }
    }

    // Defender-style recommendations and a few alerts.
    let nf = match h(seed, S_FINDING, x) % 10 {
        0..=5 => 0,
        6..=8 => 1,
        _ => 2,
    };
    for f in 0..nf {
        let k =
            (h(seed, S_FINDING, 1_000_000 * (f + 1) + x) % RECOMMENDATIONS.len() as u64) as usize;
        let (title, sev, cat) = RECOMMENDATIONS[k];
        let st = p(seed, S_FINDING, 5_000_000 * (f + 1) + x);
        let state = if st < 0.55 {
            "unhealthy"
        } else if st < 0.9 {
            "healthy"
        } else {
            "notapplicable"
        };
        let fid = format!(
            "{id}/providers/Microsoft.Security/assessments/{}",
            guid(seed, S_FINDING, 3 * x + f)
        );
        let _ = write!(
            o.line,
            r#"{{"type":"finding","id":"{fid}","resource":"{ref_id}","class":"recommendation","title":"{title}","severity":"{sev}","state":"{state}","category":"{cat}","first_seen":"2026-02-01T00:00:00Z","last_seen":"2026-03-30T00:00:00Z"}}"#
        );
        if state == "unhealthy" && e.remediated(S_FINDING, 3 * i + f as usize, team) {
            o.only(0)?;
            let _ = write!(
                o.line,
                r#"{{"type":"finding","id":"{fid}","resource":"{ref_id}","class":"recommendation","title":"{title}","severity":"{sev}","state":"healthy","category":"{cat}","first_seen":"2026-02-01T00:00:00Z","last_seen":"2026-06-29T00:00:00Z"}}"#
            );
            o.only(1)?;
        } else {
            o.both()?;
        }
    }
    // Exposed workloads draw attacks: they carry most alerts, most of them exploitation.
    let exposed = p(seed, S_EXPOSE, x) < exposed_rate;
    let alert_rate = if exposed { 0.2 } else { 0.003 };
    if compute && p(seed, S_ALERT, x) < alert_rate {
        let pick = h(seed, S_ALERT, 1_000_000 + x) % 10;
        let which = if exposed && pick < 6 {
            0
        } else {
            (pick % ALERTS.len() as u64) as usize
        };
        let (title, sev, tech) = ALERTS[which];
        let active = p(seed, S_ALERT, 2_000_000 + x) < 0.7;
        let state = if active { "active" } else { "resolved" };
        let aid = format!(
            "{}/providers/Microsoft.Security/locations/westeurope/alerts/{}",
            e.sub_id(e.sub_of_rg(r)),
            guid(seed, S_ALERT, x)
        );
        let _ = write!(
            o.line,
            r#"{{"type":"finding","id":"{aid}","resource":"{ref_id}","class":"alert","title":"{title}","severity":"{sev}","state":"{state}","techniques":["{tech}"],"first_seen":"2026-03-20T11:02:00Z"}}"#
        );
        o.fixable(active && e.remediated(S_ALERT, i, team))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gen(n: usize, seed: u64) -> (String, String) {
        let dir = tempfile::tempdir().unwrap();
        generate(&GenerateOptions { resources: n, seed }, dir.path()).unwrap();
        (
            std::fs::read_to_string(dir.path().join("q1.jsonl")).unwrap(),
            std::fs::read_to_string(dir.path().join("q2.jsonl")).unwrap(),
        )
    }

    #[test]
    fn deterministic_and_seeded() {
        let a = gen(500, 1);
        assert_eq!(a, gen(500, 1));
        assert_ne!(a.0, gen(500, 2).0);
        assert_ne!(a.0, a.1);
    }

    #[test]
    fn exact_resource_count_and_valid_lines() {
        let (q1, q2) = gen(2000, 3);
        for text in [&q1, &q2] {
            let mut resources = 0;
            for (k, line) in text.lines().enumerate() {
                let v: serde_json::Value = serde_json::from_str(line).unwrap();
                if k == 0 {
                    assert_eq!(v["type"], "snapshot");
                }
                if v["type"] == "resource" {
                    resources += 1;
                }
            }
            assert_eq!(resources, 2000);
        }
    }

    #[test]
    fn generated_estates_are_warning_free() {
        for n in [300, 5000] {
            let dir = tempfile::tempdir().unwrap();
            generate(
                &GenerateOptions {
                    resources: n,
                    seed: 11,
                },
                dir.path(),
            )
            .unwrap();
            for q in ["q1.jsonl", "q2.jsonl"] {
                let snap = crate::ingest::load(&dir.path().join(q), Default::default()).unwrap();
                let built = crate::graph::build(snap, &Default::default());
                assert!(
                    built.warnings.is_empty(),
                    "{n} {q}: {:?}",
                    &built.warnings[..built.warnings.len().min(3)]
                );
            }
        }
    }

    #[test]
    fn guids_have_the_azure_shape() {
        for i in 0..100 {
            assert!(crate::ids::is_guid(&guid(9, 1, i)));
        }
    }
}
