//! File envelopes: what wraps the items in each kind of export, and result paging.
//!
//! Recognised, by content: API-reference examples (`{"parameters", "responses": {"200":
//! {"body"}}}`), Resource Graph results (`{"data": [...], "skip_token"}` from `az graph
//! query`, `{"data", "$skipToken"}` from REST), ARM lists (`{"value": [...], "nextLink"}`),
//! AzureHound (`{"data": [...], "meta": {"type": "azure"}}`), plain arrays
//! (`Search-AzGraph`, `az ... list`), single objects, and CSV with a header row (Log
//! Analytics exports).

use crate::diag::{json_message, Diagnostic};
use serde_json::value::RawValue;
use serde_json::Value;
use std::path::Path;

pub(crate) struct Read<T> {
    pub shape: &'static str,
    pub items: Vec<T>,
    /// Whether the page promises a further page (`None`: the shape does not page).
    pub more: Option<bool>,
}

/// Files that can hold export data; documentation beside them is skipped.
pub(crate) fn looks_like_data(path: &Path) -> bool {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .unwrap_or_default();
    matches!(ext.as_str(), "json" | "jsonl" | "txt" | "csv")
}

/// Pages that promise a further page, and pages that are last, per file.
#[derive(Default)]
pub(crate) struct Paging {
    continued: Vec<String>,
    last_pages: usize,
}

impl Paging {
    pub fn note(&mut self, name: &str, more: Option<bool>) {
        match more {
            Some(true) => self.continued.push(name.to_string()),
            Some(false) => self.last_pages += 1,
            None => {}
        }
    }

    /// A result set is truncated when every page in the folder promises another one.
    pub fn problems(&self) -> Vec<Diagnostic> {
        if self.continued.is_empty() || self.last_pages > 0 {
            return Vec::new();
        }
        self.continued
            .iter()
            .map(|f| {
                Diagnostic::error(
                    f.clone(),
                    "this page says more results follow (skip_token / nextLink), but no last page is in the folder: the export is truncated",
                )
                .expected("every page of the query, the last one with skip_token null (az graph query --skip-token ...)")
            })
            .collect()
    }
}

/// Reads a file's items, handing each to `each` as soon as it is parsed, with its source
/// text where the file holds it whole. The envelope is read first with the items left as
/// raw text, then the items are parsed in parallel: a single export file can hold most of
/// an estate, and what the caller keeps of an item can be far smaller than its tree.
pub(crate) fn read<T: Send>(
    name: &str,
    bytes: &[u8],
    each: &(dyn Fn(Value, Option<&str>) -> T + Sync),
) -> Result<Read<T>, Box<Diagnostic>> {
    use rayon::prelude::*;
    let text = std::str::from_utf8(bytes).map_err(|e| {
        Box::new(
            Diagnostic::error(name, format!("not UTF-8 text (byte {})", e.valid_up_to()))
                .expected("a JSON or CSV export"),
        )
    })?;
    let text = text.trim_start_matches('\u{feff}');
    let parsed = |shape, values: Vec<Value>| Read {
        shape,
        items: values.into_iter().map(|v| each(v, None)).collect(),
        more: None,
    };
    if name.to_ascii_lowercase().ends_with(".csv") {
        return csv_rows(name, text).map(|rows| parsed("csv", rows));
    }
    // An envelope is read straight from the text; anything else (a single object, JSON
    // lines, a syntax error) goes the longer way, through the whole text as one value.
    let (shape, raw_items, more) = match top_envelope(text) {
        Some(found) => found,
        None => {
            let top: &RawValue = match serde_json::from_str(text) {
                Ok(top) => top,
                Err(e)
                    if name.to_ascii_lowercase().ends_with(".jsonl")
                        || e.line() > 1 && looks_like_lines(text) =>
                {
                    return json_lines(name, text).map(|lines| parsed("json-lines", lines));
                }
                Err(e) => return Err(Box::new(json_error(name, text, &e))),
            };
            envelope(top)
        }
    };
    let items = raw_items
        .par_iter()
        .map(|r| serde_json::from_str::<Value>(r.get()).map(|v| each(v, Some(r.get()))))
        .collect::<Result<Vec<T>, _>>()
        // Already checked as JSON with the file; kept for a reader that disagrees.
        .map_err(|e| Box::new(json_error(name, text, &e)))?;
    Ok(Read { shape, items, more })
}

fn looks_like_lines(text: &str) -> bool {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .take(2)
        .all(|l| l.trim_start().starts_with('{') && l.trim_end().ends_with('}'))
}

fn json_lines(name: &str, text: &str) -> Result<Vec<Value>, Box<Diagnostic>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line).map_err(|e| {
            Box::new(
                Diagnostic::error(name, format!("invalid JSON: {}", json_message(&e)))
                    .at_line(i + 1, e.column().max(1), line)
                    .expected("one JSON object per line"),
            )
        })?;
        out.push(v);
    }
    Ok(out)
}

