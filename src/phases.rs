//! Per-phase timings (`--stats`) and progress bars, both read from the `tracing` spans the
//! pipeline opens: `read`, `parse`, `build`, `evaluate` (one `rule` child per rule) and
//! `write`.
//!
//! The library always opens the spans and never decides what to do with them: without a
//! subscriber a span or event costs one atomic load, so a run without `--stats` on a
//! non-terminal pays nothing measurable, and the timings cannot drift from the code they
//! time.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// Target of the events that report work done inside a phase (`done` of `of` units), for
/// the progress bar: a phase that runs on several threads cannot carry its progress in the
/// span itself.
pub const PROGRESS: &str = "toxgraph::progress";

/// Installs the process-wide subscriber: the `--stats` table on standard error when `stats`,
/// progress bars on standard error when `progress`. Neither: nothing is installed, so
/// spans stay disabled and cost nothing.
pub fn install(stats: bool, progress: bool) {
    if !stats && !progress {
        return;
    }
    // Progress first: layers see a closing span in this order, so a bar is cleared
    // before the timing line of its phase is printed over it.
    let subscriber = tracing_subscriber::registry()
        .with(progress.then(Progress::default))
        .with(stats.then(|| Stats::new(std::io::stderr())));
    // Only fails when a subscriber is already set, and then that one keeps working.
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// Spans and events of other crates are not phases.
fn ours(m: &Metadata<'_>) -> bool {
    m.target().starts_with("toxgraph")
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere while printing must not silence the rest of the table.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The fields the phases carry; any other field is ignored.
#[derive(Debug, Default, Clone)]
struct Fields {
    /// A rule's id.
    id: String,
    /// A rule's place in the pack: rules finish in any order on a thread pool, and are
    /// listed in pack order.
    index: u64,
    entries: u64,
    combinations: u64,
    /// Size of the input to `parse`, in bytes.
    bytes: u64,
    /// Rules in the pack, for `evaluate`.
    rules: u64,
    /// Progress events: units just finished, out of how many.
    done: u64,
    of: u64,
}

impl Visit for Fields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "index" => self.index = value,
            "entries" => self.entries = value,
            "combinations" => self.combinations = value,
            "bytes" => self.bytes = value,
            "rules" => self.rules = value,
            "done" => self.done = value,
            "of" => self.of = value,
            _ => {}
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if let Ok(v) = u64::try_from(value) {
            self.record_u64(field, v);
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "id" {
            self.id = value.to_string();
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "id" {
            self.id = format!("{value:?}");
        }
    }
}

/// What `--stats` keeps of an open span.
struct Timing {
    start: Instant,
    fields: Fields,
    /// Finished `rule` children of an `evaluate` span.
    rules: Vec<(Fields, Duration)>,
}

/// Prints each phase's wall time when it ends, so the table appears as the run goes and in
/// the order the phases ran; the rules of `evaluate` follow its line, in pack order.
pub struct Stats {
    out: Mutex<Box<dyn Write + Send>>,
}

impl Stats {
    pub fn new(out: impl Write + Send + 'static) -> Self {
        Stats {
            out: Mutex::new(Box::new(out)),
        }
    }

    fn emit(&self, text: &str) {
        let mut out = lock(&self.out);
        // Timings are advisory: a closed standard error must not fail the run.
        let _ = out.write_all(text.as_bytes()).and_then(|_| out.flush());
    }
}

impl<S> Layer<S> for Stats
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if !ours(attrs.metadata()) {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        span.extensions_mut().insert(Timing {
            start: Instant::now(),
            fields,
            rules: Vec::new(),
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut ext = span.extensions_mut();
        if let Some(t) = ext.get_mut::<Timing>() {
            values.record(&mut t.fields);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(t) = span.extensions_mut().remove::<Timing>() else {
            return;
        };
        let elapsed = t.start.elapsed();
        match span.name() {
            "rule" => {
                if let Some(parent) = span.parent() {
                    if let Some(p) = parent.extensions_mut().get_mut::<Timing>() {
                        p.rules.push((t.fields, elapsed));
                    }
                }
            }
            "evaluate" => {
                let mut rules = t.rules;
                rules.sort_by_key(|(f, _)| f.index);
                let mut text = format!("evaluate: {:.3}s\n", elapsed.as_secs_f64());
                for (f, d) in rules {
                    text.push_str(&format!(
                        "  {}: {:.3}s, {} entries, {} combinations\n",
                        f.id,
                        d.as_secs_f64(),
                        f.entries,
                        f.combinations
                    ));
                }
                self.emit(&text);
            }
            name @ ("read" | "parse" | "build" | "write") => {
                self.emit(&format!("{name}: {:.3}s\n", elapsed.as_secs_f64()));
            }
            _ => {}
        }
    }
}

/// The bar of the phase under way: phases run one after another, so one is enough.
struct Shown {
    span: Id,
    phase: &'static str,
    bar: ProgressBar,
}

/// Progress bars for the long phases: bytes parsed, a spinner while the graph is built (it
/// has no natural measure), rules evaluated. Each is cleared when its phase ends, leaving
/// nothing behind on the terminal.
#[derive(Default)]
pub struct Progress {
    shown: Mutex<Option<Shown>>,
}

fn bar(len: u64, template: &str, prefix: &'static str) -> ProgressBar {
    // The templates are constants, so the fallback is never taken; it only avoids a panic.
    let style = ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    ProgressBar::new(len).with_style(style).with_prefix(prefix)
}

impl<S> Layer<S> for Progress
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _ctx: Context<'_, S>) {
        if !ours(attrs.metadata()) {
            return;
        }
        let mut f = Fields::default();
        attrs.record(&mut f);
        let (phase, bar) = match attrs.metadata().name() {
            "parse" => (
                "parse",
                bar(
                    f.bytes,
                    "{prefix:8} [{bar:40}] {bytes}/{total_bytes}",
                    "parse",
                ),
            ),
            "build" => {
                let style = ProgressStyle::with_template("{prefix:8} {spinner}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner());
                let b = ProgressBar::new_spinner()
                    .with_style(style)
                    .with_prefix("build");
                b.enable_steady_tick(Duration::from_millis(100));
                ("build", b)
            }
            "evaluate" => (
                "evaluate",
                bar(
                    f.rules,
                    "{prefix:8} [{bar:40}] {pos}/{len} rules",
                    "evaluate",
                ),
            ),
            _ => return,
        };
        let mut shown = lock(&self.shown);
        if let Some(old) = shown.take() {
            old.bar.finish_and_clear();
        }
        *shown = Some(Shown {
            span: id.clone(),
            phase,
            bar,
        });
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() != PROGRESS {
            return;
        }
        let mut f = Fields::default();
        event.record(&mut f);
        let shown = lock(&self.shown);
        if let Some(s) = shown.as_ref().filter(|s| s.phase == "parse") {
            // A compressed file's text is longer than the file: the bar grows to it.
            if s.bar.length() != Some(f.of) {
                s.bar.set_length(f.of);
            }
            s.bar.inc(f.done);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let mut shown = lock(&self.shown);
        let Some(s) = shown.as_ref() else { return };
        if s.span == id {
            s.bar.finish_and_clear();
            *shown = None;
        } else if s.phase == "evaluate" && ctx.metadata(&id).is_some_and(|m| m.name() == "rule") {
            s.bar.inc(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            lock(&self.0).extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn phases_print_in_order_and_rules_in_pack_order() {
        let buf = Buf::default();
        let subscriber = tracing_subscriber::registry().with(Stats::new(buf.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info_span!("read").in_scope(|| {});
            tracing::info_span!("parse", bytes = 10u64).in_scope(|| {});
            let eval = tracing::info_span!("evaluate", rules = 2u64);
            // The second rule finishes first, as it may on a thread pool.
            for (index, id) in [(1u64, "TC002"), (0, "TC001")] {
                let r = tracing::info_span!(
                    parent: &eval,
                    "rule",
                    id,
                    index,
                    entries = tracing::field::Empty,
                    combinations = tracing::field::Empty
                );
                r.record("entries", 3u64);
                r.record("combinations", 4u64);
            }
            drop(eval);
            tracing::info_span!("unrelated").in_scope(|| {});
            tracing::info_span!("write").in_scope(|| {});
        });
        let text = String::from_utf8(lock(&buf.0).clone()).unwrap_or_default();
        let shape: Vec<String> = text
            .lines()
            .map(|l| match l.split_once(": ") {
                Some((name, rest)) => {
                    let counts = rest.split_once(", ").map_or("", |(_, c)| c);
                    format!("{name} {counts}").trim_end().to_string()
                }
                None => l.to_string(),
            })
            .collect();
        assert_eq!(
            shape,
            [
                "read",
                "parse",
                "evaluate",
                "  TC001 3 entries, 4 combinations",
                "  TC002 3 entries, 4 combinations",
                "write"
            ],
            "{text}"
        );
    }

    #[test]
    fn no_subscriber_no_span() {
        // What makes the spans free without --stats: they are disabled, not recorded.
        assert!(tracing::info_span!("parse").is_disabled());
    }
}
