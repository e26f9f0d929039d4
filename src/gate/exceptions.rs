//! Risk acceptances: exceptions by fingerprint, or by rule and an entry id pattern, each
//! with an owner, a reason, a ticket and an expiry. An exception past its expiry no longer
//! suppresses; one without an expiry is rejected ("forever waivers" are what auditors find).

use crate::diag::Diagnostic;
use crate::error::{Error, Result};
use crate::ingest::azure::roles::wildcard;
use serde::Deserialize;
use std::path::Path;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exception {
    pub fingerprint: Option<String>,
    pub rule: Option<String>,
    /// Entry id pattern; `*` matches any run of characters, case-insensitively.
    pub entry: Option<String>,
    pub owner: String,
    pub reason: String,
    pub ticket: String,
    /// `YYYY-MM-DD`; after this day the exception no longer suppresses.
    pub expires: String,
    /// `YYYY-MM-DD`; when the risk was accepted, for ageing.
    pub created: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    exception: Vec<toml::Spanned<Exception>>,
}

impl Exception {
    /// A short name for reports: the ticket, then what it matches.
    pub fn id(&self) -> String {
        match (&self.fingerprint, &self.rule) {
            (Some(f), _) => format!("{} ({}…)", self.ticket, &f[..f.len().min(12)]),
            (None, Some(r)) => format!(
                "{} ({r} {})",
                self.ticket,
                self.entry.as_deref().unwrap_or("*")
            ),
            (None, None) => self.ticket.clone(),
        }
    }

    pub fn matches(&self, fingerprint: &str, rule: &str, entry: &str) -> bool {
        match (&self.fingerprint, &self.rule) {
            (Some(f), _) => f.eq_ignore_ascii_case(fingerprint),
            (None, Some(r)) => {
                r.eq_ignore_ascii_case(rule)
                    && wildcard(self.entry.as_deref().unwrap_or("*"), entry)
            }
            (None, None) => false,
        }
    }

    /// Expired when the snapshot's date is after `expires`.
    pub fn expired(&self, today: &str) -> bool {
        today > self.expires.as_str()
    }

    pub fn days_open(&self, today: &str) -> Option<i64> {
        Some(days(today)? - days(self.created.as_deref()?)?)
    }
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date.
fn days(date: &str) -> Option<i64> {
    let mut it = date.get(..10)?.split('-');
    let (y, m, d): (i64, i64, i64) = (
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
        it.next()?.parse().ok()?,
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

fn is_date(s: &str) -> bool {
    s.len() == 10 && days(s).is_some()
}

/// Reads an exceptions file; every problem is reported with its position.
pub fn load_exceptions(path: &Path) -> Result<Vec<Exception>> {
    let text = crate::error::read_text(path)?;
    let name = path.display().to_string();
    let file: File = toml::from_str(&text).map_err(|e| {
        let hint = if e.message().contains("`expires`") {
            "an expiry date: an exception without one is rejected"
        } else {
            "[[exception]] tables with owner, reason, ticket, expires (YYYY-MM-DD), and fingerprint or rule (+ entry pattern)"
        };
        crate::diag::toml_error(name.clone(), &text, &e).expected(hint)
    })?;
    let mut diags = Vec::new();
    let mut out = Vec::new();
    for x in file.exception {
        let span = x.span();
        let x = x.into_inner();
        let at = |msg: &str, exp: &str| {
            Diagnostic::error(name.clone(), msg.to_string())
                .at_span(&text, span.start, span.start + 1)
                .expected(exp.to_string())
        };
        if x.fingerprint.is_none() && x.rule.is_none() {
            diags.push(at(
                "exception matches nothing",
                "`fingerprint = \"...\"`, or `rule = \"TC001\"` with an optional `entry` pattern",
            ));
        }
        if !is_date(&x.expires) {
            diags.push(at(
                &format!("`expires = \"{}\"` is not a date", x.expires),
                "YYYY-MM-DD",
            ));
        }
        if let Some(c) = x.created.as_deref().filter(|c| !is_date(c)) {
            diags.push(at(
                &format!("`created = \"{c}\"` is not a date"),
                "YYYY-MM-DD",
            ));
        }
        out.push(x);
    }
    if !diags.is_empty() {
        return Err(Error::Invalid(diags));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(days("1970-01-01"), Some(0));
        assert_eq!(days("2026-03-01").unwrap() - days("2026-02-28").unwrap(), 1);
        assert_eq!(days("2024-03-01").unwrap() - days("2024-02-28").unwrap(), 2);
        assert!(days("2026-13-01").is_none());
    }
}
