//! Diagnostics that point into a file: `file:line:col`, the offending line, a caret under
//! the offending text, and what was expected. Every input problem a user can cause is
//! reported through this one type, so the CLI renders them all the same way.

use std::fmt;

/// How bad a problem is: errors stop the run (exit 2), warnings are counted and listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// One problem at one place in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// The file as the user named it (or `<query>` for a pattern typed on the command line).
    pub file: String,
    /// 1-based; 0 when the problem concerns the whole file.
    pub line: usize,
    /// 1-based byte column; 0 when unknown.
    pub col: usize,
    /// How many bytes the caret underlines (at least one when a column is known).
    pub width: usize,
    pub message: String,
    /// The text of the offending line, for the caret display.
    pub source_line: Option<String>,
    /// What would have been accepted, shown under the caret.
    pub expected: Option<String>,
}

impl Diagnostic {
    pub fn error(file: impl Into<String>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            file: file.into(),
            line: 0,
            col: 0,
            width: 0,
            message: message.into(),
            source_line: None,
            expected: None,
        }
    }

    /// Places the diagnostic at a line and column of `text` (the whole file's text).
    pub fn at_line(mut self, line: usize, col: usize, line_text: &str) -> Self {
        self.line = line;
        self.col = col;
        self.width = self.width.max(1);
        self.source_line = Some(line_text.trim_end_matches(['\n', '\r']).to_string());
        self
    }

    /// Places the diagnostic at a byte span of `text`, computing line and column.
    pub fn at_span(mut self, text: &str, start: usize, end: usize) -> Self {
        let start = start.min(text.len());
        let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
        let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
        let line = text[..start].bytes().filter(|b| *b == b'\n').count() + 1;
        self.width = end.clamp(start + 1, line_end.max(start + 1)) - start;
        let line_text = &text[line_start..line_end];
        self = self.at_line(line, start - line_start + 1, line_text);
        self
    }

    pub fn expected(mut self, what: impl Into<String>) -> Self {
        self.expected = Some(what.into());
        self
    }

    pub fn warning(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }

    /// `file:line:col`, leaving out what is unknown.
    pub fn location(&self) -> String {
        match (self.line, self.col) {
            (0, _) => self.file.clone(),
            (l, 0) => format!("{}:{l}", self.file),
            (l, c) => format!("{}:{l}:{c}", self.file),
        }
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        writeln!(f, "{level}: {}", self.message)?;
        write!(f, "  --> {}", self.location())?;
        if let (Some(src), true) = (&self.source_line, self.line > 0) {
            let num = self.line.to_string();
            let pad = " ".repeat(num.len());
            // Long JSON lines are cut around the column so the caret stays on screen.
            let (shown, col) = window(src, self.col.max(1), 100);
            write!(f, "\n{pad} |\n{num} | {shown}")?;
            if self.col > 0 {
                let width = self
                    .width
                    .max(1)
                    .min(shown.len().saturating_sub(col - 1).max(1));
                write!(f, "\n{pad} | {}{}", " ".repeat(col - 1), "^".repeat(width))?;
                if let Some(exp) = &self.expected {
                    write!(f, " expected {exp}")?;
                }
            }
        } else if let Some(exp) = &self.expected {
            write!(f, "\n  = expected {exp}")?;
        }
        Ok(())
    }
}

/// A serde_json error's message without the " at line L column C" it appends: the
/// position is shown by the diagnostic itself.
pub fn json_message(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg,
    }
}

/// A TOML error in `text`, with a caret under the span it names; the caller says what was
/// expected.
pub fn toml_error(file: impl Into<String>, text: &str, e: &toml::de::Error) -> Diagnostic {
    let span = e.span().unwrap_or(0..0);
    Diagnostic::error(file, e.message().trim().to_string()).at_span(text, span.start, span.end)
}

/// Cuts `line` to at most `max` bytes around byte column `col` (1-based), returning the
/// cut and the column within it.
fn window(line: &str, col: usize, max: usize) -> (String, usize) {
    if line.len() <= max {
        return (line.to_string(), col);
    }
    let mut start = col
        .saturating_sub(max / 2)
        .min(line.len().saturating_sub(max));
    while !line.is_char_boundary(start) {
        start -= 1;
    }
    let mut end = (start + max).min(line.len());
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    let prefix = if start > 0 { "…" } else { "" };
    let shown = format!("{prefix}{}", &line[start..end]);
    (shown, col - start + prefix.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_caret_under_span() {
        let text = "a = 1\nseverity = \"hgih\"\n";
        let start = text.find("\"hgih\"").unwrap();
        let d = Diagnostic::error("rules/x.toml", "unknown severity")
            .at_span(text, start, start + 6)
            .expected("one of low, medium, high, critical");
        let s = d.to_string();
        assert!(s.contains("--> rules/x.toml:2:12"), "{s}");
        assert!(s.contains("2 | severity = \"hgih\""), "{s}");
        assert!(
            s.contains("  |            ^^^^^^ expected one of low, medium, high, critical"),
            "{s}"
        );
    }
}
