//! The `toxgraph` command: parses arguments, calls the library, maps outcomes to exit
//! codes (0 clean, 1 gate failed, 2 usage or input error). An error always wins.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use toxgraph::engine::Filter;
use toxgraph::{graph, ingest, report, rules, scan, Error};

/// The graph build allocates millions of small strings and tables; mimalloc measured
/// faster than the system allocator there (see docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

extern "C" {
    /// Part of the mimalloc library that the global allocator links in.
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
}

/// `mi_option_purge_delay` in mimalloc's `mi_option_t`: 15 in mimalloc 2 and 3 alike
/// (retired options keep their places, so the numbers do not move).
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

/// Memory a phase has freed goes back to the system 50 ms after, instead of mimalloc 3's
/// 1 s. A scan frees most of what parsing used while it builds the graph; keeping it a
/// second longer held 60-120 MB more at the peak at a million resources. Freed memory
/// used again is faulted in again: the price is up to 0.3 s of a 5-7 s scan there (10
/// ms, mimalloc 2's default, held a little less for twice the page faults; see
/// docs/performance.md). `MIMALLOC_PURGE_DELAY`, where set, still decides.
fn return_freed_memory_promptly() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one integer option of the allocator, which mimalloc allows at any
        // time and from any thread.
        unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, 50) }
    }
}