fn json_error(name: &str, text: &str, e: &serde_json::Error) -> Diagnostic {
    let line = e.line().max(1);
    let line_text = text.lines().nth(line - 1).unwrap_or("");
    let hint = if e.classify() == serde_json::error::Category::Eof {
        " (is the file truncated?)"
    } else {
        ""
    };
    Diagnostic::error(name, format!("invalid JSON: {}{hint}", json_message(e)))
        .at_line(line, e.column().max(1), line_text)
        .expected("strict JSON (quoted keys, no trailing commas)")
}

/// An object with its values left as text.
type Object<'a> = indexmap::IndexMap<String, &'a RawValue>;

/// A file's top-level array or envelope object, read from its text without first taking
/// the whole text as one value; `None` for anything else.
fn top_envelope(text: &str) -> Option<(&'static str, Vec<&RawValue>, Option<bool>)> {
    match text.trim_start().as_bytes().first() {
        Some(b'[') => serde_json::from_str(text)
            .ok()
            .map(|items| ("array", items, None)),
        Some(b'{') => object_envelope(&serde_json::from_str::<Object>(text).ok()?),
        _ => None,
    }
}

/// Peels envelopes until the items are reached, leaving each as its text; the bool says
/// whether a further page was promised (`None`: the shape does not page).
fn envelope(raw: &RawValue) -> (&'static str, Vec<&RawValue>, Option<bool>) {
    top_envelope(raw.get()).unwrap_or_else(|| {
        let object = raw.get().trim_start().starts_with('{');
        (if object { "object" } else { "scalar" }, vec![raw], None)
    })
}

