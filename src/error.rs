//! The library's error type. Every variant is something the user can act on; the binary
//! maps all of them to exit code 2.

use crate::diag::Diagnostic;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// One or more located problems in an input (snapshot, rule file, query).
    #[error("{}", render(.0))]
    Invalid(Vec<Diagnostic>),
    #[error("{0}")]
    Usage(String),
}

fn render(diags: &[Diagnostic]) -> String {
    let mut out = String::new();
    for (i, d) in diags.iter().enumerate() {
        if i > 0 {
            out.push_str("\n\n");
        }
        out.push_str(&d.to_string());
    }
    if diags.len() > 1 {
        out.push_str(&format!("\n\n{} problems found", diags.len()));
    }
    out
}

impl From<Diagnostic> for Error {
    fn from(d: Diagnostic) -> Self {
        Error::Invalid(vec![d])
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Turns an I/O error met reading `path` into the error that names it.
pub fn read_error(path: &std::path::Path) -> impl Fn(std::io::Error) -> Error + Copy + '_ {
    |source| Error::Read {
        path: path.to_path_buf(),
        source,
    }
}

/// A text file's contents, or the error that names it.
pub fn read_text(path: &std::path::Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(read_error(path))
}
