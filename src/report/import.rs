//! `import azure --explain-skipped`: what was read from each file and what was not, and why.

use crate::diag::Diagnostic;
use crate::ingest::azure::ImportReport;
use std::fmt::Write;

pub fn import_explanation(rep: &ImportReport, warnings: &[Diagnostic]) -> String {
    let mut o = String::from("Read\n");
    for f in &rep.files {
        let _ = writeln!(
            o,
            "  {}  [{}]  {} items, {} used",
            f.file, f.shape, f.items, f.used
        );
    }
    if !rep.skipped.is_empty() {
        o.push_str("Skipped\n");
        for s in &rep.skipped {
            let at = if s.item == 0 {
                String::new()
            } else {
                format!(" item {}", s.item)
            };
            let _ = writeln!(o, "  {}{at}: {}", s.file, s.reason);
        }
    }
    if !warnings.is_empty() {
        o.push_str("Warnings\n");
        for w in warnings {
            let _ = writeln!(o, "  {}: {}", w.location(), w.message);
        }
    }
    o
}