/// The items of an envelope object; `None` when the object is not one (it is an item).
fn object_envelope<'a>(
    map: &Object<'a>,
) -> Option<(&'static str, Vec<&'a RawValue>, Option<bool>)> {
    let object = |r: &&'a RawValue| serde_json::from_str::<Object<'a>>(r.get()).ok();
    let array = |k: &str| {
        map.get(k)
            .and_then(|r| serde_json::from_str::<Vec<&'a RawValue>>(r.get()).ok())
    };
    let present = |k: &str| {
        map.get(k)
            .is_some_and(|r| !matches!(r.get().trim(), "null" | "\"\""))
    };
    if let Some(responses) = map.get("responses").and_then(object) {
        let body = ["200", "201"]
            .iter()
            .find_map(|k| responses.get(*k))
            .or_else(|| responses.values().next())
            .and_then(object)
            .and_then(|r| r.get("body").copied());
        return Some(match body {
            Some(b) => {
                let (inner, items, more) = envelope(b);
                (api_shape(inner), items, more)
            }
            None => ("api-example", Vec::new(), None),
        });
    }
    let is_hound = map
        .get("meta")
        .and_then(object)
        .and_then(|m| {
            m.get("type")
                .and_then(|t| serde_json::from_str::<String>(t.get()).ok())
        })
        .is_some_and(|t| t.eq_ignore_ascii_case("azure"));
    if let Some(items) = array("data") {
        if is_hound {
            return Some(("azurehound", items, None));
        }
        let token = ["skip_token", "$skipToken", "skipToken"]
            .iter()
            .any(|k| present(k));
        return Some(("resource-graph", items, Some(token)));
    }
    array("value").map(|items| ("arm-list", items, Some(present("nextLink"))))
}

fn api_shape(inner: &'static str) -> &'static str {
    match inner {
        "arm-list" => "api-example/arm-list",
        "resource-graph" => "api-example/resource-graph",
        _ => "api-example",
    }
}

/// CSV rows as objects keyed by the header; cells holding JSON (Log Analytics exports
/// nest `Entities`, `ExtendedProperties`, `Properties` as JSON text) are parsed.
fn csv_rows(name: &str, text: &str) -> Result<Vec<Value>, Box<Diagnostic>> {
    check_quotes(name, text)?;
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = rdr
        .headers()
        .map_err(|e| Box::new(csv_error(name, text, &e)))?
        .clone();
    let mut out = Vec::new();
    for rec in rdr.records() {
        let rec = rec.map_err(|e| Box::new(csv_error(name, text, &e)))?;
        let mut obj = serde_json::Map::new();
        for (h, cell) in headers.iter().zip(rec.iter()) {
            let t = cell.trim();
            let v = if (t.starts_with('{') && t.ends_with('}'))
                || (t.starts_with('[') && t.ends_with(']'))
            {
                serde_json::from_str(t).unwrap_or_else(|_| Value::String(cell.to_string()))
            } else if t.is_empty() {
                Value::Null
            } else {
                Value::String(cell.to_string())
            };
            obj.insert(h.to_string(), v);
        }
        out.push(Value::Object(obj));
    }
    Ok(out)
}

/// The csv crate reads stray quotes leniently; an export with one is damaged, so it is
/// rejected here with the line and column of the quote.
fn check_quotes(name: &str, text: &str) -> Result<(), Box<Diagnostic>> {
    let b = text.as_bytes();
    let (mut line, mut line_start, mut i) = (1usize, 0usize, 0usize);
    let mut field_start = true;
    let mut open: Option<(usize, usize, usize)> = None; // (line, line_start, offset)
    let fail = |l: usize, ls: usize, at: usize, msg: &str| {
        let end = text[ls..].find('\n').map_or(text.len(), |e| ls + e);
        Diagnostic::error(name, format!("malformed CSV: {msg}"))
            .at_line(l, at - ls + 1, &text[ls..end])
            .expected("quotes only around whole cells, doubled inside them")
    };
    while i < b.len() {
        let c = b[i];
        if let Some((ol, ols, oat)) = open {
            if c == b'"' {
                if b.get(i + 1) == Some(&b'"') {
                    i += 2;
                    continue;
                }
                open = None;
                match b.get(i + 1) {
                    None | Some(b',') | Some(b'\n') | Some(b'\r') => {}
                    _ => {
                        return Err(Box::new(fail(
                            line,
                            line_start,
                            i,
                            "text after a closing quote",
                        )))
                    }
                }
                let _ = (ol, ols, oat);
            } else if c == b'\n' {
                line += 1;
                line_start = i + 1;
            }
            i += 1;
            continue;
        }
        match c {
            b'"' if field_start => open = Some((line, line_start, i)),
            b'"' => {
                return Err(Box::new(fail(
                    line,
                    line_start,
                    i,
                    "a quote inside an unquoted cell",
                )))
            }
            b',' => {
                field_start = true;
                i += 1;
                continue;
            }
            b'\n' => {
                line += 1;
                line_start = i + 1;
                field_start = true;
                i += 1;
                continue;
            }
            _ => {}
        }
        field_start = false;
        i += 1;
    }
    if let Some((ol, ols, oat)) = open {
        return Err(Box::new(fail(
            ol,
            ols,
            oat,
            "a quoted cell is never closed",
        )));
    }
    Ok(())
}

fn csv_error(name: &str, text: &str, e: &csv::Error) -> Diagnostic {
    let (line, msg) = match e.position() {
        Some(p) => (p.line() as usize, e.to_string()),
        None => (0, e.to_string()),
    };
    let d = Diagnostic::error(name, format!("malformed CSV: {msg}"))
        .expected("RFC 4180 CSV with a header row (quotes doubled inside quoted cells)");
    match text.lines().nth(line.saturating_sub(1)) {
        Some(l) if line > 0 => d.at_line(line, 1, l),
        _ => d,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The envelope of a value, its items as text.
    fn unwrap(v: Value) -> (&'static str, Vec<String>, Option<bool>) {
        let text = v.to_string();
        let raw: &RawValue = serde_json::from_str(&text).unwrap();
        let (shape, items, more) = envelope(raw);
        (
            shape,
            items.iter().map(|r| r.get().to_string()).collect(),
            more,
        )
    }

    #[test]
    fn envelopes() {
        let (s, items, t) = unwrap(
            serde_json::json!({"responses": {"200": {"body": {"value": [1, 2], "nextLink": null}}}}),
        );
        assert_eq!(
            (s, items.len(), t),
            ("api-example/arm-list", 2, Some(false))
        );
        let (s, items, t) =
            unwrap(serde_json::json!({"data": [1], "count": 1, "skip_token": "abc"}));
        assert_eq!((s, items.len(), t), ("resource-graph", 1, Some(true)));
        let (s, items, _) =
            unwrap(serde_json::json!({"data": [1, 2, 3], "meta": {"type": "azure", "version": 5}}));
        assert_eq!((s, items.len()), ("azurehound", 3));
        let (s, items, _) = unwrap(serde_json::json!([{"a": 1}]));
        assert_eq!((s, items.len()), ("array", 1));
    }

    #[test]
    fn truncated_paging_is_a_problem() {
        let mut p = Paging::default();
        p.note(
            "a.json",
            read("a.json", br#"{"data": [], "skip_token": "x"}"#, &|v, _| v)
                .unwrap()
                .more,
        );
        assert_eq!(p.problems().len(), 1);
        p.note(
            "b.json",
            read("b.json", br#"{"data": [], "skip_token": null}"#, &|v, _| v)
                .unwrap()
                .more,
        );
        assert!(p.problems().is_empty());
    }

    #[test]
    fn csv_with_json_cells_and_bad_quotes() {
        let ok = "AlertName,Entities\nx,\"[{\"\"a\"\":1}]\"\n";
        let rows = csv_rows("a.csv", ok).unwrap();
        assert_eq!(rows[0]["Entities"][0]["a"], 1);
        let bad = "A,B\n1,2\n3,\"4\n";
        let d = csv_rows("b.csv", bad).unwrap_err();
        assert!(d.message.contains("malformed CSV"), "{}", d.message);
    }
}