#[derive(Parser)]
#[command(
    name = "toxgraph",
    version,
    about = "Toxic-combination graph analyser for cloud estates"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Find every toxic combination of the rule pack in a snapshot.
    Scan {
        /// Native snapshot (.jsonl or .jsonl.gz).
        snapshot: PathBuf,
        #[command(flatten)]
        common: Common,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        /// Write to this file (atomically) instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Rule folder (default: the shipped pack).
        #[arg(long)]
        rules: Option<PathBuf>,
        /// List at most this many combinations (counts still cover all; the output says so).
        #[arg(long)]
        max_combinations: Option<usize>,
    },
    /// Run one path pattern against a snapshot and print every match with its walk.
    Query {
        /// A path pattern, e.g. '(internet)-[:exposes]->(e:resource)-[:reaches*1..3]->(t:resource {sensitivity: "high"})'.
        pattern: String,
        snapshot: PathBuf,
        #[command(flatten)]
        common: Common,
        /// Only walks from this entry (id, case-insensitive).
        #[arg(long)]
        entry: Option<String>,
        /// Only walks into this target (id, case-insensitive): "every way to this key vault".
        #[arg(long)]
        target: Option<String>,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Write a realistic generated estate as two quarterly snapshots (q1.jsonl, q2.jsonl),
    /// or with --shape one adversarial snapshot (adversarial-SHAPE.jsonl).
    Generate {
        /// Number of resources in the first quarter.
        #[arg(long, default_value_t = 10_000, conflicts_with = "shape")]
        resources: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// An adversarial shape instead of the realistic estate.
        #[arg(long, value_enum)]
        shape: Option<ShapeArg>,
        /// The shape's size: clique resources [5000], deep-groups nesting depth [10000],
        /// group-cycle groups [100000], mg-wide resources [500000], pairs entries and as many
        /// stores [3200].
        #[arg(long, requires = "shape")]
        size: Option<usize>,
        /// Folder to write into (created if missing).
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Quarterly report: toxic-combination reduction by owner, with audit lineage.
    Report {
        /// Snapshots (or export folders), oldest first.
        #[arg(required = true, num_args = 1..)]
        snapshots: Vec<PathBuf>,
        /// Write the report here (format from the extension: .html, .md, .json, .csv);
        /// a manifest sidecar FILE.manifest.json records every hash.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Format when writing to standard output.
        #[arg(long, value_enum)]
        format: Option<ReportFormat>,
        /// Order periods as given (default) or by the snapshots' taken_at.
        #[arg(long, value_enum, default_value_t = Order::Given)]
        order: Order,
        /// Status thresholds in percent: green at or below the first, amber up to the second.
        /// [default: -40,-20]
        #[arg(long, allow_hyphen_values = true)]
        thresholds: Option<String>,
        /// Reduction target per period: startup -20 %, scale-up -30 %, enterprise -40 %, regulated -50 %.
        #[arg(long)]
        tier: Option<String>,
        /// Tag key for the environment breakdown [default: env].
        #[arg(long)]
        env_tag: Option<String>,
        /// A TOML file with a [report] table (thresholds, tier, env_tag); flags win over it.
        #[arg(long)]
        config: Option<PathBuf>,
        /// When the report was generated: default the latest snapshot's taken_at (so reports
        /// reproduce byte for byte); `now` for the clock; or an RFC 3339 timestamp.
        #[arg(long)]
        generated_at: Option<String>,
        #[arg(long)]
        rules: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// Write the baseline of a snapshot: the accepted combinations, sorted by fingerprint.
    Baseline {
        snapshot: PathBuf,
        /// Where to write it (atomically).
        #[arg(short, long)]
        output: PathBuf,
        /// Keep first-seen dates from the existing baseline at --output.
        #[arg(long)]
        update: bool,
        #[arg(long)]
        rules: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// Fail (exit 1) when a snapshot has toxic combinations that the baseline (or --before) does not.
    Gate {
        /// The snapshot to check (or use --after).
        snapshot: Option<PathBuf>,
        #[arg(long)]
        baseline: Option<PathBuf>,
        /// Compare two snapshots directly: new = in --after, not in --before.
        #[arg(long)]
        before: Option<PathBuf>,
        #[arg(long)]
        after: Option<PathBuf>,
        /// Lowest severity that fails the gate.
        #[arg(long, default_value = "high")]
        fail_on: String,
        /// Risk acceptances (TOML), each with an expiry.
        #[arg(long)]
        exceptions: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = GateFormat::Text)]
        format: GateFormat,
        #[arg(short, long)]
        output: Option<PathBuf>,
        #[arg(long)]
        rules: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// Re-hash a report and every input its manifest names: exit 0 when all match, 1 otherwise.
    Verify { report: PathBuf },
    /// Convert exports into a native snapshot.
    Import {
        #[command(subcommand)]
        cmd: ImportCmd,
    },
    /// Inspect and validate rule packs.
    Rules {
        #[command(subcommand)]
        cmd: RulesCmd,
    },
}

#[derive(Subcommand)]
enum ImportCmd {
    /// A folder of Azure export files (Resource Graph, ARM REST, az CLI, Defender for Cloud).
    Azure {
        /// Folder holding the export files (read recursively; detected by content).
        #[arg(long)]
        from: PathBuf,
        /// Write the native snapshot here (atomically); default: standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// List what was read from each file, and every item skipped with the reason.
        #[arg(long)]
        explain_skipped: bool,
        /// Skip unreadable files and truncated result sets as counted warnings.
        #[arg(long)]
        keep_going: bool,
        /// The snapshot's taken_at (RFC 3339); default: the latest timestamp in the exports.
        #[arg(long)]
        taken_at: Option<String>,
        /// The snapshot's label, e.g. 2026-Q3.
        #[arg(long)]
        label: Option<String>,
    },
}

#[derive(Subcommand)]
enum RulesCmd {
    /// The rule pack, with severity and ATT&CK mapping.
    List {
        #[arg(long)]
        rules: Option<PathBuf>,
    },
    /// Validate rule files or folders; every problem is reported with its position.
    Check {
        #[arg(default_value = "rules")]
        paths: Vec<PathBuf>,
    },
    /// A rule's documentation.
    Explain {
        id: String,
        #[arg(long)]
        rules: Option<PathBuf>,
    },
}

#[derive(Args)]
struct Common {
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Skip malformed lines (counted as warnings) instead of stopping.
    #[arg(long)]
    keep_going: bool,
    /// List every warning.
    #[arg(short, long)]
    verbose: bool,
    /// Tag key that names a resource's owner.
    #[arg(long, default_value = "owner")]
    owner_tag: String,
    /// Print per-phase timings on standard error (read, parse, build, evaluate with each
    /// rule, write).
    #[arg(long)]
    stats: bool,
}

impl Cmd {
    /// The options of the commands that load estates: the ones with phases to time.
    fn common(&self) -> Option<&Common> {
        match self {
            Cmd::Scan { common, .. }
            | Cmd::Query { common, .. }
            | Cmd::Report { common, .. }
            | Cmd::Baseline { common, .. }
            | Cmd::Gate { common, .. } => Some(common),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum ReportFormat {
    Table,
    Json,
    Csv,
    Md,
    Html,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum GateFormat {
    Text,
    Json,
    Sarif,
    Junit,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Order {
    Given,
    TakenAt,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum ShapeArg {
    /// Every pair of resources joined by `reaches`.
    Clique,
    /// Groups nested in a chain.
    DeepGroups,
    /// Groups in one membership cycle.
    GroupCycle,
    /// One management group above every resource, with a role at it.
    MgWide,
    /// Every exposed entry with every sensitive store.
    Pairs,
}

impl ShapeArg {
    fn shape(self) -> toxgraph::generate::adversarial::Shape {
        use toxgraph::generate::adversarial::Shape;
        match self {
            ShapeArg::Clique => Shape::Clique,
            ShapeArg::DeepGroups => Shape::DeepGroups,
            ShapeArg::GroupCycle => Shape::GroupCycle,
            ShapeArg::MgWide => Shape::MgWide,
            ShapeArg::Pairs => Shape::Pairs,
        }
    }
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Format {
    Table,
    Json,
    Jsonl,
    Md,
}

/// Writes the rest of an output, after its text.
type Stream = Box<dyn FnOnce(&mut (dyn Write + Send)) -> std::io::Result<()>>;

/// What a command produced: text for stdout or a file, and the exit code it implies.
struct Done {
    text: String,
    /// Written after `text`: an output too large to make whole in memory, written as it
    /// is made.
    stream: Option<Stream>,
    output: Option<PathBuf>,
    code: u8,
    /// The `write` phase, opened where the text is rendered and closed once it is written,
    /// so its time covers both.
    write: tracing::Span,
}

impl Done {
    /// Text for standard output, exit code 0.
    fn print(text: String) -> Done {
        Done::to(text, None, tracing::Span::none())
    }

    /// Text for standard output or the `-o` file, exit code 0, with its `write` phase.
    fn to(text: String, output: Option<PathBuf>, write: tracing::Span) -> Done {
        Done {
            text,
            stream: None,
            output,
            code: 0,
            write,
        }
    }

    /// An output written as it is made, to standard output or the `-o` file.
    fn streamed(
        output: Option<PathBuf>,
        write: tracing::Span,
        stream: impl FnOnce(&mut (dyn Write + Send)) -> std::io::Result<()> + 'static,
    ) -> Done {
        Done {
            stream: Some(Box::new(stream)),
            ..Done::to(String::new(), output, write)
        }
    }
}

fn main() -> ExitCode {
    return_freed_memory_promptly();
    let cli = Cli::parse();
    if let Some(c) = cli.cmd.common() {
        toxgraph::phases::install(c.stats, std::io::stderr().is_terminal());
    }
    match run(cli) {
        // Every guard and span of the output's writing ends inside `deliver`, so its
        // `--stats` line is out before the process exits.
        Ok(done) => exit_now(deliver(done)),
        Err(e) => {
            eprintln!("{}", render_error(&e));
            ExitCode::from(2)
        }
    }
}

/// Writes a command's output to standard output or its `-o` file: the exit code it
/// implies, or 2 if the output cannot be written.
fn deliver(done: Done) -> u8 {
    let _write = done.write.enter();
    let (text, stream) = (done.text, done.stream);
    let body = |out: &mut (dyn Write + Send)| {
        out.write_all(text.as_bytes())?;
        stream.map_or(Ok(()), |s| s(out))
    };
    if let Some(path) = &done.output {
        if let Err(e) = toxgraph::atomic::write_with(path, body) {
            eprintln!("error: {e}");
            return 2;
        }
    } else {
        // Not locked: the stream is written from the thread pool.
        let mut out = std::io::stdout();
        if let Err(e) = body(&mut out).and_then(|_| out.flush()) {
            // `toxgraph scan | head` is success.
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                eprintln!("error: cannot write to standard output: {e}");
                return 2;
            }
        }
    }
    done.code
}

/// Ends the process once its output is out. On Linux it skips the exit handlers: the
/// allocator's would walk every page it holds to free memory the system is about to take
/// back whole (30 ms at a million resources, after the output is complete).
fn exit_now(code: u8) -> ExitCode {
    #[cfg(target_os = "linux")]
    {
        // Standard output is the one buffered stream; what is left in it goes out first.
        // A flush that fails here (a closed pipe) has nothing left to report to.
        let _ = std::io::stdout().flush();
        // SAFETY: `_exit` ends the process; no Rust code runs after it, and every output
        // is written (files renamed into place, standard output flushed just above).
        unsafe { libc::_exit(i32::from(code)) }
    }
    #[cfg(not(target_os = "linux"))]
    ExitCode::from(code)
}

fn render_error(e: &Error) -> String {
    match e {
        Error::Invalid(_) => e.to_string(),
        other => format!("error: {other}"),
    }
}

fn pool(threads: Option<usize>) -> Result<(), Error> {
    if let Some(n) = threads {
        if n == 0 {
            return Err(Error::Usage("--threads must be at least 1".into()));
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .map_err(|e| Error::Usage(format!("cannot start {n} threads: {e}")))?;
    }
    Ok(())
}

fn pack(path: Option<&Path>) -> Result<rules::RulePack, Error> {
    match path {
        Some(p) => rules::load(p),
        None => rules::shipped(),
    }
}

/// The estate, built with what `pack` needs of it.
fn estate(path: &Path, c: &Common, pack: &rules::RulePack) -> Result<toxgraph::Estate, Error> {
    toxgraph::load_estate(path, c.read(), &c.build(pack))
}

impl Common {
    fn read(&self) -> ingest::ReadOptions {
        ingest::ReadOptions {
            keep_going: self.keep_going,
        }
    }

    fn build(&self, pack: &rules::RulePack) -> graph::BuildOptions {
        graph::BuildOptions {
            owner_key: self.owner_tag.clone(),
            keep_props: pack.reads_props(),
        }
    }
}

/// Loads an estate and evaluates the whole pack on it: what scan, baseline and gate share.
/// With a `cap`, each rule's walks are kept for its first `cap` combinations only (all
/// are counted): enough for a listing cut to `cap`, not for a baseline or a gate.
fn scanned(
    path: &Path,
    pack: &rules::RulePack,
    c: &Common,
    cap: Option<usize>,
) -> Result<(toxgraph::Estate, scan::Outcome), Error> {
    let est = estate(path, c, pack)?;
    let outcome = scan::run_capped(&est.graph, pack, &Filter::default(), cap);
    Ok((est, outcome))
}

/// The process ends right after the output is written: freeing a graph of millions of
/// nodes and every combination's walk, one allocation at a time, would only delay the exit
/// (by about half a second at a million resources). The operating system takes the memory
/// back at once.
fn leave_to_exit<T>(value: T) {
    std::mem::forget(value);
}

fn render(doc: &report::ScanDoc, format: Format, verbose: bool) -> String {
    match format {
        Format::Table => report::table(doc, verbose),
        Format::Json => report::json(doc),
        Format::Jsonl => report::jsonl(doc),
        Format::Md => report::markdown(doc),
    }
}

fn run(cli: Cli) -> Result<Done, Error> {
    match cli.cmd {
        Cmd::Scan {
            snapshot,
            common,
            format,
            output,
            rules,
            max_combinations,
        } => {
            pool(common.threads)?;
            let pack = pack(rules.as_deref())?;
            let (est, outcome) = scanned(&snapshot, &pack, &common, max_combinations)?;
            let write = tracing::info_span!("write");
            let rendering = write.enter();
            // JSON's listing is made and written a batch at a time, never held whole.
            let json = matches!(format, Format::Json);
            let doc = if json {
                report::scan_doc_unlisted
            } else {
                report::scan_doc
            }(
                &snapshot.display().to_string(),
                &est.graph,
                &pack,
                &outcome,
                &est.warnings,
                max_combinations,
            );
            if let Some(n) = &doc.notice {
                eprintln!("note: {n}");
            }
            if json {
                drop(rendering);
                return Ok(Done::streamed(output, write, move |out| {
                    let written =
                        report::write_json_listing(&doc, &est.graph, &pack, &outcome, out);
                    leave_to_exit((est, outcome, doc));
                    written
                }));
            }
            let text = render(&doc, format, common.verbose);
            drop(rendering);
            leave_to_exit((est, outcome, doc));
            Ok(Done::to(text, output, write))
        }
        Cmd::Query {
            pattern,
            snapshot,
            common,
            entry,
            target,
            format,
            output,
        } => {
            pool(common.threads)?;
            let pack = rules::RulePack {
                rules: vec![rules::Rule::adhoc(&pattern)?],
                sources: vec![],
            };
            let est = estate(&snapshot, &common, &pack)?;
            let g = &est.graph;
            let find = |id: Option<String>, what: &str| -> Result<Option<u32>, Error> {
                id.map(|id| {
                    g.find(&id).ok_or_else(|| {
                        Error::Usage(format!(
                            "no node has the {what} id `{id}` in {}",
                            snapshot.display()
                        ))
                    })
                })
                .transpose()
            };
            let filter = Filter {
                entry: find(entry, "entry")?,
                target: find(target, "target")?,
            };
            let outcome = scan::run(g, &pack, &filter);
            let write = tracing::info_span!("write");
            let rendering = write.enter();
            let doc = report::scan_doc(
                &snapshot.display().to_string(),
                g,
                &pack,
                &outcome,
                &est.warnings,
                None,
            );
            let text = match format {
                Format::Table => report::query_text(&doc, common.verbose),
                f => render(&doc, f, common.verbose),
            };
            drop(rendering);
            leave_to_exit((est, outcome, doc));
            Ok(Done::to(text, output, write))
        }
        Cmd::Generate {
            resources,
            seed,
            shape,
            size,
            output,
        } => {
            let written = match shape.map(ShapeArg::shape) {
                Some(shape) => {
                    let size = size.unwrap_or(shape.default_size());
                    if size < shape.min_size() {
                        return Err(Error::Usage(format!(
                            "--size for {} ({}) must be at least {}",
                            shape.name(),
                            shape.size_means(),
                            shape.min_size()
                        )));
                    }
                    toxgraph::generate::adversarial::generate_shape(shape, size, seed, &output)
                }
                None => {
                    if resources == 0 {
                        return Err(Error::Usage("--resources must be at least 1".into()));
                    }
                    let opts = toxgraph::generate::GenerateOptions { resources, seed };
                    toxgraph::generate::generate(&opts, &output)
                }
            };
            let summary = written.map_err(|source| Error::Write {
                path: output.clone(),
                source,
            })?;
            let mut text = String::new();
            for (f, n) in summary.files.iter().zip(&summary.records) {
                text.push_str(&format!("{}: {n} records\n", f.display()));
            }
            Ok(Done::print(text))
        }
        Cmd::Report {
            snapshots,
            output,
            format,
            order,
            thresholds,
            tier,
            env_tag,
            config,
            generated_at,
            rules,
            common,
        } => {
            pool(common.threads)?;
            let cfg = config
                .as_deref()
                .map(report::quarterly::read_config)
                .transpose()?
                .unwrap_or_default();
            let opts = report::quarterly::ReportConfig {
                thresholds,
                tier,
                env_tag,
            }
            .or(cfg)
            .options()?;
            let pack = pack(rules.as_deref())?;
            let generated_at = match generated_at.as_deref() {
                None => toxgraph::GeneratedAt::FromSnapshots,
                Some("now") => toxgraph::GeneratedAt::Now,
                Some(t) if ingest::native::is_rfc3339(t) => {
                    toxgraph::GeneratedAt::At(t.to_string())
                }
                Some(t) => {
                    return Err(Error::Usage(format!(
                        "--generated-at `{t}`: expected `now` or an RFC 3339 timestamp"
                    )))
                }
            };
            let (rep, lineage) = toxgraph::quarterly_report(
                &snapshots,
                &pack,
                common.read(),
                &common.build(&pack),
                &opts,
                order == Order::TakenAt,
                generated_at,
            )?;
            let fmt = match (&output, format) {
                (_, Some(f)) => f,
                (Some(p), None) => match p.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
                    Some("html" | "htm") => ReportFormat::Html,
                    Some("md") => ReportFormat::Md,
                    Some("json") => ReportFormat::Json,
                    Some("csv") => ReportFormat::Csv,
                    _ => return Err(Error::Usage(format!("{}: say the format with --format, or end the name with .html, .md, .json or .csv", p.display()))),
                },
                (None, None) => ReportFormat::Table,
            };
            use report::quarterly_out as q;
            let write = tracing::info_span!("write");
            let rendering = write.enter();
            let text = match fmt {
                ReportFormat::Table => q::terminal(&rep),
                ReportFormat::Json => q::json(&rep),
                ReportFormat::Csv => q::csv(&rep),
                ReportFormat::Md => q::markdown(&rep),
                ReportFormat::Html => q::html(&rep),
            };
            let text = match output {
                Some(path) => {
                    toxgraph::lineage::write_with_manifest(&path, text.as_bytes(), &lineage)?;
                    let m = toxgraph::lineage::manifest_path(&path);
                    format!("wrote {} and {}\n", path.display(), m.display())
                }
                None => text,
            };
            drop(rendering);
            Ok(Done::to(text, None, write))
        }
        Cmd::Baseline {
            snapshot,
            output,
            update,
            rules,
            common,
        } => {
            pool(common.threads)?;
            let pack = pack(rules.as_deref())?;
            let (est, outcome) = scanned(&snapshot, &pack, &common, None)?;
            let previous = if update && output.exists() {
                Some(toxgraph::gate::Baseline::read(&output)?)
            } else {
                None
            };
            let b = toxgraph::gate::Baseline::from_scan(
                &est.graph,
                &pack,
                &outcome.combinations,
                previous.as_ref(),
            );
            let write = tracing::info_span!("write");
            Ok(Done::to(
                write.in_scope(|| b.to_json()),
                Some(output),
                write,
            ))
        }
        Cmd::Gate {
            snapshot,
            baseline,
            before,
            after,
            fail_on,
            exceptions,
            format,
            output,
            rules,
            common,
        } => {
            pool(common.threads)?;
            let fail_on = ingest::Level::parse(&fail_on).ok_or_else(|| {
                Error::Usage(format!(
                    "--fail-on `{fail_on}`: expected low, medium, high or critical"
                ))
            })?;
            let pack = pack(rules.as_deref())?;
            let target = match (snapshot, &after) {
                (Some(s), None) => s,
                (None, Some(a)) => a.clone(),
                _ => {
                    return Err(Error::Usage(
                        "give the snapshot to check, or --before and --after".into(),
                    ))
                }
            };
            let accepted = match (&baseline, &before) {
                (Some(b), None) => toxgraph::gate::Baseline::read(b)?,
                (None, Some(b)) => {
                    let (est, out) = scanned(b, &pack, &common, None)?;
                    toxgraph::gate::Baseline::from_scan(&est.graph, &pack, &out.combinations, None)
                }
                _ => {
                    return Err(Error::Usage(
                        "give exactly one of --baseline FILE and --before SNAPSHOT".into(),
                    ))
                }
            };
            let exceptions = exceptions
                .as_deref()
                .map(toxgraph::gate::load_exceptions)
                .transpose()?
                .unwrap_or_default();
            let (est, outcome) = scanned(&target, &pack, &common, None)?;
            let verdict = toxgraph::gate::evaluate(
                &est.graph,
                &pack,
                &outcome.combinations,
                &accepted,
                &exceptions,
                fail_on,
            );
            let write = tracing::info_span!("write");
            let text = write.in_scope(|| match format {
                GateFormat::Text => toxgraph::gate::text(&verdict),
                GateFormat::Json => toxgraph::gate::json(&verdict),
                GateFormat::Sarif => {
                    toxgraph::gate::sarif::sarif(&verdict, &pack, &target.display().to_string())
                }
                GateFormat::Junit => toxgraph::gate::junit(&verdict),
            });
            if output.is_some() && format != GateFormat::Text {
                eprintln!("{}", toxgraph::gate::verdict_line(&verdict));
            }
            Ok(Done {
                code: u8::from(verdict.failed),
                ..Done::to(text, output, write)
            })
        }
        Cmd::Verify { report } => {
            let mismatches = toxgraph::lineage::verify(&report)?;
            let mut text = String::new();
            for m in &mismatches {
                text.push_str(&format!(
                    "changed: {}\n  expected {}\n  found    {}\n",
                    m.what, m.expected, m.found
                ));
            }
            if mismatches.is_empty() {
                text = format!(
                    "ok: {} and every input it names match its manifest\n",
                    report.display()
                );
            }
            Ok(Done {
                code: u8::from(!mismatches.is_empty()),
                ..Done::print(text)
            })
        }
        Cmd::Import {
            cmd:
                ImportCmd::Azure {
                    from,
                    output,
                    explain_skipped,
                    keep_going,
                    taken_at,
                    label,
                },
        } => {
            if let Some(t) = taken_at
                .as_deref()
                .filter(|t| !ingest::native::is_rfc3339(t))
            {
                return Err(Error::Usage(format!(
                    "--taken-at `{t}` is not an RFC 3339 timestamp (e.g. 2026-09-30T00:00:00Z)"
                )));
            }
            if !from.is_dir() {
                return Err(Error::Usage(format!("{} is not a folder", from.display())));
            }
            let opts = ingest::azure::ImportOptions {
                keep_going,
                taken_at,
                label,
                ..Default::default()
            };
            let (snap, rep) = ingest::azure::import_dir(&from, &opts)?;
            if explain_skipped {
                eprint!("{}", report::import_explanation(&rep, &snap.warnings));
            } else if !rep.skipped.is_empty() || !snap.warnings.is_empty() {
                eprintln!(
                    "{} items skipped, {} (--explain-skipped lists them)",
                    rep.skipped.len(),
                    report::plural(snap.warnings.len(), "warning")
                );
            }
            Ok(Done::streamed(output, tracing::Span::none(), move |out| {
                let written = ingest::write::write_jsonl(&snap, out);
                leave_to_exit(snap);
                written
            }))
        }
        Cmd::Rules { cmd } => match cmd {
            RulesCmd::List { rules } => {
                Ok(Done::print(report::rules_list(&pack(rules.as_deref())?)))
            }
            RulesCmd::Check { paths } => {
                let mut problems = Vec::new();
                let mut n = 0;
                for p in &paths {
                    match rules::load(p) {
                        Ok(pk) => n += pk.rules.len(),
                        Err(Error::Invalid(mut d)) => problems.append(&mut d),
                        Err(e) => return Err(e),
                    }
                }
                if problems.is_empty() {
                    Ok(Done::print(format!("{} ok\n", report::plural(n, "rule"))))
                } else {
                    Err(Error::Invalid(problems))
                }
            }
            RulesCmd::Explain { id, rules } => {
                let pk = pack(rules.as_deref())?;
                let r = pk
                    .get(&id)
                    .ok_or_else(|| Error::Usage(format!("no rule `{id}` in the pack")))?;
                Ok(Done::print(report::rule_doc(r)))
            }
        },
    }
}
