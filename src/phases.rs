//! Per-phase timings (`--stats`), read from the `tracing` spans the pipeline opens: `read`,
//! `parse`, `build`, `evaluate` (one `rule` child per rule) and `write`.
//!
//! The library always opens the spans and never decides what to do with them: without a
//! subscriber a span or event costs one atomic load, so a run without `--stats` on a
//! non-terminal pays nothing measurable, and the timings cannot drift from the code they
//! time.

use std::io::Write;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// Installs the process-wide subscriber that prints the `--stats` table on standard error.
/// Without `stats` nothing is installed, so spans stay disabled and cost nothing.
pub fn install(stats: bool) {
    if !stats {
        return;
    }
    let subscriber = tracing_subscriber::registry().with(Stats::new(std::io::stderr()));
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
}

impl Visit for Fields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "index" => self.index = value,
            "entries" => self.entries = value,
            "combinations" => self.combinations = value,
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
